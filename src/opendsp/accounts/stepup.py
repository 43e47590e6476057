"""Step-up: the owner proves it again (password or authenticator code) before a sensitive act.

A login counts as recent for ``OPENDSP_STEPUP_MINUTES`` after the session was
opened (with password and second factor, or through the State's portal) or
after the last step-up. Wrong answers count as failed logins (``guard``), so a
stolen session cannot be used to guess the password.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from opendsp.accounts import guard, passwords
from opendsp.accounts.models import Account, AccountState, WebSession
from opendsp.accounts.services import (
    Client,
    count_login_failure,
    trace_refused_attempt,
    held,
    owner_actor,
    refuse,
    trace,
    verify_second_factor,
)
from opendsp.platform import Platform
from opendsp.settings import Settings


def last_proof(web: WebSession) -> datetime:
    return max(web.created_at, web.reauthenticated_at or web.created_at)


def is_recent(web: WebSession, *, now: datetime, settings: Settings) -> bool:
    return now - last_proof(web) <= timedelta(minutes=settings.stepup_minutes)


def confirm(
    *, session: Session, platform: Platform, web_session_id: uuid.UUID, password: str, code: str, client: Client
) -> str:
    """The password, or a fresh authenticator code; returns which. Refusals are counted and traced."""
    now = platform.clock.now()
    web = session.get(WebSession, web_session_id)
    account = session.get(Account, web.account_id) if web else None
    if web is None or account is None or account.state is not AccountState.active:
        raise refuse("flow_expired")
    subject, source = guard.Subject.of(account, account.login), client.source(account.id)
    until = guard.held_until(session, now=now, subject=subject, source=source)
    if until is not None:
        trace_refused_attempt(session, platform, account, "account.stepup", "held", client, until=until.isoformat())
        raise held(until)
    if code.strip() and account.totp_secret is not None:
        verify_second_factor(session=session, platform=platform, account=account, code=code, client=client,
                             subject=subject, source=source, action="account.stepup", recovery=False)
        method = "totp"
    elif password and account.password_hash is not None:
        if not passwords.secret_matches(platform.settings, account.password_hash, passwords.normalise(password)):
            count_login_failure(session, platform, account, subject, source, "account.stepup", "wrong_password", client)
            raise refuse("wrong_stepup")
        method = "password"
    else:
        raise refuse("wrong_stepup")
    web.reauthenticated_at = now
    session.flush()
    trace(session, platform, account, "account.stepup", actor=owner_actor(session, account), method=method)
    return method

"""Web sessions: opened after strong authentication, ended by time-outs, logout or the helpdesk.

The browser holds a random token; the database holds its SHA-256, so a copy
of the database opens no session. A session ends after ``session_idle_minutes``
without a request and ``session_absolute_hours`` after login, whichever
comes first.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from opendsp.accounts import codes
from opendsp.accounts.models import Account, AccountState, WebSession
from opendsp.actors import Actor
from opendsp.platform import Platform


def open_session(
    *, session: Session, platform: Platform, account: Account, method: str, organisation_id: uuid.UUID | None = None
) -> tuple[str, WebSession]:
    from opendsp.accounts.services import owner_actor, trace

    now = platform.clock.now()
    token = codes.new_token(platform.randomness)
    web = WebSession(
        token_hash=codes.token_digest(token),
        account_id=account.id,
        method=method,
        csrf_token=codes.new_token(platform.randomness),
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(hours=platform.settings.session_absolute_hours),
        organisation_id=organisation_id,
    )
    session.add(web)
    session.flush()
    trace(session, platform, account, "session.open", actor=owner_actor(session, account), method=method,
          web_session=str(web.id))
    return token, web


def resume(*, session: Session, platform: Platform, token: str | None) -> tuple[WebSession, Account] | None:
    """The live session behind a cookie, touched; None when there is none or it has timed out."""
    if not token:
        return None
    web = session.scalars(select(WebSession).where(WebSession.token_hash == codes.token_digest(token))).first()
    if web is None or web.ended_at is not None:
        return None
    now = platform.clock.now()
    account = session.get(Account, web.account_id)
    idle = timedelta(minutes=platform.settings.session_idle_minutes)
    if account is None or account.state is not AccountState.active or now >= web.expires_at or now - web.last_seen_at >= idle:
        web.ended_at = now
        session.flush()
        return None
    web.last_seen_at = now
    session.flush()
    return web, account


def end_session(*, session: Session, platform: Platform, web: WebSession, actor: Actor) -> None:
    from opendsp.accounts.services import trace

    web.ended_at = platform.clock.now()
    account = session.get(Account, web.account_id)
    assert account is not None
    session.flush()
    trace(session, platform, account, "session.close", actor=actor, web_session=str(web.id))


def end_all_sessions(*, session: Session, platform: Platform, account: Account, actor: Actor) -> int:
    """Log out everywhere: every open session of the account ends now."""
    from opendsp.accounts.services import trace

    now = platform.clock.now()
    open_sessions = list(
        session.scalars(select(WebSession).where(WebSession.account_id == account.id, WebSession.ended_at.is_(None)))
    )
    for web in open_sessions:
        web.ended_at = now
    session.flush()
    trace(session, platform, account, "session.close_all", actor=actor, sessions=len(open_sessions))
    return len(open_sessions)

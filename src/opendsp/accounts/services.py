"""The life of an account: creation, activation, login, lockout and the helpdesk's acts.

Every function is keyword-only, flushes and never commits: the edge commits.
Every act is traced — on the person's record chain when it concerns a holder,
else on the platform chain. A wrong secret is counted and traced by a writer
that is registered with the platform (``PENDING_REFUSALS``): if the request
rolls back, as it does when the refusal is raised, the count and the trace
are written again in a transaction of their own, so brute force is never
forgotten.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from opendsp import actors
from opendsp.access.services import RecordAccess
from opendsp.accounts import codes, guard, passwords, totp
from opendsp.accounts.identifiers import InvalidNationalNumber, national_number_from_input
from opendsp.accounts.models import (
    Account,
    AccountKind,
    AccountState,
    ActivationCode,
    RecoveryCode,
    StaffRole,
)
from opendsp.accounts.sealing import seal, unseal
from opendsp.actors import Actor
from opendsp.locale import N_
from opendsp.persons.models import Person
from opendsp.platform import PENDING_REFUSALS, Platform
from opendsp.professionals.models import Professional
from opendsp.records.models import RecordState
from opendsp.records.services import record_of, write_trace
from opendsp.trace.vocabulary import Outcome, RequestContext

RECOVERY_CODES = 10


class AccountRefused(Exception):
    """A refusal: ``code`` for programs and tests, ``message`` (a catalogue id) for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        # Values for the message's placeholders (e.g. ``until``), formatted by the page.
        self.params: dict[str, Any] = {}


MESSAGES = {
    "wrong_activation": N_("The number or the activation code is not correct."),
    "code_used": N_("This activation code has already been used."),
    "code_expired": N_("This activation code has expired: ask the helpdesk for a new letter."),
    "already_active": N_("This account is already active: log in instead."),
    "closed": N_("This account is closed. The helpdesk can help you."),
    "wrong_login": N_("The identifier or the password is not correct."),
    "held": N_("Too many failed attempts from here: wait until %(until)s, then try again. If this is your "
               "account, the e-mail we sent you holds a link to log in at once; the helpdesk can help too."),
    "locked": N_("Too many failed attempts: the account is locked for a while. The helpdesk can unlock it."),
    "not_active": N_("This account is not active yet: activate it with the code from your letter."),
    "wrong_second_factor": N_("The code is not correct, has expired or was already used."),
    "wrong_stepup": N_("This is not correct: enter your password, or a new code of your authenticator app."),
    "wrong_enrolment_code": N_("The code from the authenticator app is not correct: check the app and try again."),
    "contact_needed": N_("Give an e-mail address or a mobile number."),
    "bad_email": N_("This e-mail address is not valid."),
    "bad_mobile": N_("A mobile number has 8 to 15 digits, starting with + and the country code."),
    "passwords_differ": N_("The two passwords are not the same."),
    "flow_expired": N_("This step took too long: start again."),
    "federation_mismatch": N_("No account can be opened for this identity."),
}


def refuse(code: str) -> AccountRefused:
    return AccountRefused(code, MESSAGES[code])


@dataclass(frozen=True)
class Client:
    """What the edge knows about who is at the other end."""

    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None
    # The browser's device id, and the accounts that logged in from it (``web/devices.py``).
    device: str | None = None
    device_accounts: frozenset[str] = frozenset()

    def source(self, account_id: uuid.UUID | None) -> guard.Source:
        """Where failed logins for ``account_id`` from this client are counted."""
        return guard.Source.of(address=self.ip, device=self.device, device_accounts=self.device_accounts,
                               account_id=account_id)

    @property
    def request(self) -> RequestContext:
        return RequestContext(request_id=self.request_id, client_software=(self.user_agent or None) and self.user_agent[:200])


@dataclass
class Activated:
    account: Account
    recovery_codes: list[str] = field(default_factory=list)


# -- finding and creating accounts ---------------------------------------------------------


def find(session: Session, *, kind: AccountKind, login: str) -> Account | None:
    return session.scalars(select(Account).where(Account.kind == kind, Account.login == login)).first()


def find_for_login(session: Session, identifier: str) -> Account | None:
    """Persons type their national number; professionals their licence number."""
    try:
        number = national_number_from_input(identifier)
    except InvalidNationalNumber:
        return find(session, kind=AccountKind.professional, login=identifier.strip())
    return find(session, kind=AccountKind.person, login=number)


def account_of_person(*, session: Session, platform: Platform, person: Person) -> Account:
    """Every insured person has an account; it is created (inactive) the first time it is needed."""
    account = session.scalars(select(Account).where(Account.person_id == person.id)).first()
    if account is None:
        account = Account(
            kind=AccountKind.person,
            login=person.national_number,
            person_id=person.id,
            display_name=person.display_name,
            roles=[],
            state=AccountState.created,
            email=person.email,
            mobile=person.mobile,
            failures=0,
            created_at=platform.clock.now(),
        )
        session.add(account)
        session.flush()
    return account


def account_of_professional(*, session: Session, platform: Platform, professional: Professional) -> Account:
    account = session.scalars(select(Account).where(Account.professional_id == professional.id)).first()
    if account is None:
        account = Account(
            kind=AccountKind.professional,
            login=professional.licence_number,
            professional_id=professional.id,
            display_name=professional.display_name,
            roles=[],
            state=AccountState.created,
            failures=0,
            created_at=platform.clock.now(),
        )
        session.add(account)
        session.flush()
    return account


def register_staff(
    *, session: Session, platform: Platform, actor: Actor, username: str, display_name: str, roles: list[str]
) -> Account:
    username = username.strip().lower()
    if not re.fullmatch(r"[a-z][a-z0-9._-]{1,63}", username):
        raise ValueError("a user name has 2 to 64 lower-case letters, digits, dots, dashes or underscores")
    unknown = set(roles) - {r.value for r in StaffRole}
    if unknown or not roles:
        raise ValueError(f"roles are among {', '.join(r.value for r in StaffRole)}")
    if find(session, kind=AccountKind.staff, login=username):
        raise ValueError(f"the user name {username} is taken")
    account = Account(
        kind=AccountKind.staff,
        login=username,
        display_name=display_name.strip() or username,
        roles=sorted(set(roles)),
        state=AccountState.created,
        failures=0,
        created_at=platform.clock.now(),
    )
    session.add(account)
    session.flush()
    trace(session, platform, account, "staff.register", actor=actor, roles=account.roles)
    return account


# -- tracing -------------------------------------------------------------------------------


def owner_actor(session: Session, account: Account) -> Actor:
    """The account's owner, as the actor of the acts they do themselves."""
    if account.person_id:
        person = session.get(Person, account.person_id)
        assert person is not None
        return actors.holder(person)
    if account.professional_id:
        professional = session.get(Professional, account.professional_id)
        assert professional is not None
        return actors.professional(professional, organisation=None)
    return actors.agency(str(account.id), account.display_name, frozenset(account.roles))


def _chain(session: Session, account: Account) -> uuid.UUID | None:
    record = record_of(session, account.person_id) if account.person_id else None
    return record.id if record else None


def trace(
    session: Session,
    platform: Platform,
    account: Account,
    action: str,
    *,
    actor: Actor | None = None,
    outcome: Outcome = Outcome.permitted,
    reason: str | None = None,
    client: Client = Client(),
    **context: Any,
) -> None:
    """One entry about ``account``. Without an actor, the act is an unauthenticated attempt."""
    details = {"account": str(account.id), **context}
    if outcome is not Outcome.permitted and client.ip:
        details["client"] = client.ip
    write_trace(session, platform, action, actor=actor, record_id=_chain(session, account), outcome=outcome,
                reason=reason, request=client.request, context=details)


def _survive_rollback(session: Session, write: Callable[[Session], None]) -> None:
    """Write now, and again in a transaction of its own if this one rolls back."""
    write(session)
    session.info.setdefault(PENDING_REFUSALS, []).append(write)


def _refused_unknown(session: Session, platform: Platform, action: str, client: Client, **context: Any) -> None:
    """A secret presented for nobody: traced on the platform chain, without what was typed."""

    def write(s: Session) -> None:
        write_trace(s, platform, action, actor=None, outcome=Outcome.refused, reason="unknown_account",
                    request=client.request, context={"client": client.ip, **context})

    _survive_rollback(session, write)


def is_locked(account: Account, now: datetime) -> bool:
    """A lock set by the agency (``locked_until``); failed logins hold back sources instead (``guard``)."""
    return account.locked_until is not None and account.locked_until > now


# -- activation codes ----------------------------------------------------------------------


def issue_activation_code(*, session: Session, platform: Platform, account: Account, actor: Actor) -> str:
    """A new single-use code; the codes issued before it stop working. Only its hash is kept."""
    now = platform.clock.now()
    for old in _open_codes(session, account):
        old.revoked_at = now
    code = codes.new_activation_code(platform.randomness)
    session.add(
        ActivationCode(
            account_id=account.id,
            code_hash=passwords.hash_secret(platform.settings, codes.normalise(code)),
            created_at=now,
            expires_at=now + timedelta(days=platform.settings.activation_code_days),
            failures=0,
        )
    )
    session.flush()
    trace(session, platform, account, "account.activation_code.issue", actor=actor)
    return code


def _open_codes(session: Session, account: Account) -> list[ActivationCode]:
    return list(
        session.scalars(
            select(ActivationCode).where(
                ActivationCode.account_id == account.id,
                ActivationCode.used_at.is_(None),
                ActivationCode.revoked_at.is_(None),
            )
        )
    )


# Codes of an account a typed code is compared with: the newest few, so that a reused or replaced code gets a
# precise answer. Always this many comparisons, whatever the account has (or whether it exists).
ACTIVATION_CODES_CHECKED = 3


def _matching_code(settings: Any, candidates: list[ActivationCode], typed: str) -> ActivationCode | None:
    matched = None
    for slot in range(ACTIVATION_CODES_CHECKED):
        candidate = candidates[slot] if slot < len(candidates) else None
        if passwords.secret_matches(settings, candidate.code_hash if candidate else None, typed) and matched is None:
            matched = candidate
    return matched


def _activation_account(session: Session, kind: AccountKind, identifier: str) -> Account | None:
    if kind is AccountKind.person:
        try:
            return find(session, kind=kind, login=national_number_from_input(identifier))
        except InvalidNationalNumber:
            return None
    return find(session, kind=kind, login=identifier.strip().lower() if kind is AccountKind.staff else identifier.strip())


def check_activation_code(
    *, session: Session, platform: Platform, kind: AccountKind, identifier: str, code: str, client: Client
) -> tuple[Account, ActivationCode]:
    """Step 1 of activation: the identifier and the code from the letter.

    Only the right code earns a precise answer (used, expired, account closed or already active): without
    it, every refusal reads "not correct" after the same work, so that nobody learns whether a number has
    an account, or whether it is active. Wrong codes hold back their source as failed logins do
    (``accounts/guard.py``), for unknown numbers alike; the code itself is never blocked by a stranger.
    """
    now = platform.clock.now()
    settings = platform.settings
    account = _activation_account(session, kind, identifier)
    subject = _login_subject(account, identifier, purpose="activation")
    source = client.source(account.id if account else None)
    until = guard.held_until(session, now=now, subject=subject, source=source)
    if until is not None:
        _matching_code(settings, [], codes.normalise(code))  # the same work as any other answer
        trace_refused_attempt(session, platform, account, "account.activation", "held", client,
                              until=until.isoformat())
        raise held(until)
    issued = [] if account is None else list(
        session.scalars(
            select(ActivationCode).where(ActivationCode.account_id == account.id).order_by(ActivationCode.created_at.desc())
        )
    )
    matched = _matching_code(settings, issued[:ACTIVATION_CODES_CHECKED], codes.normalise(code))
    if account is None or matched is None:
        reason = "unknown_account" if account is None else "wrong_code"
        count_login_failure(session, platform, account, subject, source, "account.activation", reason, client)
        raise refuse("wrong_activation")

    account_id = account.id  # the closure below may run after a rollback has expired ``account``

    def refused(reason: str, message: str) -> AccountRefused:
        def write(s: Session) -> None:
            row = s.get(Account, account_id)
            assert row is not None
            trace(s, platform, row, "account.activation", outcome=Outcome.refused, reason=reason, client=client)

        _survive_rollback(session, write)
        return refuse(message)

    if account.state is AccountState.closed:
        raise refused("closed", "closed")
    if account.state is AccountState.active or matched.used_at is not None:
        raise refused("code_used", "code_used")
    if matched.revoked_at is not None:  # replaced by a newer letter
        raise refused("code_replaced", "wrong_activation")
    if matched.expires_at <= now:
        raise refused("code_expired", "code_expired")
    guard.forget_source(session, subject=subject, source=source)
    trace(session, platform, account, "account.activation.code_accepted", actor=owner_actor(session, account))
    return account, matched


def pending_totp_secret(*, session: Session, platform: Platform, account: Account) -> str:
    """The secret shown for enrolment: made once, kept sealed until the first code confirms it."""
    if account.totp_pending is None:
        account.totp_pending = seal(platform, account.id, totp.new_secret(platform.randomness))
        session.flush()
    return unseal(platform, account.id, account.totp_pending)


def _contact(email: str | None, mobile: str | None) -> tuple[str | None, str | None]:
    email = (email or "").strip() or None
    mobile = re.sub(r"[\s./()-]", "", mobile or "") or None
    if not email and not mobile:
        raise refuse("contact_needed")
    if email and not re.fullmatch(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}", email):
        raise refuse("bad_email")
    if mobile and not re.fullmatch(r"\+[1-9][0-9]{7,14}", mobile):
        raise refuse("bad_mobile")
    return email, mobile


def personal_words(session: Session, account: Account, email: str | None = None) -> list[str]:
    words = [account.login, *account.display_name.split(), *(email or "").split("@")[:1]]
    if account.person_id:
        person = session.get(Person, account.person_id)
        if person:
            words += [person.given_name, person.family_name, person.birth_date.strftime("%Y%m%d")]
    return [w for w in words if w]


def check_new_password(session: Session, account: Account, password: str, confirmation: str, email: str | None) -> str:
    if password != confirmation:
        raise refuse("passwords_differ")
    problems = passwords.problems(password, personal=personal_words(session, account, email))
    if problems:
        raise AccountRefused("weak_password", problems[0])
    return passwords.normalise(password)


def complete_activation(
    *,
    session: Session,
    platform: Platform,
    account_id: uuid.UUID,
    code_id: uuid.UUID,
    email: str | None,
    mobile: str | None,
    password: str,
    confirmation: str,
    totp_code: str,
    client: Client,
) -> Activated:
    """Step 2: contact, password and the second factor; the code is spent and the record activated."""
    now = platform.clock.now()
    account = session.get(Account, account_id)
    code = session.get(ActivationCode, code_id)
    if account is None or code is None or code.account_id != account.id:
        raise refuse("flow_expired")
    if code.used_at is not None:
        raise refuse("code_used")
    if code.revoked_at is not None or code.expires_at <= now:
        raise refuse("code_expired")
    email, mobile = _contact(email, mobile)
    secret_password = check_new_password(session, account, password, confirmation, email)
    if account.totp_pending is None:
        raise refuse("flow_expired")
    secret = unseal(platform, account.id, account.totp_pending)
    step = totp.matching_step(secret, totp_code, now=now, last_step=None)
    if step is None:
        raise refuse("wrong_enrolment_code")
    code.used_at = now
    _activate(session, platform, account, email=email, mobile=mobile)
    account.password_hash = passwords.hash_secret(platform.settings, secret_password)
    account.password_set_at = now
    account.totp_secret, account.totp_pending, account.totp_last_step = account.totp_pending, None, step
    recovery = new_recovery_codes(session=session, platform=platform, account=account)
    trace(session, platform, account, "account.activate", actor=owner_actor(session, account), method="letter")
    return Activated(account=account, recovery_codes=recovery)


def activate_federated(
    *, session: Session, platform: Platform, account: Account, email: str | None, mobile: str | None, subject: str
) -> Account:
    """Activation by a person the State's portal has just authenticated strongly: no letter needed."""
    email, mobile = _contact(email, mobile)
    if account.state is AccountState.closed:
        raise refuse("closed")
    if account.state is AccountState.active:
        raise refuse("already_active")
    for code in _open_codes(session, account):
        code.revoked_at = platform.clock.now()  # the letter's code, if one was sent, is no longer needed
    match_federated_subject(session=session, platform=platform, account=account, subject=subject, client=Client())
    _activate(session, platform, account, email=email, mobile=mobile)
    trace(session, platform, account, "account.activate", actor=owner_actor(session, account), method="federated")
    return account


def match_federated_subject(*, session: Session, platform: Platform, account: Account, subject: str,
                            client: Client) -> None:
    """The provider's subject ("issuer sub") must be the one linked to the account; the first login links it.

    The national-number claim alone does not make the link: once linked, another subject at the provider
    (another account there, or a claim copied onto it) is refused and traced, and the link never changes.
    """
    if account.federated_subject == subject:
        return
    taken = session.scalars(select(Account.id).where(Account.federated_subject == subject, Account.id != account.id)).first()
    if account.federated_subject is None and taken is None:
        account.federated_subject = subject
        session.flush()
        trace(session, platform, account, "account.federation.link", actor=owner_actor(session, account))
        return
    trace_refused_attempt(session, platform, account, "account.login", "federation:subject_mismatch", client,
                          method="federated")
    raise refuse("federation_mismatch")


def _activate(session: Session, platform: Platform, account: Account, *, email: str | None, mobile: str | None) -> None:
    account.email, account.mobile = email or account.email, mobile or account.mobile
    account.state = AccountState.active
    account.activated_at = platform.clock.now()
    account.failures, account.locked_until = 0, None
    if account.person_id:
        person = session.get(Person, account.person_id)
        record = record_of(session, account.person_id)
        assert person is not None
        if record is not None and record.state is RecordState.created:
            RecordAccess(session=session, platform=platform, actor=actors.holder(person)).activate(record.id)
    session.flush()


def new_recovery_codes(*, session: Session, platform: Platform, account: Account) -> list[str]:
    """Fresh recovery codes, shown once; the previous ones stop working."""
    for old in session.scalars(select(RecoveryCode).where(RecoveryCode.account_id == account.id)):
        session.delete(old)
    fresh = [codes.new_recovery_code(platform.randomness) for _ in range(RECOVERY_CODES)]
    for code in fresh:
        session.add(
            RecoveryCode(
                account_id=account.id,
                code_hash=passwords.hash_secret(platform.settings, codes.normalise(code)),
                created_at=platform.clock.now(),
            )
        )
    session.flush()
    return fresh


# -- login ---------------------------------------------------------------------------------


def _login_subject(account: Account | None, identifier: str, *, purpose: str = "login") -> guard.Subject:
    try:
        typed = national_number_from_input(identifier)
    except InvalidNationalNumber:
        typed = identifier
    return guard.Subject.of(account, typed, purpose=purpose)


def check_password(
    *, session: Session, platform: Platform, kind: AccountKind | None, identifier: str, password: str, client: Client
) -> Account:
    """Step 1 of login. One answer, after one password check, for an unknown identifier, a wrong password, a
    closed account or one not activated yet. Failures are counted per identifier and source, and a source
    that failed too often waits (``accounts/guard.py``): unknown identifiers are held back alike.
    """
    now = platform.clock.now()
    settings = platform.settings
    if kind is None:
        account = find_for_login(session, identifier)
    else:
        account = _activation_account(session, kind, identifier)
    if account is not None and account.kind is AccountKind.staff and kind is not AccountKind.staff:
        account = None
    subject = _login_subject(account, identifier)
    source = client.source(account.id if account else None)
    until = guard.held_until(session, now=now, subject=subject, source=source)
    if until is not None:
        passwords.secret_matches(settings, None, password)  # the same work as any other answer
        trace_refused_attempt(session, platform, account, "account.login", "held", client, until=until.isoformat())
        raise held(until)
    right = passwords.secret_matches(settings, account.password_hash if account else None, passwords.normalise(password))
    if account is None or not right or account.state is not AccountState.active or not account.has_second_factor:
        reason = (
            "unknown_account" if account is None else "closed" if account.state is AccountState.closed
            else "wrong_password" if not right else "not_active"
        )
        count_login_failure(session, platform, account, subject, source, "account.login", reason, client)
        raise refuse("wrong_login")
    assert account.password_hash is not None
    if passwords.hasher(settings).check_needs_rehash(account.password_hash):
        account.password_hash = passwords.hash_secret(settings, passwords.normalise(password))
    trace(session, platform, account, "account.login.password", actor=owner_actor(session, account))
    return account


def held(until: datetime) -> AccountRefused:
    refusal = refuse("held")
    refusal.params = {"until": until}
    return refusal


def trace_refused_attempt(
    session: Session, platform: Platform, account: Account | None, action: str, reason: str, client: Client,
    **context: Any,
) -> None:
    """A refusal that counts nothing, traced even if the request rolls back."""
    if account is None:
        _refused_unknown(session, platform, action, client, held=reason, **context)
        return
    account_id = account.id

    def write(s: Session) -> None:
        row = s.get(Account, account_id)
        assert row is not None
        trace(s, platform, row, action, outcome=Outcome.refused, reason=reason, client=client, **context)

    _survive_rollback(session, write)


def count_login_failure(
    session: Session, platform: Platform, account: Account | None, subject: guard.Subject, source: guard.Source,
    action: str, reason: str, client: Client,
) -> None:
    """One more failed login for this identifier from this source (and in total), traced; a hold may start."""
    account_id = account.id if account else None

    def write(s: Session) -> None:
        started = guard.count_failure(s, platform=platform, subject=subject, source=source)
        row = s.get(Account, account_id) if account_id else None
        if row is None:
            write_trace(s, platform, action, actor=None, outcome=Outcome.refused, reason=reason,
                        request=client.request, context={"client": client.ip})
            return
        trace(s, platform, row, action, outcome=Outcome.refused, reason=reason, client=client, source=source.name)
        if started is not None:
            until = guard.held_until(s, now=platform.clock.now(), subject=subject, source=source)
            trace(s, platform, row, "account.hold", outcome=Outcome.refused, reason="too_many_failures",
                  client=client, source=source.name, until=until.isoformat() if until else None)
        s.flush()

    _survive_rollback(session, write)


def claim_totp_step(session: Session, account: Account, step: int) -> bool:
    """Record ``step`` as the last one used, only if it is newer: a compare-and-set in one UPDATE.

    Two logins with the same code at the same moment cannot both pass: on PostgreSQL the second UPDATE
    waits for the first transaction and then finds the condition false; SQLite has one writer at a time.
    """
    claimed = session.execute(
        update(Account)
        .where(Account.id == account.id, or_(Account.totp_last_step.is_(None), Account.totp_last_step < step))
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed == 1:
        set_committed_value(account, "totp_last_step", step)
    return claimed == 1


def check_second_factor(
    *, session: Session, platform: Platform, account_id: uuid.UUID, code: str, client: Client
) -> str:
    """Step 2 of login: a code of the authenticator app (never twice) or a recovery code (once each).

    Returns how the person authenticated.
    """
    now = platform.clock.now()
    account = session.get(Account, account_id)
    if account is None or account.totp_secret is None or account.state is not AccountState.active:
        raise refuse("flow_expired")
    subject, source = guard.Subject.of(account, account.login), client.source(account.id)
    until = guard.held_until(session, now=now, subject=subject, source=source)
    if until is not None:
        trace_refused_attempt(session, platform, account, "account.login", "held", client, until=until.isoformat())
        raise held(until)
    method = verify_second_factor(session=session, platform=platform, account=account, code=code, client=client,
                                  subject=subject, source=source, action="account.login")
    guard.forget_source(session, subject=subject, source=source)
    account.failures = 0
    session.flush()
    trace(session, platform, account, "account.login", actor=owner_actor(session, account), method=method)
    return method


def verify_second_factor(
    *, session: Session, platform: Platform, account: Account, code: str, client: Client, subject: guard.Subject,
    source: guard.Source, action: str, recovery: bool = True,
) -> str:
    """A fresh authenticator code (claimed at once), or an unused recovery code; a failure is counted."""
    now = platform.clock.now()
    assert account.totp_secret is not None
    secret = unseal(platform, account.id, account.totp_secret)
    step = totp.matching_step(secret, code, now=now, last_step=account.totp_last_step)
    if step is not None and claim_totp_step(session, account, step):
        return "password+totp"
    if recovery and step is None and len(codes.normalise(code)) == codes.RECOVERY_LENGTH:
        for unused in session.scalars(
            select(RecoveryCode).where(RecoveryCode.account_id == account.id, RecoveryCode.used_at.is_(None))
        ):
            if passwords.secret_matches(platform.settings, unused.code_hash, codes.normalise(code)):
                unused.used_at = now
                return "password+recovery_code"
    replayed = totp.matching_step(secret, code, now=now, last_step=None) is not None
    count_login_failure(session, platform, account, subject, source, action,
                   "replayed_totp" if replayed else "wrong_totp", client)
    raise refuse("wrong_second_factor")


# -- the helpdesk's acts -------------------------------------------------------------------


def unlock(*, session: Session, platform: Platform, account: Account, actor: Actor) -> None:
    """The helpdesk lifts every hold on the account (failed logins from any source) and the activation code's."""
    account.locked_until, account.failures = None, 0
    for code in session.scalars(select(ActivationCode).where(ActivationCode.account_id == account.id)):
        code.failures = 0
    lifted = guard.lift(session, account_id=account.id)
    session.flush()
    trace(session, platform, account, "account.unlock", actor=actor, holds=lifted)


def unlock_by_link(*, session: Session, platform: Platform, token: str, client: Client) -> Account | None:
    """The owner opened the link we e-mailed: every hold is lifted, once. None for a link that does not work."""
    account = guard.use_unlock_link(session, now=platform.clock.now(), token=token)
    if account is None:
        _refused_unknown(session, platform, "account.unlock", client, method="email_link")
        return None
    trace(session, platform, account, "account.unlock", actor=owner_actor(session, account), method="email_link")
    return account


def reset_second_factor(
    *, session: Session, platform: Platform, account: Account, actor: Actor, checks: list[str], reference: str
) -> None:
    """After the helpdesk checked the person's identity: the authenticator and recovery codes are removed,
    every session ends, and the account waits for a new activation (a new letter, or the State's portal)."""
    from opendsp.accounts.sessions import end_all_sessions

    account.totp_secret = account.totp_pending = None
    account.totp_last_step = None
    account.password_hash = None
    account.state = AccountState.created if account.state is not AccountState.closed else account.state
    for code in session.scalars(select(RecoveryCode).where(RecoveryCode.account_id == account.id)):
        session.delete(code)
    session.flush()
    end_all_sessions(session=session, platform=platform, account=account, actor=actor)
    trace(session, platform, account, "account.second_factor.reset", actor=actor, checks=checks, reference=reference)


def preferred_language(session: Session, account: Account) -> str | None:
    """The language a person chose (or the one on file), or the one kept by an account without a person:
    the portal speaks it from their next login, and e-mails about the account are written in it."""
    person = session.get(Person, account.person_id) if account.person_id else None
    return person.preferred_language.value if person else account.language


def keep_first_language(*, account: Account, language: str) -> None:
    """An account without a person that has no language yet keeps the one its portal was first used in."""
    from opendsp.persons.models import Language

    if account.person_id is None and account.language is None and language in Language._value2member_map_:
        account.language = language


def set_language(*, session: Session, platform: Platform, account: Account, language: str) -> bool:
    """The owner's choice of language, kept as a person's preferred language (letters follow it too) or as
    the account's own (professionals, staff); traced. Returns whether it changed."""
    from opendsp.persons.models import Language

    person = session.get(Person, account.person_id) if account.person_id else None
    chosen = Language(language)  # ValueError for a language the platform does not speak
    if person is None:
        if account.language == chosen.value:
            return False
        previous_own = account.language
        account.language = chosen.value
        trace(session, platform, account, "account.language", actor=owner_actor(session, account),
              language=language, previous=previous_own)
        return True
    if person.preferred_language is chosen:
        return False
    previous = person.preferred_language.value
    person.preferred_language = chosen
    trace(session, platform, account, "account.language", actor=owner_actor(session, account), language=language,
          previous=previous)
    return True

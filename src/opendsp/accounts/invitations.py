"""Inviting an assistant by e-mail: the holder (or a legal representative) invites, the invitee accepts.

The invitation is managing assistants: the policy decides it (``assistants.manage``,
so an assistant cannot invite) and it is traced on the record. Its e-mail goes
through the notifications' outbox like every other e-mail: the outbox row is
written in the same transaction as the invitation and its trace entry, and
``opendsp worker`` sends it (to ``var/mail`` without an SMTP server). The link's
random token (256 bits; only its SHA-256 is stored) is made by the worker when
it sends the e-mail, so the outbox never holds a usable secret; the invitation
is valid ``OPENDSP_ASSISTANT_INVITATION_DAYS`` (14). The e-mail names the holder
by first name only and carries nothing clinical.

Acceptance is the invitee's act with their own account: the invitation is
checked again (unknown, used, withdrawn, expired) and claimed once, then the
holder's decision is carried out by ``RecordAccess.designate_assistant`` with the
inviter as actor, so the policy checks again that the inviter still has the
right, and the trace entry on the record shows the inviter's decision carried
out at acceptance, with the invitation's id in its context.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import TYPE_CHECKING

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from opendsp import actors
from opendsp.access.services import InvalidRequest, RecordAccess
from opendsp.accounts import delegations
from opendsp.accounts.codes import new_token, token_digest
from opendsp.accounts.mailer import sender_domain
from opendsp.accounts.models import AssistantInvitation, InvitationToken
from opendsp.actors import Actor, ActorKind
from opendsp.locale import N_, translations
from opendsp.locale.formats import format_date
from opendsp.persons.models import Person
from opendsp.platform import Platform
from opendsp.policy.decision import AccessDenied
from opendsp.records.models import Record
from opendsp.trace.vocabulary import RequestContext

if TYPE_CHECKING:
    from opendsp.access.models import AssistantDelegation

EMAIL = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")


class InvitationRefused(Exception):
    """``code`` for programs and tests, ``message`` (a catalogue id) for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


MESSAGES = {
    "invalid_email": N_("Enter a valid e-mail address."),
    "until_past": N_("The end date must be in the future."),
    "unknown": N_("This invitation link is not valid."),
    "used": N_("This invitation has already been used."),
    "expired": N_("This invitation has expired: ask the person who invited you for a new one."),
    "withdrawn": N_("This invitation was withdrawn."),
    "own_record": N_("You cannot be the assistant of your own record."),
    "no_right": N_("The person who invited you can no longer name an assistant."),
}

SUBJECT = N_("An invitation to act as an assistant")
# The outbox's kind for an invitation's e-mail (not a kind of notification one may turn off: it is the invitation).
OUTBOX_KIND = "assistant.invitation"
BODY = (
    N_("%(name)s invites you to act as their assistant on their shared care record (DSP)."),
    N_("To accept, open this link and log in with your own account:"),
    N_("The link works once, until %(date)s."),
    N_("If you do not know this person, ignore this message."),
)


def refuse(code: str) -> InvitationRefused:
    return InvitationRefused(code, MESSAGES[code])


def _aware(value: datetime, like: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=like.tzinfo)


def invite(
    *,
    session: Session,
    platform: Platform,
    actor: Actor,
    record_id: uuid.UUID,
    email: str,
    until: datetime | None,
    language: str,
    request: RequestContext | None = None,
) -> AssistantInvitation:
    """Decide (policy, traced), keep the invitation and queue its e-mail; all in the caller's transaction.

    ``opendsp worker`` sends the e-mail (``compose``): a refused or rolled-back invitation sends nothing."""
    from opendsp.notifications.services import queue_invitation

    email = email.strip()
    if len(email) > 320 or not EMAIL.match(email):
        raise refuse("invalid_email")
    now = platform.clock.now()
    if until is not None and until <= now:
        raise refuse("until_past")
    expires = now + timedelta(days=platform.settings.assistant_invitation_days)
    invitation_id = uuid.uuid4()
    access = RecordAccess(session=session, platform=platform, actor=actor, request=request or RequestContext())
    access.authorise_assistant_invitation(
        record_id,
        {"invitation": str(invitation_id), "until": until.isoformat() if until else None,
         "expires": expires.isoformat()},
    )  # AccessDenied: refused and traced
    record = session.get(Record, record_id)
    assert record is not None
    # The link's token is made when the e-mail is sent; until then the stored hash is of a token nobody holds.
    invitation = AssistantInvitation(
        id=invitation_id, record_id=record.id, email=email, token_hash=token_digest(new_token(platform.randomness)),
        until=until, created_at=now, expires_at=expires,
        details={"invited_by": actor.id, "inviter_kind": actor.kind.value, "language": language},
    )
    session.add(invitation)
    session.add(InvitationToken(token_hash=invitation.token_hash, record_id=record.id, invitation_id=invitation.id))
    session.flush()
    queue_invitation(session, platform, invitation_id=invitation.id, record_id=record.id, kind=OUTBOX_KIND)
    return invitation


def new_link(session: Session, platform: Platform, invitation: AssistantInvitation) -> str:
    """A fresh token for the invitation's link (the worker, as it sends the e-mail): the previous one stops working."""
    token = new_token(platform.randomness)
    # The directory moves with the token, in the same transaction: the old digest finds nothing any more.
    session.execute(delete(InvitationToken).where(InvitationToken.token_hash == invitation.token_hash))
    invitation.token_hash = token_digest(token)
    session.add(InvitationToken(token_hash=invitation.token_hash, record_id=invitation.record_id,
                                invitation_id=invitation.id))
    session.flush()
    return token


def compose(
    *, invitation: AssistantInvitation, holder_given_name: str, token: str, sender: str, message_id: str,
    base_url: str,
) -> EmailMessage:
    """The invitation's e-mail, in the inviter's language: the holder's first name, the link and its expiry."""
    language = (invitation.details or {}).get("language") or "fr"
    gettext = translations(language).gettext
    link = f"{base_url.rstrip('/')}/invitations/{token}"
    body = "\n\n".join([
        gettext(BODY[0]) % {"name": holder_given_name},
        gettext(BODY[1]) + "\n" + link,
        gettext(BODY[2]) % {"date": format_date(invitation.expires_at, language, long=True)},
        gettext(BODY[3]),
        "-- \nOpenDSP",
    ])
    message = EmailMessage()
    message["From"] = sender
    message["To"] = invitation.email
    message["Subject"] = gettext(SUBJECT)
    message["Message-ID"] = message_id or make_msgid(domain=sender_domain(sender))
    message["Date"] = format_datetime(invitation.created_at)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(body + "\n")
    message["Content-Language"] = language
    return message


def find(session: Session, token: str) -> AssistantInvitation | None:
    """The invitation a link's token names: its digest in the directory, then the invitation read by its record.

    None for a token the directory does not hold (never made, or replaced by a newer link)."""
    if not token or len(token) > 100:
        return None
    digest = token_digest(token)
    entry = session.get(InvitationToken, digest)
    if entry is None:
        return None
    return session.scalars(select(AssistantInvitation).where(
        AssistantInvitation.record_id == entry.record_id, AssistantInvitation.id == entry.invitation_id,
        AssistantInvitation.token_hash == digest)).first()


def check(invitation: AssistantInvitation | None, now: datetime) -> AssistantInvitation:
    """The invitation if it can still be accepted, else the precise refusal."""
    if invitation is None:
        raise refuse("unknown")
    if invitation.accepted_at is not None:
        raise refuse("used")
    if (invitation.details or {}).get("withdrawn_at"):
        raise refuse("withdrawn")
    if _aware(invitation.expires_at, now) <= now:
        raise refuse("expired")
    return invitation


def holder_of(session: Session, invitation: AssistantInvitation) -> Person:
    record = session.get(Record, invitation.record_id)
    holder = session.get(Person, record.person_id) if record else None
    assert holder is not None
    return holder


def _inviter(session: Session, invitation: AssistantInvitation, holder: Person) -> Actor:
    """The actor whose decision the acceptance carries out: the holder, or the representative who invited."""
    details = invitation.details or {}
    if details.get("inviter_kind") == ActorKind.representative.value:
        representative = session.get(Person, uuid.UUID(details["invited_by"]))
        if representative is None:
            raise refuse("no_right")
        # No longer a representative: actor_for gives an assistant, whom the policy refuses.
        return delegations.actor_for(session, representative, holder.id)
    return actors.holder(holder)


def accept(
    *, session: Session, platform: Platform, token: str, person: Person, request: RequestContext | None = None
) -> tuple[AssistantDelegation, Person]:
    """The invitee accepts: claimed once, then the delegation through the policy, traced on the record."""
    now = platform.clock.now()
    invitation = check(find(session, token), now)
    holder = holder_of(session, invitation)
    if holder.id == person.id:
        raise refuse("own_record")
    claimed = session.execute(
        update(AssistantInvitation)
        .where(AssistantInvitation.record_id == invitation.record_id, AssistantInvitation.id == invitation.id,
               AssistantInvitation.accepted_at.is_(None))
        .values(accepted_at=now, accepted_by=person.id)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:  # accepted meanwhile by another request
        raise refuse("used")
    until = _aware(invitation.until, now) if invitation.until else None
    try:
        delegation = RecordAccess(
            session=session, platform=platform, actor=_inviter(session, invitation, holder),
            request=request or RequestContext(),
        ).designate_assistant(invitation.record_id, person.id, until=until, invitation=invitation.id)
    except AccessDenied as denied:  # traced; the claim rolls back with the request
        raise refuse("no_right") from denied
    except InvalidRequest as invalid:  # the end date chosen has passed
        raise refuse("expired") from invalid
    session.expire(invitation)
    return delegation, holder


def pending(session: Session, record_id: uuid.UUID, now: datetime) -> list[AssistantInvitation]:
    """The record's invitations that can still be accepted, newest first."""
    found = session.scalars(
        select(AssistantInvitation)
        .where(AssistantInvitation.record_id == record_id, AssistantInvitation.accepted_at.is_(None))
        .order_by(AssistantInvitation.created_at.desc())
    )
    return [i for i in found if not (i.details or {}).get("withdrawn_at") and _aware(i.expires_at, now) > now]


def withdraw(
    *, session: Session, platform: Platform, actor: Actor, invitation_id: uuid.UUID, record_id: uuid.UUID,
    request: RequestContext | None = None,
) -> None:
    """The holder (or representative) withdraws an invitation not accepted yet: decided and traced too."""
    invitation = session.scalar(select(AssistantInvitation).where(
        AssistantInvitation.record_id == record_id, AssistantInvitation.id == invitation_id))
    if invitation is None or invitation.accepted_at is not None:
        raise refuse("unknown")
    access = RecordAccess(session=session, platform=platform, actor=actor, request=request or RequestContext())
    access.authorise_assistant_invitation(
        record_id, {"change": "assistant.invite.withdraw", "invitation": str(invitation.id)}
    )
    invitation.details = {**(invitation.details or {}), "withdrawn_at": platform.clock.now().isoformat()}
    session.flush()

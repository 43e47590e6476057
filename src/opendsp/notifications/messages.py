"""The words of notifications: their names in the portal, and the e-mails in the recipient's language.

An e-mail says only that something of a kind happened, on whose record
(the holder's first name, for an assistant or a parent), and where to log in
to see it. It never names a document, its type, its author, an organisation
or a professional: ``compose`` is given none of them, only the kind.
"""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime

from opendsp.locale import N_, translations
from opendsp.notifications.models import NotificationKind as Kind

# How each kind is named to people: the preferences page and the portal's list.
KIND_LABELS: dict[str, str] = {
    Kind.document_new.value: N_("A new document, or a new version of a document"),
    Kind.presence_opened.value: N_("A professional opened the record with the presence code"),
    Kind.emergency_opened.value: N_("A professional opened the record through emergency access"),
    Kind.assistant_changed.value: N_("An assistant was added or removed"),
    Kind.presence_locked.value: N_("The presence code was locked after wrong attempts"),
}
OTHER_KIND = N_("Something happened on the record")

SUBJECTS: dict[str, str] = {
    Kind.document_new.value: N_("Shared care record: a new document"),
    Kind.presence_opened.value: N_("Shared care record: opened with the presence code"),
    Kind.emergency_opened.value: N_("Shared care record: opened through emergency access"),
    Kind.assistant_changed.value: N_("Shared care record: a change of assistant"),
    Kind.presence_locked.value: N_("Shared care record: the presence code is locked"),
}
OTHER_SUBJECT = N_("Shared care record: something new")

EVENTS: dict[str, str] = {
    Kind.document_new.value: N_("A new document was added to the record."),
    Kind.presence_opened.value: N_("A health professional opened the record with the presence code."),
    Kind.emergency_opened.value: N_("A health professional opened the record through emergency access."),
    Kind.assistant_changed.value: N_("An assistant was added to the record or removed from it."),
    Kind.presence_locked.value: N_(
        "Wrong presence codes were entered several times: the presence code is locked for a while."),
}
OTHER_EVENT = N_("Something happened on the record.")
# Kinds the holder should act on if they did not expect them.
WATCH = {Kind.presence_opened.value, Kind.emergency_opened.value, Kind.assistant_changed.value,
         Kind.presence_locked.value}

GREETING = N_("Hello %(name)s,")
YOUR_RECORD = N_("This message is about your shared care record (DSP).")
THEIR_RECORD = N_("This message is about the shared care record (DSP) of %(name)s, for whom you may act.")
SEE_YOURS = N_("Log in to the portal to see what happened:")
SEE_THEIRS = N_("Log in to the portal and choose their record to see what happened:")
UNEXPECTED = N_("If you did not expect this, call the helpdesk: +352 27 12 50 18 33.")
NO_HEALTH_DATA = N_("For your privacy, this e-mail never contains health information.")
YOUR_CHOICE = N_("You chose to receive this by e-mail. To change what you receive by e-mail:")


def compose(
    *,
    kind: str,
    language: str,
    sender: str,
    to: str,
    message_id: str,
    created_at: datetime,
    recipient_name: str,
    holder_name: str | None,
    base_url: str,
) -> EmailMessage:
    """The e-mail for one recipient. ``holder_name``: None when the recipient is the holder.

    Everything in it comes from the arguments, so every attempt at the same
    outbox row sends the same message, Message-ID and Date included.
    """
    gettext = translations(language).gettext
    base = base_url.rstrip("/")
    lines = [
        gettext(GREETING) % {"name": recipient_name},
        gettext(YOUR_RECORD) if holder_name is None else gettext(THEIR_RECORD) % {"name": holder_name},
        gettext(EVENTS.get(kind, OTHER_EVENT)),
        (gettext(SEE_YOURS) if holder_name is None else gettext(SEE_THEIRS)) + f"\n{base}/record/notifications",
    ]
    if kind in WATCH:
        lines.append(gettext(UNEXPECTED))
    lines += [
        gettext(NO_HEALTH_DATA),
        gettext(YOUR_CHOICE) + f"\n{base}/account/notifications",
        "-- \nOpenDSP",
    ]
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = gettext(SUBJECTS.get(kind, OTHER_SUBJECT))
    message["Message-ID"] = message_id
    message["Date"] = format_datetime(created_at)
    # RFC 3834: no out-of-office replies to this.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content("\n\n".join(lines) + "\n")
    message["Content-Language"] = language  # after set_content, which replaces the Content-* headers
    return message

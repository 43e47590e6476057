"""The e-mail telling an account's owner that logins to their account were held back, with an unlock link."""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime

from opendsp.locale import N_, translations

SUBJECT = N_("Shared care record: failed logins to your account")
GREETING = N_("Hello %(name)s,")
WHAT = N_("Someone tried several times to log in to your account with a wrong password or code. Logins from "
          "where they came from now wait for a while; you can still log in from a browser you used before.")
IF_YOU = N_("If it was you and you cannot log in now, this link lifts every wait on your account and lets this "
            "browser in (it works once, for a day):")
IF_NOT = N_("If it was not you, nothing was opened: your password and your authenticator app are still needed. "
            "If you think someone knows your password, call the helpdesk: +352 27 12 50 18 33.")
NO_HEALTH_DATA = N_("For your privacy, this e-mail never contains health information.")


def compose_held_notice(
    *, language: str, sender: str, to: str, message_id: str, created_at: datetime, recipient_name: str,
    base_url: str, token: str,
) -> EmailMessage:
    gettext = translations(language).gettext
    lines = [
        gettext(GREETING) % {"name": recipient_name},
        gettext(WHAT),
        gettext(IF_YOU) + f"\n{base_url.rstrip('/')}/unlock?token={token}",
        gettext(IF_NOT),
        gettext(NO_HEALTH_DATA),
        "-- \nOpenDSP",
    ]
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = gettext(SUBJECT)
    message["Message-ID"] = message_id
    message["Date"] = format_datetime(created_at)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content("\n\n".join(lines) + "\n")
    message["Content-Language"] = language
    return message

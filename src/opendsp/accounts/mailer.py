"""Outgoing e-mail through SMTP (standard library): plain text, nothing clinical.

Configured by ``OPENDSP_SMTP_HOST`` (none: no e-mail), ``OPENDSP_SMTP_PORT``,
``OPENDSP_SMTP_FROM`` and optionally ``OPENDSP_SMTP_STARTTLS``,
``OPENDSP_SMTP_USER`` and ``OPENDSP_SMTP_PASSWORD``.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid

from opendsp.settings import Settings


class MailNotSent(Exception):
    """The SMTP server could not be reached or refused the message."""


@dataclass(frozen=True)
class Mailer:
    host: str
    port: int
    sender: str
    starttls: bool = False
    user: str | None = None
    password: str | None = None
    timeout: float = 10.0

    def send(self, *, to: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message["Message-ID"] = make_msgid(domain=self.sender.rsplit("@", 1)[-1].strip("> ") or None)
        message.set_content(body)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.user:
                    smtp.login(self.user, self.password or "")
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as error:
            raise MailNotSent(str(error)) from error


def mailer_from_settings(settings: Settings) -> Mailer | None:
    if not settings.smtp_host:
        return None
    return Mailer(
        host=settings.smtp_host, port=settings.smtp_port, sender=settings.smtp_from, starttls=settings.smtp_starttls,
        user=settings.smtp_user, password=settings.smtp_password, timeout=settings.smtp_timeout_seconds,
    )

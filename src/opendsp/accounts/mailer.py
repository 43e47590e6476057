"""Outgoing e-mail through SMTP (standard library): plain text, nothing clinical.

Configured by ``OPENDSP_SMTP_HOST`` (none: no e-mail), ``OPENDSP_SMTP_PORT``,
``OPENDSP_SMTP_FROM`` and optionally ``OPENDSP_SMTP_STARTTLS``,
``OPENDSP_SMTP_USER`` and ``OPENDSP_SMTP_PASSWORD``.

Without a host, the notification worker writes its messages as ``.eml`` files
to ``OPENDSP_MAIL_DIR`` (``var/mail``) instead: the embedded default, so that a
demo shows what would have been sent.
"""

from __future__ import annotations

import os
import re
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid, parseaddr
from pathlib import Path
from typing import Protocol

from opendsp.settings import Settings


class MailNotSent(Exception):
    """The SMTP server could not be reached or refused the message.

    ``permanent``: the server answered with a 5xx code, so sending the same
    message again would be refused again.
    """

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Transport(Protocol):
    """Where finished messages go: an SMTP server, or a folder."""

    def deliver(self, message: EmailMessage) -> None: ...


def sender_domain(sender: str) -> str:
    """The domain of the From address, for Message-IDs."""
    address = parseaddr(sender)[1]
    return address.rsplit("@", 1)[1] if "@" in address else "localhost"


ADDRESS = re.compile(r"[^\s<>()\[\]'\",;:@]+@[^\s<>()\[\]'\",;:@]+")


def without_addresses(text: str) -> str:
    """An error as it may be stored and logged: servers often quote the address they refuse."""
    return ADDRESS.sub("<address>", text)


def _describe(error: smtplib.SMTPException) -> str:
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        answers = "; ".join(f"{code} {text.decode(errors='replace')}" for code, text in error.recipients.values())
        return without_addresses(f"recipient refused: {answers}")
    if isinstance(error, smtplib.SMTPResponseException):
        text = error.smtp_error.decode(errors="replace") if isinstance(error.smtp_error, bytes) else str(error.smtp_error)
        return without_addresses(f"{error.smtp_code} {text}")
    return without_addresses(str(error) or error.__class__.__name__)


def _permanent(error: smtplib.SMTPException) -> bool:
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in error.recipients.values())
    code = getattr(error, "smtp_code", None)
    return isinstance(code, int) and code >= 500


def plain_message(*, sender: str, to: str, subject: str, body: str) -> EmailMessage:
    """A plain-text message with a fresh Message-ID, for any transport."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain=sender_domain(sender))
    message.set_content(body)
    return message


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
        self.deliver(plain_message(sender=self.sender, to=to, subject=subject, body=body))

    def deliver(self, message: EmailMessage) -> None:
        """Send a finished message; ``MailNotSent`` if the server is unreachable or refuses it."""
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.user:
                    smtp.login(self.user, self.password or "")
                smtp.send_message(message)
        except smtplib.SMTPException as error:
            raise MailNotSent(_describe(error), permanent=_permanent(error)) from error
        except OSError as error:
            raise MailNotSent(without_addresses(str(error)) or error.__class__.__name__) from error


@dataclass(frozen=True)
class MailFolder:
    """Messages written as ``.eml`` files, one per Message-ID: delivering the same message again rewrites its file."""

    path: Path

    def file_for(self, message: EmailMessage) -> Path:
        local = str(message["Message-ID"]).strip("<>").split("@", 1)[0]
        safe = "".join(c for c in local if c.isalnum() or c in "-._") or "message"
        return self.path / f"{safe}.eml"

    def deliver(self, message: EmailMessage) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            target = self.file_for(message)
            temporary = target.with_suffix(".eml.tmp")
            temporary.write_bytes(bytes(message))
            os.replace(temporary, target)  # whole, or not at all
        except OSError as error:
            raise MailNotSent(str(error)) from error


def mailer_from_settings(settings: Settings) -> Mailer | None:
    if not settings.smtp_host:
        return None
    return Mailer(
        host=settings.smtp_host, port=settings.smtp_port, sender=settings.smtp_from, starttls=settings.smtp_starttls,
        user=settings.smtp_user, password=settings.smtp_password, timeout=settings.smtp_timeout_seconds,
    )


def transport_from_settings(settings: Settings) -> Transport:
    """The SMTP server if one is configured, else the local mail folder (the embedded default)."""
    mailer = mailer_from_settings(settings)
    if mailer is not None:
        return mailer
    assert settings.mail_dir is not None
    return MailFolder(settings.mail_dir)

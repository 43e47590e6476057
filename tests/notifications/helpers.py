"""A real SMTP server for the notification tests (aiosmtpd), and the people and events they need."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
from datetime import date
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from sqlalchemy import select
from sqlalchemy.orm import Session

from opendsp.accounts.mailer import Mailer
from opendsp.accounts.models import AccountState
from opendsp.accounts.services import account_of_person
from opendsp.notifications.models import OutboxMessage
from opendsp.persons.models import Language, Person
from opendsp.platform import Platform
from opendsp.settings import Settings
from tests.factories import make_person

SENDER = "OpenDSP <no-reply@opendsp.test>"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Inbox:
    """An aiosmtpd handler that keeps what it receives; it can hold a transaction half-way, or refuse a mailbox."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[list[str]] = []
        self.refused: set[str] = set()
        # Set ``hold_next``: the next RCPT waits (the client is then mid-send) until ``release`` is set.
        self.hold_next = threading.Event()
        self.holding = threading.Event()
        self.release = threading.Event()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:  # type: ignore[no-untyped-def]
        if address in self.refused:
            return "550 5.1.1 No such mailbox"
        if self.hold_next.is_set():
            self.hold_next.clear()
            self.holding.set()
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 60)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:  # type: ignore[no-untyped-def]
        self.envelopes.append(list(envelope.rcpt_tos))
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        self.messages.append(message)  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]

    @staticmethod
    def text(message: EmailMessage) -> str:
        """Everything a reader sees: headers and body."""
        body = message.get_body(("plain",))
        assert body is not None
        return "\n".join(f"{k}: {v}" for k, v in message.items()) + "\n" + body.get_content()


class SmtpServer:
    """A mail server on a fixed port that the test starts and stops (down for a while, then back)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.inbox = Inbox()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        self.inbox.release.set()
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def mailer(self, settings: Settings) -> Mailer:
        return Mailer(host="127.0.0.1", port=self.port, sender=settings.smtp_from, timeout=5)


def person_with_account(
    session: Session, platform: Platform, *, email: str | None, given_name: str = "Anne",
    language: Language = Language.fr, birth: date = date(1980, 5, 17), record: bool = False,
) -> Person:
    """A person whose account is active, with this address (None: no address)."""
    if record:
        from tests.factories import make_record

        person = make_record(session, platform, birth=birth).holder
        person.given_name = given_name
    else:
        person = make_person(session, platform, given_name=given_name, birth=birth)
    person.preferred_language = language
    account = account_of_person(session=session, platform=platform, person=person)
    account.state, account.email, account.activated_at = AccountState.active, email, platform.clock.now()
    session.flush()
    return person


def outbox(platform: Platform) -> list[OutboxMessage]:
    """The outbox's rows, once the worker has done the jobs the acts left: a notification's e-mails are written
    by its fan-out job (what ``opendsp worker`` does within a second of the act)."""
    from tests.factories import run_jobs

    run_jobs(platform)
    with platform.sessions() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.created_at, OutboxMessage.id)))

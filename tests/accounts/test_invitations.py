"""Assistants invited by e-mail: the invitation's e-mail goes through the outbox (written with the invitation, sent
by the worker), a real SMTP server (aiosmtpd) receives it, the link works once."""

from __future__ import annotations

import email
import re
import socket
import uuid
from collections.abc import Iterator
from datetime import timedelta
from email.message import Message
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from opendsp.access.models import AssistantDelegation
from opendsp.accounts.mailer import transport_from_settings
from opendsp.accounts.models import AssistantInvitation
from opendsp.notifications.models import DeliveryState, OutboxMessage
from opendsp.notifications.worker import OutboxWorker, Tally
from opendsp.clock import FrozenClock
from opendsp.platform import Platform
from opendsp.settings import Settings
from opendsp.trace.models import TraceEntry
from tests.accounts.portal import Browser, activate, letter_for, login
from tests.factories import as_holder, make_record

LINK = re.compile(r"http://testserver(/invitations/[A-Za-z0-9_-]+)")


class Inbox:
    """An aiosmtpd handler that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.recipients: list[list[str]] = []
        self.port = 0
        self.refused: set[str] = set()  # mailboxes answered "try again later" (4xx)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:  # type: ignore[no-untyped-def]
        if address in self.refused:
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:  # type: ignore[no-untyped-def]
        self.recipients.append(list(envelope.rcpt_tos))
        self.messages.append(email.message_from_bytes(envelope.original_content))
        return "250 Message accepted for delivery"

    def body(self, index: int = -1) -> str:
        return self.messages[index].get_payload(decode=True).decode()  # type: ignore[union-attr]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    handler = Inbox()
    handler.port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=handler.port)
    controller.start()
    try:
        yield handler
    finally:
        controller.stop()


@pytest.fixture
def settings(tmp_path: Path, database_url: str, request: pytest.FixtureRequest) -> Settings:
    # The portal's test settings; with SMTP only for the tests that start the server.
    smtp: dict[str, object] = {}
    if "inbox" in request.fixturenames:
        smtp = {"smtp_host": "127.0.0.1", "smtp_port": request.getfixturevalue("inbox").port,
                "smtp_from": "OpenDSP <no-reply@opendsp.test>"}
    return Settings(var_dir=tmp_path / "var", database_url=database_url, password_hash_profile="fast",
                    public_base_url="http://testserver", **smtp)  # type: ignore[arg-type]


def logged_in_person(platform: Platform, clock: FrozenClock, person) -> Browser:  # type: ignore[no-untyped-def]
    browser = Browser(platform)
    browser.credentials = activate(  # type: ignore[attr-defined]
        browser, clock, person.national_number, letter_for(platform, person).activation)
    return browser


def worker_sends(platform: Platform) -> Tally:
    """`opendsp worker --once`: the real worker, to the SMTP server of the settings or else the mail folder."""
    return OutboxWorker(platform, transport_from_settings(platform.settings)).run(once=True)


def invitation_entries(platform: Platform, record_id) -> list[TraceEntry]:  # type: ignore[no-untyped-def]
    with platform.sessions() as session:
        return list(session.scalars(select(TraceEntry).where(
            TraceEntry.chain == str(record_id), TraceEntry.action == "assistants.manage").order_by(TraceEntry.seq)))


def delegations(platform: Platform) -> int:
    with platform.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(AssistantDelegation)) or 0)


def test_a_holder_invites_by_e_mail_and_the_link_works_once(
    platform: Platform, clock: FrozenClock, inbox: Inbox
) -> None:
    with platform.transaction() as session:
        record = make_record(session, platform, active=False)
        record.holder.given_name, record.holder.family_name = "Berthe", "Zimmerlinck"
        holder = record.holder
        helper = make_record(session, platform, active=False).holder
    owner = logged_in_person(platform, clock, holder)
    assert "Invite an assistant by e-mail" in owner.get("/record/assistants").text
    response = owner.submit("/record/assistants/invite", {"email": "not-an-address", "until": ""})
    assert response.status_code == 400 and "Enter a valid e-mail address" in owner.page
    response = owner.submit("/record/assistants/invite", {"email": "helper@example.lu", "until": "2026-06-30"})
    assert response.status_code == 303 and response.headers["location"] == "/record/assistants?done=invited"
    page = owner.get(response.headers["location"]).text
    assert "The invitation was sent." in page and "helper@example.lu" in page  # waiting for an answer
    assert inbox.messages == []  # queued in the outbox with the invitation: the worker sends it
    assert worker_sends(platform).sent == 1

    # One e-mail, with the link, the first name and the expiry; nothing clinical, no family name, no number.
    assert len(inbox.messages) == 1 and inbox.recipients == [["helper@example.lu"]]
    message, body = inbox.messages[0], inbox.body()
    assert message["To"] == "helper@example.lu" and message["Subject"] == "An invitation to act as an assistant"
    found = LINK.search(body)
    assert found and "Berthe" in body and "15 January 2026" in body
    for secret in ("Zimmerlinck", holder.national_number, str(record.id), "document", "diagnos"):
        assert secret not in body
    path = found.group(1)
    with platform.sessions() as session:
        stored = session.scalars(select(AssistantInvitation)).one()
        assert path.rsplit("/", 1)[1] not in stored.token_hash  # only the hash is kept
    (entry,) = invitation_entries(platform, record.id)
    assert entry.outcome.value == "permitted" and entry.context["change"] == "assistant.invite"
    assert entry.context["invitation"] == str(stored.id)

    # Someone not logged in is told to log in (or activate first); the holder cannot accept.
    anonymous = Browser(platform)
    assert "log in with your own account" in anonymous.get(path).text
    assert "You cannot be the assistant of your own record" in owner.get(path).text
    response = owner.submit(path, {})
    assert response.status_code == 403 and delegations(platform) == 0

    invitee = logged_in_person(platform, clock, helper)
    page = invitee.get(path)
    assert page.status_code == 200 and "Berthe invites you" in page.text and "Zimmerlinck" not in page.text
    response = invitee.submit(path, {})
    assert response.status_code == 200 and "You are now the assistant of Berthe Zimmerlinck" in invitee.page
    assert "as assistant" in invitee.page  # the record is among those the invitee may act for
    with platform.sessions() as session:
        delegation = session.scalars(select(AssistantDelegation)).one()
        assert delegation.assistant_id == helper.id and delegation.until is not None
        used = session.scalars(select(AssistantInvitation)).one()
        assert used.accepted_by == helper.id and used.accepted_at == clock.now()
    added = invitation_entries(platform, record.id)[-1]
    assert added.context["change"] == "assistant.add" and added.context["invitation"] == str(stored.id)
    assert added.actor_id == str(holder.id) and added.outcome.value == "permitted"

    # Once only: the same link now changes nothing.
    response = invitee.submit(path, {}, form_page="/account")
    assert response.status_code == 410 and "already been used" in invitee.page
    assert invitee.get(path).status_code == 410
    assert Browser(platform).get("/invitations/not-a-token").status_code == 404
    assert delegations(platform) == 1 and len(inbox.messages) == 1


def test_an_expired_or_withdrawn_invitation_is_refused(platform: Platform, clock: FrozenClock, inbox: Inbox) -> None:
    with platform.transaction() as session:
        holder = make_record(session, platform, active=False).holder
        helper = make_record(session, platform, active=False).holder
    owner = logged_in_person(platform, clock, holder)
    owner.get("/record/assistants")
    assert owner.submit("/record/assistants/invite", {"email": "a@example.lu", "until": ""}).status_code == 303
    assert owner.submit("/record/assistants/invite", {"email": "b@example.lu", "until": ""}).status_code == 303
    assert worker_sends(platform).sent == 2
    links = {inbox.messages[i]["To"]: LINK.search(inbox.body(i)).group(1) for i in (0, 1)}  # type: ignore[union-attr]
    first, second = links["a@example.lu"], links["b@example.lu"]
    with platform.sessions() as session:
        withdrawn = session.scalars(select(AssistantInvitation).where(AssistantInvitation.email == "b@example.lu")).one()
    response = owner.submit(f"/record/assistants/invitations/{withdrawn.id}/withdraw", {},
                            form_page="/record/assistants")
    assert response.status_code == 303
    assert "The invitation was withdrawn" in owner.get(response.headers["location"]).text

    invitee = logged_in_person(platform, clock, helper)
    assert invitee.get(second).status_code == 410 and "withdrawn" in invitee.page
    clock.advance(timedelta(days=platform.settings.assistant_invitation_days, seconds=1))
    login(invitee, clock, invitee.credentials)  # type: ignore[attr-defined]  # the session has ended meanwhile
    page = invitee.get(first)
    assert page.status_code == 410 and "This invitation has expired" in page.text
    response = invitee.submit(first, {}, form_page="/account")
    assert response.status_code == 410 and delegations(platform) == 0


def test_an_assistant_cannot_invite(platform: Platform, clock: FrozenClock, inbox: Inbox) -> None:
    with platform.transaction() as session:
        record = make_record(session, platform)
        assistant = make_record(session, platform, active=False).holder
        as_holder(session, platform, record).designate_assistant(record.id, assistant.id)
        holder_id = record.holder.id
    browser = logged_in_person(platform, clock, assistant)
    browser.get("/account")
    assert browser.submit("/account/act-for", {"person": str(holder_id)}).status_code == 303
    assert "Invite an assistant by e-mail" not in browser.get("/record/assistants").text
    assert "an assistant cannot designate further assistants" in browser.page
    response = browser.submit("/record/assistants/invite", {"email": "friend@example.lu", "until": ""})
    assert response.status_code == 403 and "an assistant cannot designate further assistants" in browser.page
    worker_sends(platform)  # the holder may be told an assistant was named; nobody is invited
    assert [m["To"] for m in inbox.messages if m["To"] == "friend@example.lu"] == []
    refused = invitation_entries(platform, record.id)[-1]
    assert refused.outcome.value == "refused" and refused.reason == "assistant_cannot_delegate"
    with platform.sessions() as session:
        assert session.scalar(select(func.count()).select_from(AssistantInvitation)) == 0


def test_without_smtp_the_invitation_is_written_to_the_mail_folder_like_other_e_mails(
    platform: Platform, clock: FrozenClock
) -> None:
    """Under `make run` (no SMTP server), the invitation lands in var/mail as the notifications do, and works."""
    with platform.transaction() as session:
        record = make_record(session, platform, active=False)
        holder = record.holder
        helper = make_record(session, platform, active=False).holder
    browser = logged_in_person(platform, clock, holder)
    page = browser.get("/record/assistants").text
    assert "Invitations by e-mail are not available" not in page and 'id="invite-email"' in page
    response = browser.submit("/record/assistants/invite", {"email": "friend@example.lu", "until": ""})
    assert response.status_code == 303
    assert not list(platform.settings.mail_dir.glob("*.eml"))  # type: ignore[union-attr]  # the worker writes it
    assert worker_sends(platform).sent == 1
    files = list(platform.settings.mail_dir.glob("*.eml"))  # type: ignore[union-attr]
    assert len(files) == 1
    message = email.message_from_bytes(files[0].read_bytes())
    assert message["To"] == "friend@example.lu" and message["Subject"] == "An invitation to act as an assistant"
    found = LINK.search(message.get_payload(decode=True).decode())  # type: ignore[union-attr]
    assert found
    invitee = logged_in_person(platform, clock, helper)
    assert invitee.submit(found.group(1), {}, form_page=found.group(1)).status_code == 200
    assert delegations(platform) == 1


def test_the_invitation_waits_in_the_outbox_until_the_mail_server_takes_it(
    platform: Platform, clock: FrozenClock, inbox: Inbox
) -> None:
    """Written in the invitation's transaction, with no address and no link in the row; retried while the server
    refuses; the link is made when the e-mail leaves, so only the e-mail that arrived holds a working one."""
    with platform.transaction() as session:
        holder = make_record(session, platform, active=False).holder
        helper = make_record(session, platform, active=False).holder
    owner = logged_in_person(platform, clock, holder)
    owner.get("/record/assistants")
    inbox.refused.add("later@example.lu")
    assert owner.submit("/record/assistants/invite", {"email": "later@example.lu", "until": ""}).status_code == 303
    with platform.sessions() as session:
        row = session.scalars(select(OutboxMessage)).one()
        invitation = session.scalars(select(AssistantInvitation)).one()
        assert row.invitation_id == invitation.id and row.kind == "assistant.invitation"
        assert row.state is DeliveryState.pending and row.created_at == invitation.created_at
        assert "later@example.lu" not in repr(row.__dict__)
        first_hash = invitation.token_hash
    tally = worker_sends(platform)  # the server says 4xx: kept, to be tried again
    assert tally.retried == 1 and inbox.messages == []
    inbox.refused.clear()
    clock.advance(timedelta(minutes=5))
    assert worker_sends(platform).sent == 1 and len(inbox.messages) == 1
    with platform.sessions() as session:
        assert session.scalars(select(AssistantInvitation.token_hash)).one() != first_hash
        assert session.scalars(select(OutboxMessage.state)).one() is DeliveryState.sent
    path = LINK.search(inbox.body()).group(1)  # type: ignore[union-attr]
    invitee = logged_in_person(platform, clock, helper)
    assert invitee.submit(path, {}, form_page=path).status_code == 200 and delegations(platform) == 1
    worker_sends(platform)  # the holder's side is told of the new assistant; the invitation is not sent again
    assert [m["To"] for m in inbox.messages].count("later@example.lu") == 1


def test_a_withdrawn_invitation_is_not_sent(platform: Platform, clock: FrozenClock, inbox: Inbox) -> None:
    with platform.transaction() as session:
        holder = make_record(session, platform, active=False).holder
    owner = logged_in_person(platform, clock, holder)
    owner.get("/record/assistants")
    assert owner.submit("/record/assistants/invite", {"email": "oops@example.lu", "until": ""}).status_code == 303
    with platform.sessions() as session:
        invitation_id = session.scalars(select(AssistantInvitation.id)).one()
    owner.get("/record/assistants")
    assert owner.submit(f"/record/assistants/invitations/{invitation_id}/withdraw", {}).status_code == 303
    tally = worker_sends(platform)
    assert tally.failed == 1 and tally.sent == 0 and inbox.messages == []
    with platform.sessions() as session:
        row = session.scalars(select(OutboxMessage)).one()
        assert row.state is DeliveryState.failed and "withdrawn" in (row.last_error or "")


def test_another_holder_cannot_withdraw_an_invitation_it_answers_as_an_unknown_one(
        platform: Platform, clock: FrozenClock, inbox: Inbox) -> None:
    with platform.transaction() as session:
        holder = make_record(session, platform, active=False).holder
        stranger = make_record(session, platform, active=False).holder
    owner = logged_in_person(platform, clock, holder)
    owner.get("/record/assistants")
    assert owner.submit("/record/assistants/invite", {"email": "a@example.lu", "until": ""}).status_code == 303
    with platform.sessions() as session:
        invitation = session.scalars(select(AssistantInvitation)).one()
    other = logged_in_person(platform, clock, stranger)
    other.get("/record/assistants")
    answers = [other.submit(f"/record/assistants/invitations/{target}/withdraw", {}, form_page="/record/assistants")
               for target in (invitation.id, uuid.uuid4())]
    # The same refusal as for an id that names nothing (the form's error, not the other holder's invitation).
    assert answers[0].status_code == answers[1].status_code == 400
    assert invitation.email not in answers[0].text
    with platform.sessions() as session:
        assert "withdrawn_at" not in (session.get(AssistantInvitation, invitation.id).details or {})
    assert worker_sends(platform).sent == 1  # the invitation still goes out

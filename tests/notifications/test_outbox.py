"""Notifications by e-mail, end to end on SQLite and PostgreSQL: written with the act, sent by the worker
to a real SMTP server (aiosmtpd), once per event and recipient, with nothing clinical in them, in the
recipient's language; retried with backoff on the injected clock while the server is down."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from opendsp.access.models import Notification
from opendsp.accounts.mailer import MailFolder
from opendsp.cli import main
from opendsp.clock import FrozenClock
from opendsp.documents.types import DocumentType
from opendsp.notifications import services as notifications
from opendsp.notifications.models import DeliveryState, NotificationKind, OutboxMessage
from opendsp.notifications.worker import OutboxWorker, Tally
from opendsp.persons.models import Language, Person
from opendsp.platform import Platform
from opendsp.policy.decision import AccessDenied
from opendsp.professionals.models import OrganisationKind, Professional
from opendsp.records.models import Record
from opendsp.records.services import record_of
from opendsp.trace.models import TraceEntry
from tests.factories import (
    PDF,
    as_holder,
    as_professional,
    make_organisation,
    make_professional,
    professional_draft,
    run_jobs,
)
from tests.notifications.helpers import Inbox, SmtpServer, free_port, outbox, person_with_account

KINDS = {kind.value for kind in NotificationKind}
# Words that must never reach a mailbox: the document's title and type, its author and organisation,
# the professionals who opened the record, the emergency reason, the holder's family name and number.
SECRETS = ("Zorglub", "bilan", "Zéphyr", "Quennevat", "Reuter", "Xanthopoulos", "Urgences Sud", "Wobbly",
           "inconscient", "Schmit", "laborat", "labor", "rapport", "report")


@dataclass
class World:
    record: Record
    holder: Person
    helper: Person
    biologist: Professional
    cardiologist: Professional
    er_doctor: Professional
    prowler: Professional


@pytest.fixture
def world(platform: Platform) -> World:
    with platform.transaction() as session:
        holder = person_with_account(session, platform, email="berthe@example.lu", given_name="Berthe", record=True)
        record = record_of(session, holder.id)
        helper = person_with_account(session, platform, email="jos@example.lu", given_name="Jos",
                                     language=Language.de)
        lab = make_organisation(session, platform, OrganisationKind.laboratory, name="Clinique Zéphyr")
        biologist = make_professional(session, platform, profession="laboratory_biologist", specialties=(),
                                      organisation=lab, family_name="Quennevat")
        cardiologist = make_professional(session, platform, specialties=("cardiology",), family_name="Reuter")
        er = make_organisation(session, platform, OrganisationKind.emergency_department, name="Urgences Sud")
        er_doctor = make_professional(session, platform, specialties=("emergency_medicine",), organisation=er,
                                      family_name="Xanthopoulos")
        prowler = make_professional(session, platform, specialties=("cardiology",), family_name="Prowler")
        assert record is not None
    return World(record, holder, helper, biologist, cardiologist, er_doctor, prowler)


def worker(platform: Platform, smtp: SmtpServer) -> OutboxWorker:
    return OutboxWorker(platform, smtp.mailer(platform.settings))


def deposit(platform: Platform, world: World, *, title: str = "Bilan Zorglub", **draft: object) -> uuid.UUID:
    with platform.transaction() as session:
        document = as_professional(session, platform, world.biologist).deposit(
            world.record.id, replace(professional_draft(DocumentType.laboratory_report, title), **draft), [PDF])
        return document.id


def wrong_codes(platform: Platform, world: World, professional: Professional, times: int) -> None:
    for _ in range(times):
        with pytest.raises(AccessDenied), platform.transaction() as session:
            as_professional(session, platform, professional).open_with_presence_code(world.record.id, "AAAA-AAAA")


def every_kind_of_event(platform: Platform, world: World) -> None:
    """An assistant named, a document deposited, the presence code used, emergency access, a lockout."""
    record_id = world.record.id
    with platform.transaction() as session:
        as_holder(session, platform, world.record).designate_assistant(record_id, world.helper.id)
        code = as_holder(session, platform, world.record).regenerate_presence_code(record_id)
    deposit(platform, world)
    with platform.transaction() as session:
        as_professional(session, platform, world.cardiologist).open_with_presence_code(record_id, code)
        as_professional(session, platform, world.er_doctor).open_emergency_access(record_id, "inconscient, Wobbly")
    limit = platform.matrix.parameters.presence_failures_per_professional_and_record
    wrong_codes(platform, world, world.prowler, limit + 2)  # the limit-th locks (and notifies); the rest are locked


def test_every_event_reaches_each_recipient_once_with_nothing_clinical(
    platform: Platform, world: World, smtp: SmtpServer
) -> None:
    every_kind_of_event(platform, world)
    rows = outbox(platform)
    assert len(rows) == 2 * len(KINDS) and {r.state for r in rows} == {DeliveryState.pending}

    tally = worker(platform, smtp).run(once=True)
    inbox = smtp.inbox
    assert (tally.sent, tally.retried, tally.failed) == (10, 0, 0) and len(inbox.messages) == 10
    assert sorted(m["Message-ID"] for m in inbox.messages) == sorted(r.message_id for r in rows)
    assert all(envelope == [m["To"]] for envelope, m in zip(inbox.envelopes, inbox.messages, strict=True))
    for address in ("berthe@example.lu", "jos@example.lu"):
        mine = inbox.to(address)
        assert len(mine) == len(KINDS) and len({m["Subject"] for m in mine}) == len(KINDS)
    for message in inbox.messages:
        text = Inbox.text(message)
        for secret in (*SECRETS, world.holder.national_number, str(world.record.id)):
            assert secret.lower() not in text.lower(), (secret, text)
        assert "http://testserver/record/notifications" in text and message["Auto-Submitted"] == "auto-generated"

    # In each recipient's language: the holder reads French, the assistant German and the holder's first name.
    berthe = {m["Subject"] for m in inbox.to("berthe@example.lu")}
    assert "Dossier de Soins Partagé : un nouveau document" in berthe
    jos = inbox.to("jos@example.lu")
    assert "Gemeinsame Gesundheitsakte: über den Notfallzugang geöffnet" in {m["Subject"] for m in jos}
    assert all("Guten Tag Jos," in Inbox.text(m) and "von Berthe" in Inbox.text(m) for m in jos)
    assert {m["Content-Language"] for m in jos} == {"de"}

    # Sent once: the rows say so, and a second run sends nothing.
    assert {(r.state, r.attempts) for r in outbox(platform)} == {(DeliveryState.sent, 1)}
    assert worker(platform, smtp).run(once=True).sent == 0 and len(inbox.messages) == 10

    # Each notification points to the trace entry of its act; the lockout's was written after its rollback.
    with platform.sessions() as session:
        found = {n.kind: n for n in session.scalars(select(Notification))}
        assert set(found) == KINDS and len(found) == len(KINDS)
        for kind, action in [("document.new", "document.deposit"), ("presence.opened", "presence.open"),
                             ("emergency.opened", "emergency.open"), ("assistant.changed", "assistants.manage"),
                             ("presence.locked", "presence.open")]:
            entry = session.get(TraceEntry, found[kind].trace_entry_id)
            assert entry is not None and entry.action == action, kind
        assert session.get(TraceEntry, found["presence.locked"].trace_entry_id).reason == "wrong_presence_code"


def test_the_lockout_is_told_by_the_wrong_code_that_locks(platform: Platform, world: World) -> None:
    limit = platform.matrix.parameters.presence_failures_per_professional_and_record
    wrong_codes(platform, world, world.prowler, limit - 1)
    with platform.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Notification)) == 0
    wrong_codes(platform, world, world.prowler, 1)
    rows = outbox(platform)
    assert [r.kind for r in rows] == ["presence.locked"]  # the holder only: no assistant yet
    wrong_codes(platform, world, world.prowler, 3)
    assert len(outbox(platform)) == 1


def test_choices_are_respected_and_the_reachable_only_are_written_to(
    platform: Platform, world: World, smtp: SmtpServer, clock: FrozenClock
) -> None:
    with platform.transaction() as session:
        notifications.set_email_choices(session, platform, person_id=world.holder.id,
                                        by_email=KINDS - {"document.new"})
        no_address = person_with_account(session, platform, email=None, given_name="Nadia")
        as_holder(session, platform, world.record).designate_assistant(world.record.id, world.helper.id)
        as_holder(session, platform, world.record).designate_assistant(world.record.id, no_address.id)
        # An assistant whose delegation has ended is told nothing more.
        former = person_with_account(session, platform, email="former@example.lu", given_name="Fernand")
        as_holder(session, platform, world.record).designate_assistant(world.record.id, former.id)
        as_holder(session, platform, world.record).end_assistant(world.record.id, former.id)
        assert notifications.email_choices(session, world.holder.id)["document.new"] is False
    deposit(platform, world)
    news = [r for r in outbox(platform) if r.kind == "document.new"]
    assert [r.person_id for r in news] == [world.helper.id]
    changes = [r.person_id for r in outbox(platform) if r.kind == "assistant.changed"]
    # Four changes; told each time: the holder and the assistant; the one named then removed, of being named.
    assert sorted(map(str, changes)) == sorted(map(str, [world.holder.id] * 4 + [world.helper.id] * 4 + [former.id]))
    worker(platform, smtp).run(once=True)
    assert not [m for m in smtp.inbox.to("berthe@example.lu") if "document" in m["Subject"]]
    assert "Gemeinsame Gesundheitsakte: ein neues Dokument" in {m["Subject"] for m in smtp.inbox.to("jos@example.lu")}
    (told,) = smtp.inbox.to("former@example.lu")
    assert told["Subject"] == "Dossier de Soins Partagé : un changement d'assistant DSP"


def test_a_mail_server_down_for_a_while_loses_nothing(platform: Platform, world: World, clock: FrozenClock) -> None:
    server = SmtpServer(free_port())  # not started: connections are refused
    deposit(platform, world)
    (row,) = outbox(platform)
    sender = OutboxWorker(platform, server.mailer(platform.settings))
    schedule = sender.schedule
    try:
        waited = timedelta()
        for attempt in (1, 2, 3):
            tally = sender.run(once=True)
            assert (tally.sent, tally.retried) == (0, 1)
            (row,) = outbox(platform)
            assert (row.state, row.attempts) == (DeliveryState.pending, attempt) and row.last_error
            assert row.next_attempt_at == clock.now() + schedule.delay(attempt)
            # Nothing is tried before its time.
            clock.advance(schedule.delay(attempt) - timedelta(seconds=1))
            assert sender.run(once=True).retried == 0 and outbox(platform)[0].attempts == attempt
            clock.advance(timedelta(seconds=1))
            waited += schedule.delay(attempt)
        assert waited == timedelta(minutes=1 + 2 + 4)
        server.start()
        tally = sender.run(once=True)
        assert (tally.sent, tally.retried) == (1, 0) and len(server.inbox.messages) == 1
        (row,) = outbox(platform)
        assert (row.state, row.attempts, row.sent_at) == (DeliveryState.sent, 4, clock.now())
        assert server.inbox.messages[0]["Message-ID"] == row.message_id
        assert sender.run(once=True).sent == 0 and len(server.inbox.messages) == 1
    finally:
        server.stop()


def run_cli(platform: Platform, *args: str):  # type: ignore[no-untyped-def]
    env = {"OPENDSP_DATABASE_URL": platform.settings.database_url, "OPENDSP_VAR_DIR": str(platform.settings.var_dir)}
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_given_up_messages_stay_visible_until_an_operator_sends_them_again(
    platform: Platform, world: World, smtp: SmtpServer, clock: FrozenClock
) -> None:
    clock.current = datetime.now(UTC)  # the commands below run on the system clock
    platform.settings.outbox_max_attempts = 2
    sender = worker(platform, smtp)
    # A permanent refusal (550) is given up at once.
    smtp.inbox.refused.add("jos@example.lu")
    with platform.transaction() as session:
        as_holder(session, platform, world.record).designate_assistant(world.record.id, world.helper.id)
    tally = sender.run(once=True)
    assert (tally.sent, tally.retried, tally.failed) == (1, 0, 1)
    (refused,) = [r for r in outbox(platform) if r.state is DeliveryState.failed]
    assert refused.person_id == world.helper.id and refused.attempts == 1 and "550" in (refused.last_error or "")
    # A server down longer than the attempts allowed: given up after the last one.
    smtp.inbox.refused.clear()
    smtp.stop()
    deposit(platform, world)
    assert sender.run(once=True).retried == 2
    clock.advance(sender.schedule.delay(1))
    assert sender.run(once=True).failed == 2
    clock.advance(timedelta(days=1))
    assert sender.run(once=True).sent == 0  # given up means not tried again

    status = run_cli(platform, "outbox", "status")
    assert status.exit_code == 0 and "0 pending, 0 sending, 1 sent, 3 failed" in status.output
    failed = [r for r in outbox(platform) if r.state is DeliveryState.failed]
    assert all(f"failed {r.id} " in status.output for r in failed)
    assert "example.lu" not in status.output  # ids, kinds and errors: no address

    smtp.start()
    retried = run_cli(platform, "outbox", "retry", str(refused.id))
    assert retried.exit_code == 0 and "1 message(s) due again" in retried.output
    clock.advance(timedelta(hours=1))
    assert sender.run(once=True).sent == 1 and smtp.inbox.messages[-1]["To"] == "jos@example.lu"
    assert "2 message(s) due again" in run_cli(platform, "outbox", "retry").output
    clock.advance(timedelta(hours=1))
    assert sender.run(once=True).sent == 2 and {r.state for r in outbox(platform)} == {DeliveryState.sent}
    assert run_cli(platform, "outbox", "retry", "not-an-id").exit_code == 2
    with platform.sessions() as session:
        retries = session.scalars(select(TraceEntry).where(TraceEntry.action == "outbox.retry")
                                  .order_by(TraceEntry.seq)).all()
        assert [e.context["requeued"] for e in retries] == [1, 2]


def test_a_document_the_holder_sees_later_is_announced_later(
    platform: Platform, world: World, smtp: SmtpServer, clock: FrozenClock
) -> None:
    later = clock.now() + timedelta(days=3)
    deposit(platform, world, visible_to_holder_from=later)
    sender = worker(platform, smtp)
    assert sender.run(once=True).sent == 0
    with platform.transaction() as session:
        access = as_holder(session, platform, world.record)
        assert access.notifications(world.record.id) == []
        assert access.mark_notifications_read(world.record.id) == 0
    clock.advance(timedelta(days=3))
    assert sender.run(once=True).sent == 1 and smtp.inbox.messages[0]["Date"] is not None
    with platform.transaction() as session:
        (shown,) = as_holder(session, platform, world.record).notifications(world.record.id)
        assert shown.kind == "document.new" and shown.shown_from == later


def test_a_new_version_by_a_professional_is_news_and_the_holder_s_own_deposits_are_not(
    platform: Platform, world: World
) -> None:
    first = deposit(platform, world)
    with platform.transaction() as session:
        as_professional(session, platform, world.biologist).replace(
            first, professional_draft(DocumentType.laboratory_report, "Bilan Zorglub v2"), [PDF])
        as_holder(session, platform, world.record).deposit(
            world.record.id, professional_draft(DocumentType.personal_document, "Mon carnet"), [PDF])
    with platform.sessions() as session:
        news = session.scalars(select(Notification).order_by(Notification.created_at)).all()
        assert [n.kind for n in news] == ["document.new", "document.new"]
        assert news[1].details["replaces"] == str(first)
    assert len(outbox(platform)) == 2


def test_two_workers_share_the_work_and_a_dead_one_s_claims_are_taken_over(
    platform: Platform, world: World, smtp: SmtpServer, clock: FrozenClock
) -> None:
    platform.settings.outbox_batch_size = 2
    for n in range(5):
        deposit(platform, world, title=f"Bilan Zorglub {n}")
    run_jobs(platform)  # the notifications' fan-out writes their e-mails
    first, second = worker(platform, smtp), worker(platform, smtp)
    tally = Tally()
    with first, second:
        assert first.key != second.key
        mine, theirs = first.claim(), second.claim()
        assert len(mine) == len(theirs) == 2 and not {c.id for c in mine} & {c.id for c in theirs}
        fifth = second.claim()  # what is left: the first worker is alive, its claims stay its own
        assert len(fifth) == 1 and fifth[0].id not in {c.id for c in mine}
        for claim in theirs + fifth:
            second.deliver(claim, tally)
        assert tally.sent == 3 and len(smtp.inbox.messages) == 3
        # The first worker dies with its two claims unsent: the second takes them over at once, not at lease end.
        first.liveness.release()
        second.drain(tally)
        assert tally.sent == 5 and second.claim() == []
        rows = {r.id: r for r in outbox(platform)}
        assert all((rows[c.id].state, rows[c.id].attempts) == (DeliveryState.sent, 2) for c in mine)
        # Had the first worker been alive after all, its late outcome is refused: the claim is no longer its own.
        late = Tally()
        first.deliver(mine[0], late)
        assert (late.claims_lost, late.sent) == (1, 0)
    assert {r.state for r in outbox(platform)} == {DeliveryState.sent}
    # Five messages, and the late worker's copy of one: the residual window docs/notifications.md describes.
    assert len(smtp.inbox.messages) == 6 and len({m["Message-ID"] for m in smtp.inbox.messages}) == 5


def test_a_stuck_worker_s_lease_expires_on_the_clock(
    platform: Platform, world: World, smtp: SmtpServer, clock: FrozenClock
) -> None:
    deposit(platform, world)
    run_jobs(platform)
    stuck, other = worker(platform, smtp), worker(platform, smtp)
    with stuck, other:
        (claim,) = stuck.claim()
        assert other.claim() == []  # alive and within its lease
        clock.advance(stuck.lease - timedelta(seconds=1))
        assert other.claim() == []
        clock.advance(timedelta(seconds=1))
        (again,) = other.claim()
        assert (again.id, again.attempt) == (claim.id, 2) and again.message_id == claim.message_id
        other.deliver(again, Tally())
    assert outbox(platform)[0].state is DeliveryState.sent and len(smtp.inbox.messages) == 1


def test_without_a_mail_server_the_e_mails_are_written_to_a_folder(
    platform: Platform, world: World, clock: FrozenClock
) -> None:
    from opendsp.accounts.mailer import transport_from_settings

    assert platform.settings.smtp_host is None
    folder = transport_from_settings(platform.settings)
    assert isinstance(folder, MailFolder) and folder.path == platform.settings.var_dir / "mail"
    deposit(platform, world)
    assert OutboxWorker(platform, folder).run(once=True).sent == 1
    (written,) = sorted(folder.path.glob("*.eml"))
    import email
    import email.policy

    message = email.message_from_bytes(written.read_bytes(), policy=email.policy.default)
    (row,) = outbox(platform)
    assert message["Message-ID"] == row.message_id and message["To"] == "berthe@example.lu"
    assert "Zorglub" not in written.read_text()
    # The same message delivered again (a worker killed after writing) is the same file, not a second one.
    folder.deliver(message)  # type: ignore[arg-type]
    assert sorted(folder.path.glob("*")) == [written]


def test_the_schema_of_the_migrations_is_the_schema_of_the_models(platform: Platform) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from opendsp.models import Base

    assert platform.engine is not None
    with platform.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []


def test_on_postgresql_a_row_being_claimed_elsewhere_is_skipped_not_waited_for(
    platform: Platform, world: World, smtp: SmtpServer
) -> None:
    import threading

    assert platform.engine is not None
    if platform.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer: claims queue behind each other (BEGIN IMMEDIATE)")
    deposit(platform, world)
    deposit(platform, world)
    busy, free = outbox(platform)
    claimed: list[list[object]] = []
    sender = worker(platform, smtp)
    with platform.engine.connect() as other, sender:
        # Another worker's claim transaction, still open, holds one row.
        other.execute(select(OutboxMessage.id).where(OutboxMessage.id == busy.id).with_for_update())
        thread = threading.Thread(target=lambda: claimed.append(sender.claim()))  # type: ignore[arg-type]
        thread.start()
        thread.join(timeout=30)
        assert not thread.is_alive(), "the claim waited for the locked row instead of skipping it"
        other.rollback()
    assert [c.id for c in claimed[0]] == [free.id]  # type: ignore[attr-defined]


def test_on_postgresql_a_worker_that_loses_the_connection_holding_its_lock_takes_a_new_one(
    platform: Platform, world: World, smtp: SmtpServer
) -> None:
    from sqlalchemy import text

    from opendsp.notifications.worker import ADVISORY_NAMESPACE, PostgresLiveness

    assert platform.engine is not None
    if platform.engine.dialect.name != "postgresql":
        pytest.skip("SQLite workers hold a file lock, not a connection")
    held = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = :ns AND objid = :key")
    sender = worker(platform, smtp)
    with sender, platform.engine.connect() as admin:
        assert isinstance(sender.liveness, PostgresLiveness) and sender.liveness._connection is not None
        pid = sender.liveness._connection.execute(text("SELECT pg_backend_pid()")).scalar()
        sender.liveness._connection.commit()
        admin.execute(text("SELECT pg_terminate_backend(:pid, 10000)"), {"pid": pid})
        admin.commit()
        deposit(platform, world)
        run_jobs(platform)
        assert len(sender.claim()) == 1  # noticed before claiming: a new connection, the lock taken again
        assert admin.execute(held, {"ns": ADVISORY_NAMESPACE, "key": sender.key}).scalar() == 1
        admin.commit()

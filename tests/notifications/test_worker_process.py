"""`opendsp worker` as a real process against a real SMTP server: killed (SIGKILL) in the middle of a send
and restarted, every message arrives once; SIGTERM lets it finish the message it is sending, then stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from opendsp.clock import FrozenClock
from opendsp.documents.types import DocumentType
from opendsp.notifications.models import DeliveryState
from opendsp.notifications.worker import ADVISORY_NAMESPACE
from opendsp.platform import Platform
from opendsp.professionals.models import OrganisationKind
from opendsp.records.services import record_of
from tests.factories import PDF, as_professional, make_organisation, make_professional, professional_draft
from tests.notifications.helpers import SmtpServer, outbox, person_with_account

pytestmark = pytest.mark.slow


def environment(platform: Platform, smtp: SmtpServer) -> dict[str, str]:
    settings = platform.settings
    return {
        **os.environ,
        "OPENDSP_DATABASE_URL": settings.database_url, "OPENDSP_VAR_DIR": str(settings.var_dir),
        "OPENDSP_SMTP_HOST": "127.0.0.1", "OPENDSP_SMTP_PORT": str(smtp.port), "OPENDSP_SMTP_FROM": settings.smtp_from,
        "OPENDSP_PUBLIC_BASE_URL": settings.public_base_url, "OPENDSP_OUTBOX_POLL_SECONDS": "0.2",
        "OPENDSP_SMTP_TIMEOUT_SECONDS": "60",
    }


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "opendsp.cli", "worker", *args]


def three_documents(platform: Platform, clock: FrozenClock) -> None:
    """Three e-mails to send: three documents deposited in the record of a holder with an address."""
    clock.current = datetime.now(UTC) - timedelta(minutes=1)  # due for a worker on the system clock
    with platform.transaction() as session:
        holder = person_with_account(session, platform, email="berthe@example.lu", given_name="Berthe", record=True)
        record = record_of(session, holder.id)
        lab = make_organisation(session, platform, OrganisationKind.laboratory)
        biologist = make_professional(session, platform, profession="laboratory_biologist", specialties=(),
                                      organisation=lab)
        assert record is not None
        for n in range(3):
            as_professional(session, platform, biologist).deposit(
                record.id, professional_draft(DocumentType.laboratory_report, f"Bilan {n}"), [PDF])
    assert len(outbox(platform)) == 3


def wait_until_released(platform: Platform, key: int) -> None:
    """PostgreSQL drops a dead client's advisory lock when it sees the connection close; wait for that."""
    assert platform.engine is not None
    if platform.engine.dialect.name != "postgresql":
        return
    deadline = time.monotonic() + 30
    with platform.engine.connect() as connection:
        while time.monotonic() < deadline:
            held = connection.execute(text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = :ns AND objid = :key"
            ), {"ns": ADVISORY_NAMESPACE, "key": key}).scalar()
            connection.commit()
            if not held:
                return
            time.sleep(0.05)
    raise AssertionError(f"the advisory lock of worker {key} outlived its process")


def test_a_worker_killed_mid_send_and_restarted_sends_each_message_once(
    platform: Platform, clock: FrozenClock, smtp: SmtpServer
) -> None:
    three_documents(platform, clock)
    env = environment(platform, smtp)
    smtp.inbox.hold_next.set()  # the first transaction stops after RCPT: the worker is in the middle of a send
    killed = subprocess.Popen(command("--once"), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert smtp.inbox.holding.wait(60), "the worker never reached the mail server"
        claimed = outbox(platform)
        assert {r.state for r in claimed} == {DeliveryState.sending} and len({r.claimed_by for r in claimed}) == 1
        killed.send_signal(signal.SIGKILL)
        killed.communicate(timeout=30)
    finally:
        killed.kill()
    assert killed.returncode == -signal.SIGKILL
    key = claimed[0].claimed_by
    assert key is not None
    wait_until_released(platform, key)
    smtp.inbox.release.set()  # the server's side of the dead connection ends; its DATA never came
    assert smtp.inbox.messages == []

    # Restarted: the dead worker's claims are taken over at once (its lease has not expired), each sent once.
    restarted = subprocess.run(command("--once"), env=env, capture_output=True, text=True, timeout=120)
    assert restarted.returncode == 0, restarted.stderr
    assert "3 sent, 0 to retry, 0 given up" in restarted.stdout
    rows = outbox(platform)
    assert {(r.state, r.attempts) for r in rows} == {(DeliveryState.sent, 2)}
    assert sorted(m["Message-ID"] for m in smtp.inbox.messages) == sorted(r.message_id for r in rows)
    assert "stopped while sending" in restarted.stderr and "berthe@" not in restarted.stderr
    if platform.engine is not None and platform.engine.dialect.name == "sqlite":
        database = Path(platform.settings.database_url.removeprefix("sqlite:///"))
        assert list(Path(f"{database}.workers").iterdir()) == []  # the dead worker's lock file is cleared too


def test_sigterm_lets_the_worker_finish_its_message_and_stop(
    platform: Platform, clock: FrozenClock, smtp: SmtpServer
) -> None:
    from tests.deploy.processes import free_port, probe, wait_ready

    three_documents(platform, clock)
    env = environment(platform, smtp)
    smtp.inbox.hold_next.set()
    health = free_port()
    ready = f"http://127.0.0.1:{health}/healthz/ready"
    running = subprocess.Popen(command("--health-port", str(health)), env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        assert smtp.inbox.holding.wait(60), "the worker never reached the mail server"
        assert wait_ready(ready, running)["process"] == "worker"  # ready, with a message in hand
        running.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        while probe(ready) != (503, {"status": "stopping", "process": "worker", "checks": {
                "database": "ok", "content_store": "ok", "master_keys": "ok"}}):
            assert time.monotonic() < deadline, probe(ready)  # stopping: no longer ready, still sending
            time.sleep(0.05)
        smtp.inbox.release.set()
        out, errors = running.communicate(timeout=60)
    finally:
        running.kill()
    assert running.returncode == 0, errors
    assert "1 sent, 0 to retry, 0 given up" in out and len(smtp.inbox.messages) == 1
    rows = outbox(platform)
    assert sorted((r.state.value, r.attempts, r.claimed_by) for r in rows) == [
        ("pending", 0, None), ("pending", 0, None), ("sent", 1, None)]  # the others handed back, untried

    again = subprocess.run(command("--once"), env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "2 sent" in again.stdout, again.stderr
    assert sorted(m["Message-ID"] for m in smtp.inbox.messages) == sorted(r.message_id for r in outbox(platform))
    with platform.sessions() as session:
        from opendsp.notifications.models import OutboxMessage

        assert session.scalar(select(func.count()).select_from(OutboxMessage)
                              .where(OutboxMessage.state != DeliveryState.sent)) == 0

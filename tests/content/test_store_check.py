"""``store check``: the grace it enforces, what it reports, and durable content files."""

from __future__ import annotations

import os
import uuid
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from opendsp.cli import main
from opendsp.content.keys import KeyringFileProvider
from opendsp.content.stores import LocalFolderStore
from opendsp.platform import Platform
from tests.factories import deposit_pdf, make_record


def run(platform: Platform, *args: str, **env: str) -> Result:
    environment = {"OPENDSP_DATABASE_URL": platform.settings.database_url,
                   "OPENDSP_VAR_DIR": str(platform.settings.var_dir), **env}
    return CliRunner().invoke(main, list(args), env=environment, catch_exceptions=False)


@pytest.mark.parametrize(
    ("env", "minutes", "refusal"),
    [
        ({"OPENDSP_MODE": "production"}, "0", "production never removes content without a grace"),
        ({"OPENDSP_MODE": "production"}, "14", "below the minimum of 15"),
        ({"OPENDSP_ORPHAN_GRACE_MINIMUM_MINUTES": "30"}, "29", "below the minimum of 30"),
        ({}, "-1", "0 or more"),
        # The default grace is below the minimum configured: refused too, not silently raised.
        ({"OPENDSP_ORPHAN_GRACE_MINIMUM_MINUTES": "90"}, None, "60 minutes is below the minimum of 90"),
    ],
)
def test_a_grace_below_the_minimum_is_refused_and_nothing_is_removed(
    platform: Platform, env: dict[str, str], minutes: str | None, refusal: str
) -> None:
    orphan = "records/00000000-0000-0000-0000-000000000000/left-behind"
    platform.content.blobs.put(orphan, [b"sealed bytes"])
    args = ["store", "check"] + (["--grace-minutes", minutes] if minutes is not None else [])
    result = run(platform, *args, **env)
    assert result.exit_code == 2
    assert refusal in result.output
    assert platform.content.blobs.read(orphan) == b"sealed bytes"


def test_grace_zero_is_accepted_in_development(platform: Platform) -> None:
    result = run(platform, "store", "check", "--grace-minutes", "0", "--dry-run")
    assert result.exit_code == 0, result.output


def test_production_settings_refuse_a_zero_minimum(platform: Platform) -> None:
    from opendsp.settings import InsecureSettings, Mode, Settings

    settings = Settings(mode=Mode.production, database_url="postgresql://x/y", orphan_grace_minimum_minutes=0)
    with pytest.raises(InsecureSettings, match="ORPHAN_GRACE_MINIMUM_MINUTES=0"):
        settings.check_production()


def test_verify_reports_content_whose_master_key_is_gone_instead_of_crashing(platform: Platform) -> None:
    with platform.transaction() as session:
        document = deposit_pdf(session, platform, make_record(session, platform))
    keyring = platform.keys
    assert isinstance(keyring, KeyringFileProvider)
    old = keyring.current_key_id
    keyring.add_key(platform.randomness)
    # The old key leaves the keyring although a record's key is still wrapped by it (no rotation).
    keyring._write(keyring.current_key_id, {k: keyring.key(k) for k in keyring.key_ids() if k != old})
    result = run(platform, "store", "check", "--verify")
    assert result.exit_code == 1
    assert f"UNREADABLE content: {document.content_key}" in result.output
    assert f"master key {old!r} is not in the keyring" in result.output


def test_verify_reports_missing_altered_and_unreadable_content_in_one_run_and_traces_it(platform: Platform) -> None:
    from sqlalchemy import select

    from opendsp.trace.models import TraceEntry

    with platform.transaction() as session:
        unreadable = deposit_pdf(session, platform, make_record(session, platform))
    keyring = platform.keys
    assert isinstance(keyring, KeyringFileProvider)
    old = keyring.current_key_id
    keyring.add_key(platform.randomness)
    with platform.transaction() as session:
        missing = deposit_pdf(session, platform, make_record(session, platform))
        altered = deposit_pdf(session, platform, make_record(session, platform))
        intact = deposit_pdf(session, platform, make_record(session, platform))
    content = platform.settings.var_dir / "content"
    (content / missing.content_key).unlink()
    sealed = bytearray((content / altered.content_key).read_bytes())
    sealed[30] ^= 0xFF
    (content / altered.content_key).write_bytes(bytes(sealed))
    keyring._write(keyring.current_key_id, {k: keyring.key(k) for k in keyring.key_ids() if k != old})
    orphan = "records/00000000-0000-0000-0000-000000000000/left-behind"
    platform.content.blobs.put(orphan, [b"sealed bytes"])

    result = run(platform, "store", "check", "--verify", "--dry-run", "--grace-minutes", "0")
    assert result.exit_code == 1
    assert f"MISSING content for document: {missing.content_key}" in result.output
    assert f"ALTERED content: {altered.content_key}" in result.output
    assert f"UNREADABLE content: {unreadable.content_key}" in result.output
    assert intact.content_key not in result.output
    assert "would remove 1 orphans" in result.output
    assert platform.content.blobs.read(orphan) == b"sealed bytes"  # --dry-run removes nothing

    with platform.sessions() as session:
        entries = session.scalars(select(TraceEntry).where(TraceEntry.action.in_(["content.check", "content.verify"]))
                                  .order_by(TraceEntry.id)).all()
    checks = [entry for entry in entries if entry.action == "content.check"]
    assert len(checks) == 1 and checks[0].chain == "platform" and checks[0].record_id is None
    assert {k: checks[0].context[k] for k in ("orphans", "missing", "altered", "unreadable", "removing")} == {
        "orphans": 1, "missing": 1, "altered": 1, "unreadable": 1, "removing": False}  # found, left in place
    verified = {entry.record_id: entry.context["documents"] for entry in entries if entry.action == "content.verify"}
    # The holders whose documents the platform opened are told; nothing was opened of the missing one.
    assert verified == {unreadable.record_id: 1, altered.record_id: 1, intact.record_id: 1}


def test_a_blob_is_made_durable_in_its_folder_after_the_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[Path] = []
    real_fsync = os.fsync

    def recording_fsync(descriptor: int) -> None:
        if stat.S_ISDIR(os.fstat(descriptor).st_mode):
            synced.append(Path(os.readlink(f"/proc/self/fd/{descriptor}")))
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    store = LocalFolderStore(tmp_path / "content")
    store.put("records/r1/c1", [b"sealed"])
    root = (tmp_path / "content").resolve()
    # The blob's folder, and the folders created for it in their parents.
    assert synced == [root / "records/r1", root / "records", root]
    synced.clear()
    store.put("records/r1/c2", [b"sealed"])
    assert synced == [root / "records/r1"]


def _postgresql_only(platform: Platform) -> None:
    if platform.settings.database_kind == "sqlite":
        # SQLite: store check waits for the deposit's write lock, so it cannot look in between.
        pytest.skip("on SQLite a check cannot run while a deposit is open")


def test_a_blob_written_but_not_yet_committed_is_left_alone_even_with_grace_zero(platform: Platform) -> None:
    _postgresql_only(platform)
    from datetime import UTC, datetime, timedelta

    from opendsp.records.models import Record

    platform.clock.current = datetime.now(UTC) + timedelta(hours=2)  # type: ignore[attr-defined]
    with platform.transaction() as session:
        record_id = make_record(session, platform).id
    with platform.transaction() as session:
        document = deposit_pdf(session, platform, session.get(Record, record_id))  # type: ignore[arg-type]
        # The blob is in place, the document not committed: what the old check deleted.
        with platform.transaction() as other:
            report = platform.content.check(other, grace=timedelta(0))
        assert report.orphans_removed == [] and document.content_key in report.orphans_too_recent
    with platform.sessions() as session:
        from tests.factories import read_as_holder

        assert read_as_holder(session, platform, document)


def test_a_deposit_whose_pending_content_was_taken_back_fails_before_writing(platform: Platform) -> None:
    _postgresql_only(platform)
    from opendsp.content import pending
    from opendsp.content.models import PendingContent

    with platform.sessions() as session:
        now = platform.clock.now()
        record_id = uuid.uuid4()
        pending.register(session, key="records/r/c", record_id=record_id, now=now)
        assert pending.take_back(session, ["records/r/c"], before=now) == ["records/r/c"]
        with pytest.raises(pending.PendingContentLost):
            pending.claim(session, key="records/r/c", record_id=record_id)
        session.rollback()
        assert session.query(PendingContent).count() == 0


def test_a_failed_deposit_leaves_no_pending_content(platform: Platform) -> None:
    from opendsp.content.models import PendingContent

    with platform.transaction() as session:
        record = make_record(session, platform)
    with pytest.raises(RuntimeError), platform.transaction() as session:
        deposit_pdf(session, platform, record)
        raise RuntimeError("the request fails after the deposit")
    with platform.sessions() as session:
        assert session.query(PendingContent).count() == 0
    assert list(platform.content.blobs.list("records/")) == []

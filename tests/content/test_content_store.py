"""Sealed content through the real services, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from opendsp.content.keys import KeyringFileProvider
from opendsp.content.models import RecordKey
from opendsp.content.service import ContentUnavailable
from opendsp.documents.models import Document
from opendsp.platform import Platform
from tests.factories import PDF, deposit_pdf, make_record, read_as_holder


def blob_path(platform: Platform, document: Document) -> Path:
    return platform.settings.var_dir / "content" / document.content_key


def test_content_is_sealed_at_rest_and_reads_back(platform: Platform) -> None:
    with platform.transaction() as session:
        record = make_record(session, platform)
        document = deposit_pdf(session, platform, record)
    stored = blob_path(platform, document).read_bytes()
    assert b"test document" not in stored
    assert document.content_key.startswith(f"records/{record.id}/")
    with platform.sessions() as session:
        assert read_as_holder(session, platform, document) == PDF
    assert document.size == len(PDF)


def test_altered_blob_is_refused_on_read_and_reported_by_check(platform: Platform) -> None:
    with platform.transaction() as session:
        document = deposit_pdf(session, platform, make_record(session, platform))
    path = blob_path(platform, document)
    data = bytearray(path.read_bytes())
    data[30] ^= 0xFF
    path.write_bytes(bytes(data))
    with platform.sessions() as session, pytest.raises(ContentUnavailable, match="altered"):
        read_as_holder(session, platform, document)
    with platform.transaction() as session:
        report = platform.content.check(session, grace=timedelta(0), verify=True)
    assert report.broken_content == [document.content_key]
    assert not report.healthy


def test_content_not_matching_its_recorded_hash_is_refused(platform: Platform) -> None:
    with platform.transaction() as session:
        document = deposit_pdf(session, platform, make_record(session, platform))
        session.execute(update(Document).where(Document.id == document.id).values(sha256="0" * 64))
    with platform.sessions() as session:
        changed = session.get(Document, document.id)
        assert changed is not None
        with pytest.raises(ContentUnavailable, match="hash"):
            read_as_holder(session, platform, changed)


def test_a_blob_moved_to_another_documents_place_does_not_open(platform: Platform) -> None:
    with platform.transaction() as session:
        record = make_record(session, platform)
        first = deposit_pdf(session, platform, record)
        second = deposit_pdf(session, platform, record, content=PDF)
    blob_path(platform, second).write_bytes(blob_path(platform, first).read_bytes())
    with platform.sessions() as session, pytest.raises(ContentUnavailable):
        read_as_holder(session, platform, second)


class InjectedFailure(Exception):
    pass


def test_failed_deposit_leaves_no_document_and_no_blob(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    with platform.transaction() as session:
        record = make_record(session, platform)

    def broken_append(*_args: object, **_kwargs: object) -> None:
        raise InjectedFailure("the trace could not be written")

    monkeypatch.setattr(platform.trace, "append", broken_append)
    with pytest.raises(InjectedFailure), platform.transaction() as session:
        deposit_pdf(session, platform, session.merge(record))
    with platform.sessions() as session:
        assert session.scalars(select(Document)).all() == []
    assert list(platform.content.blobs.list("records/")) == []


def test_interrupted_deposit_orphan_is_removed_by_the_next_check(platform: Platform, clock) -> None:  # type: ignore[no-untyped-def]
    # Blob ages come from the store's own timestamps, so start the clock at the real time.
    clock.current = datetime.now(UTC)
    with platform.transaction() as session:
        record = make_record(session, platform)
        kept = deposit_pdf(session, platform, record)
    # A process that dies after writing content and before committing leaves a blob
    # behind without running any rollback hook: simulate exactly that.
    with platform.sessions() as session:
        session.begin()
        orphan = platform.content.put(session, record.id, [b"%PDF-1.4 never committed"])
        session.info["on_rollback"].clear()
        session.rollback()
    keys = {blob.key for blob in platform.content.blobs.list("records/")}
    assert keys == {kept.content_key, orphan.key}

    with platform.transaction() as session:
        young = platform.content.check(session, grace=timedelta(hours=1))
    assert young.orphans_too_recent == [orphan.key] and young.orphans_removed == []

    clock.advance(timedelta(days=1))
    with platform.transaction() as session:
        report = platform.content.check(session, grace=timedelta(hours=1))
    assert report.orphans_removed == [orphan.key]
    assert {blob.key for blob in platform.content.blobs.list("records/")} == {kept.content_key}
    assert report.healthy


def test_rotation_rewraps_data_keys_without_touching_content(platform: Platform) -> None:
    with platform.transaction() as session:
        document = deposit_pdf(session, platform, make_record(session, platform))
    blob_before = blob_path(platform, document).read_bytes()
    keyring = platform.keys
    assert isinstance(keyring, KeyringFileProvider)
    old_key_id = keyring.current_key_id
    new_key_id = keyring.add_key(platform.randomness)

    with platform.transaction() as session:
        assert platform.content.rotate(session) == 1
    with platform.sessions() as session:
        row = session.get(RecordKey, document.record_id)
        assert row is not None and row.master_key_id == new_key_id != old_key_id
    assert blob_path(platform, document).read_bytes() == blob_before

    # The old master key can now be retired: content still opens with the new one alone.
    keyring._keys.pop(old_key_id)
    with platform.sessions() as session:
        assert read_as_holder(session, platform, document) == PDF
    with platform.transaction() as session:
        assert platform.content.rotate(session) == 0


def test_destroying_a_record_key_makes_its_content_unreadable(platform: Platform) -> None:
    with platform.transaction() as session:
        document = deposit_pdf(session, platform, make_record(session, platform))
    with platform.transaction() as session:
        platform.content.destroy_key(session, document.record_id)
    with platform.sessions() as session:
        row = session.scalars(select(RecordKey)).one()
        assert row.wrapped_key is None and row.destroyed_at is not None
        with pytest.raises(ContentUnavailable, match="destroyed"):
            read_as_holder(session, platform, document)

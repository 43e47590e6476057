"""Signed checkpoints anchor the trace outside the database: what a chain walk alone misses is named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from opendsp.cli import main
from opendsp.clock import FrozenClock, SeededRandomness
from opendsp.platform import Platform
from opendsp.records.models import Record
from opendsp.trace.anchoring import verify_anchored
from opendsp.trace.checkpointer import checkpoint_log, signing_key
from opendsp.trace.checkpoints import (
    CheckpointInvalid,
    CheckpointLog,
    CheckpointRefused,
    Head,
    checkpoint_name,
    write_checkpoint,
)
from opendsp.trace.models import TraceCheckpoint
from opendsp.trace.service import entry_fields, hash_fields
from opendsp.trace.signing import create_key
from opendsp.trace.sinks import CheckpointExists, FolderSink
from tests.factories import deposit_pdf, make_record
from tests.trace.test_trace import chain_entries, record_with_history, tamper


def checkpoint(platform: Platform, *, full_every: int = 1440) -> CheckpointLog:
    signer = signing_key(platform.settings, platform.randomness, platform.clock, say=lambda _: None)
    log = checkpoint_log(platform.settings, platform.clock)
    with platform.transaction() as session:
        write_checkpoint(session=session, log=log, signer=signer, clock=platform.clock, full_every=full_every)
    return log


def report(platform: Platform):  # type: ignore[no-untyped-def]
    log = checkpoint_log(platform.settings, platform.clock)
    state = log.state()
    with platform.sessions() as session:
        return verify_anchored(session, [state] if state else [])


def cli(platform: Platform, monkeypatch: pytest.MonkeyPatch, *args: str):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("OPENDSP_DATABASE_URL", platform.settings.database_url)
    monkeypatch.setenv("OPENDSP_VAR_DIR", str(platform.settings.var_dir))
    return CliRunner().invoke(main, list(args))


def test_a_checkpoint_is_signed_written_once_and_noted(platform: Platform, clock: FrozenClock) -> None:
    record = record_with_history(platform)
    log = checkpoint(platform)
    state = log.state()
    assert state is not None and state.number == 1
    with platform.sessions() as session:
        last = chain_entries(session, record)[-1]
        noted = session.scalars(select(TraceCheckpoint)).one()
    assert state.head_of(str(record.id)) == Head(str(record.id), last.seq, last.hash)
    assert noted.number == 1 and noted.root_hash == state.checkpoint.root_hash
    sink = log.sink
    assert isinstance(sink, FolderSink)
    with pytest.raises(CheckpointExists):
        sink.write(checkpoint_name(1), b"something else")
    assert json.loads(sink.read(checkpoint_name(1)))["statement"]["number"] == 1
    assert report(platform).intact


def test_later_checkpoints_list_only_the_heads_that_moved(platform: Platform) -> None:
    first = record_with_history(platform)
    checkpoint(platform)
    with platform.transaction() as session:
        second = make_record(session, platform)
    log = checkpoint(platform, full_every=3)
    delta = log.read(2)
    moved = {head.chain for head in delta.heads}
    assert str(second.id) in moved and str(first.id) not in moved and delta.base == 1
    state = log.state()
    assert state is not None and state.head_of(str(first.id)) is not None and state.head_of(str(second.id))
    checkpoint(platform, full_every=3)  # number 3 = base 1 + 2: still a delta
    assert checkpoint(platform, full_every=3).read(4).base == 4  # a full one again
    assert checkpoint_log(platform.settings, platform.clock).state() is not None


def test_an_altered_checkpoint_file_is_refused(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    record_with_history(platform)
    log = checkpoint(platform)
    path = Path(platform.settings.checkpoint_sink.removeprefix("file:")) / checkpoint_name(1)
    document = json.loads(path.read_bytes())
    document["heads"][0][1] += 1
    path.chmod(0o644)
    path.write_text(json.dumps(document))
    with pytest.raises(CheckpointInvalid, match="not those it signed"):
        CheckpointLog(log.sink, log.public_key).state()
    document["statement"]["heads_digest"] = "0" * 64
    path.write_text(json.dumps(document))
    with pytest.raises(CheckpointInvalid, match="signature does not match"):
        CheckpointLog(log.sink, log.public_key).state()
    result = cli(platform, monkeypatch, "trace", "verify")
    assert result.exit_code == 1 and "checkpoint REFUSED" in result.output
    result = cli(platform, monkeypatch, "trace", "checkpoint")  # nothing is built on a checkpoint it cannot trust
    assert result.exit_code == 1 and checkpoint_log(platform.settings, platform.clock).numbers() == [1]


def test_a_checkpoint_signed_with_another_key_is_refused(platform: Platform, tmp_path: Path) -> None:
    record_with_history(platform)
    log = checkpoint(platform)
    other = create_key(tmp_path / "other.key", tmp_path / "other.key.pub", SeededRandomness(99))
    with pytest.raises(CheckpointInvalid, match="another key"):
        CheckpointLog(log.sink, other.public_key()).state()


def _rewrite_consistently(platform: Platform, record: Record) -> None:
    """A superuser rewrites an entry and re-hashes the rest of the chain and its head: the walk sees nothing."""
    with platform.sessions() as session:
        entries = chain_entries(session, record)
    statements, previous = [], entries[0].prev_hash
    for index, entry in enumerate(entries):
        if index == 2:
            entry.actor_display = "someone else"
        entry.prev_hash = previous
        fields = entry_fields(entry)
        entry.hash = hash_fields(fields)
        previous = entry.hash
        statements.append(f"UPDATE trace_entries SET actor_display = '{entry.actor_display}', "
                          f"prev_hash = '{entry.prev_hash}', hash = '{entry.hash}' WHERE id = {entry.id}")
    statements.append(f"UPDATE trace_chain_heads SET last_hash = '{previous}' WHERE chain = '{record.id}'")
    tamper(platform, *statements)


def _break(platform: Platform, record: Record, how: str) -> None:
    with platform.sessions() as session:
        entries = chain_entries(session, record)
    chain = str(record.id)
    if how == "whole chain deleted with its head":
        tamper(platform, f"DELETE FROM trace_entries WHERE chain = '{chain}'",
               f"DELETE FROM trace_chain_heads WHERE chain = '{chain}'")
    elif how == "tail cut and head rewound":
        kept = entries[2]
        tamper(platform, f"DELETE FROM trace_entries WHERE chain = '{chain}' AND seq > {kept.seq}",
               f"UPDATE trace_chain_heads SET last_seq = {kept.seq}, last_hash = '{kept.hash}' "
               f"WHERE chain = '{chain}'")
    elif how == "reordered":
        second, third = entries[1], entries[2]
        tamper(platform, f"UPDATE trace_entries SET seq = -1 WHERE id = {second.id}",
               f"UPDATE trace_entries SET seq = {second.seq} WHERE id = {third.id}",
               f"UPDATE trace_entries SET seq = {third.seq} WHERE id = {second.id}")
    elif how == "altered":
        tamper(platform, f"UPDATE trace_entries SET reason = 'nothing happened' WHERE id = {entries[2].id}")
    elif how == "rewritten and re-hashed":
        _rewrite_consistently(platform, record)
    else:
        raise AssertionError(how)


TAMPERING = [
    ("whole chain deleted with its head", "the whole chain was removed with its head", False),
    ("tail cut and head rewound", "its tail was cut: entries 4..5 are gone", False),
    ("reordered", "reordered", True),
    ("altered", "content was altered", True),
    ("rewritten and re-hashed", "are not those checkpoint 1", False),
]


@pytest.mark.parametrize(("how", "named", "walk_sees_it"), TAMPERING)
def test_verify_names_what_was_done_since_the_checkpoint(platform: Platform, monkeypatch: pytest.MonkeyPatch,
                                                         how: str, named: str, walk_sees_it: bool) -> None:
    record = record_with_history(platform)
    with platform.transaction() as session:
        bystander = make_record(session, platform)
    checkpoint(platform)
    with platform.transaction() as session:  # acts after the checkpoint are fine
        deposit_pdf(session, platform, session.get(Record, bystander.id))
    assert cli(platform, monkeypatch, "trace", "verify").exit_code == 0

    _break(platform, record, how)
    result = cli(platform, monkeypatch, "trace", "verify")
    assert result.exit_code == 1, result.output
    assert f"chain {record.id}" in result.output and named in result.output
    assert str(bystander.id) not in result.output
    with platform.sessions() as session:
        from opendsp.trace.service import verify

        assert verify(session).intact is not walk_sees_it  # what the database alone would have said


def test_a_record_whose_chain_was_removed_is_named_even_before_any_checkpoint(
        platform: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    record = record_with_history(platform)
    _break(platform, record, "whole chain deleted with its head")
    result = cli(platform, monkeypatch, "trace", "verify")
    assert result.exit_code == 1
    assert f"chain {record.id} at position 0: the record has no trace chain" in result.output


def test_a_rewound_head_is_named_even_when_the_entries_stay(platform: Platform, monkeypatch) -> None:
    record = record_with_history(platform)
    checkpoint(platform)
    with platform.sessions() as session:
        third = chain_entries(session, record)[2]
    tamper(platform, f"UPDATE trace_chain_heads SET last_seq = {third.seq}, last_hash = '{third.hash}' "
                     f"WHERE chain = '{record.id}'")
    result = cli(platform, monkeypatch, "trace", "verify")
    assert result.exit_code == 1 and "its head was rewound to position 3" in result.output


@pytest.mark.parametrize("how", ["whole chain deleted with its head", "tail cut and head rewound",
                                 "rewritten and re-hashed"])
def test_the_checkpointer_never_signs_a_trace_gone_back(platform: Platform, monkeypatch: pytest.MonkeyPatch,
                                                        how: str) -> None:
    record = record_with_history(platform)
    checkpoint(platform)
    _break(platform, record, how)
    with platform.transaction() as session:  # the rewritten chain moves on, as if nothing happened
        if how == "rewritten and re-hashed":
            deposit_pdf(session, platform, session.get(Record, record.id))
    with pytest.raises(CheckpointRefused, match=f"chain {record.id}"):
        checkpoint(platform)
    result = cli(platform, monkeypatch, "trace", "checkpoint")
    assert result.exit_code == 1 and "not signed: since checkpoint 1" in result.output
    assert checkpoint_log(platform.settings, platform.clock).numbers() == [1]


def test_verify_against_every_checkpoint(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    record = record_with_history(platform)
    checkpoint(platform)
    with platform.transaction() as session:
        deposit_pdf(session, platform, session.get(Record, record.id))
    checkpoint(platform)
    result = cli(platform, monkeypatch, "trace", "verify", "--all-checkpoints")
    assert result.exit_code == 0 and "checked against checkpoint 2" in result.output
    _break(platform, record, "tail cut and head rewound")
    result = cli(platform, monkeypatch, "trace", "verify", "--all-checkpoints")
    assert result.exit_code == 1 and "checkpoint 1 of" in result.output and "checkpoint 2 of" in result.output


def test_the_cli_writes_checkpoints_and_says_when_none_exists(platform: Platform,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    record_with_history(platform)
    result = cli(platform, monkeypatch, "trace", "verify")
    assert result.exit_code == 0 and "no checkpoint written yet" in result.output
    result = cli(platform, monkeypatch, "trace", "checkpoint")
    assert result.exit_code == 0, result.output
    assert "checkpoint 1 written" in result.output and "created a new checkpoint signing key" in result.output
    assert "checkpoint 2 written" in cli(platform, monkeypatch, "trace", "checkpoint").output
    result = cli(platform, monkeypatch, "trace", "verify")
    assert result.exit_code == 0 and "checked against checkpoint 2" in result.output


def test_production_never_makes_a_key_on_its_own(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENDSP_MODE", "production")
    result = cli(platform, monkeypatch, "trace", "checkpoint")
    assert result.exit_code == 2 and "opendsp trace new-key" in result.output
    assert not platform.settings.checkpoint_key_file.exists()  # type: ignore[union-attr]


def test_a_lost_key_is_not_silently_replaced(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    record_with_history(platform)
    checkpoint(platform)
    platform.settings.checkpoint_key_file.unlink()  # type: ignore[union-attr]
    result = cli(platform, monkeypatch, "trace", "checkpoint")
    assert result.exit_code == 2 and "restore the key" in result.output


def test_the_database_refuses_to_rewind_or_delete_a_head(platform: Platform) -> None:
    record = record_with_history(platform)
    assert platform.engine is not None
    forbidden = [
        f"UPDATE trace_chain_heads SET last_seq = last_seq - 1 WHERE chain = '{record.id}'",
        f"UPDATE trace_chain_heads SET last_seq = last_seq + 1 WHERE chain = '{record.id}'",  # onto no entry
        f"UPDATE trace_chain_heads SET last_hash = '{'f' * 64}' WHERE chain = '{record.id}'",
        f"DELETE FROM trace_chain_heads WHERE chain = '{record.id}'",
        "INSERT INTO trace_chain_heads (chain, last_seq, last_hash) VALUES ('invented', 7, '" + "a" * 64 + "')",
        "UPDATE trace_checkpoints SET root_hash = 'x'",
        "DELETE FROM trace_checkpoints",
    ]
    checkpoint(platform)
    for statement in forbidden:
        with pytest.raises(DBAPIError, match="only moves forward|append-only"), platform.engine.begin() as c:
            c.execute(text(statement))


def test_a_long_lived_log_follows_new_checkpoints_from_its_cache(platform: Platform) -> None:
    """The server keeps one log per process: it reads only the checkpoints written since, and checks them."""
    record = record_with_history(platform)
    checkpoint(platform)
    server_side = checkpoint_log(platform.settings, platform.clock)
    assert server_side.state().number == 1  # type: ignore[union-attr]
    for _ in range(2):
        with platform.transaction() as session:
            deposit_pdf(session, platform, session.get(Record, record.id))
        checkpoint(platform)
    state = server_side.state()
    with platform.sessions() as session:
        last = chain_entries(session, record)[-1]
    assert state is not None and state.number == 3
    assert state.head_of(str(record.id)) == Head(str(record.id), last.seq, last.hash)
    assert state == checkpoint_log(platform.settings, platform.clock).state()  # the same as read from scratch


def test_new_key_makes_a_private_key_once_prints_its_fingerprint_and_never_replaces_it(
        platform: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    import stat

    from opendsp.trace.signing import key_id, load_public_key

    private = platform.settings.checkpoint_key_file
    public = platform.settings.checkpoint_public_key_file
    assert private is not None and public is not None and not private.exists()
    made = cli(platform, monkeypatch, "trace", "new-key")
    assert made.exit_code == 0, made.output
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    fingerprint = key_id(load_public_key(public))
    assert fingerprint in " ".join(made.output.split()).replace(" ", "")
    before = private.read_bytes(), public.read_bytes()
    again = cli(platform, monkeypatch, "trace", "new-key")
    assert again.exit_code == 2 and "never replaced" in again.output
    assert (private.read_bytes(), public.read_bytes()) == before


def test_the_folder_sink_writes_each_checkpoint_read_only(platform: Platform) -> None:
    import stat

    record_with_history(platform)
    log = checkpoint(platform)
    sink = log.sink
    assert isinstance(sink, FolderSink)
    written = Path(platform.settings.checkpoint_sink.removeprefix("file:")) / checkpoint_name(1)
    assert stat.S_IMODE(written.stat().st_mode) == 0o444


def test_a_tick_without_database_or_sink_says_no_checkpoint_this_time_and_a_later_tick_recovers(
        platform: Platform, caplog: pytest.LogCaptureFixture) -> None:
    import logging
    import threading

    from sqlalchemy import create_engine

    from opendsp.trace.checkpointer import Checkpointer

    record_with_history(platform)
    signer = signing_key(platform.settings, platform.randomness, platform.clock, say=lambda _: None)
    checkpointer = Checkpointer(transaction=platform.transaction, log=checkpoint_log(platform.settings, platform.clock),
                                signer=signer, clock=platform.clock, every=60, stop=threading.Event())
    # The database refuses connections (port 9 on localhost: nothing listens); the same checkpointer goes on.
    unreachable = Platform(settings=platform.settings, clock=platform.clock, randomness=platform.randomness,
                           engine=create_engine("postgresql+psycopg://opendsp@127.0.0.1:9/nowhere?connect_timeout=2"))
    checkpointer.transaction = unreachable.transaction
    with caplog.at_level(logging.INFO, logger="opendsp.trace.checkpointer"):
        assert checkpointer.write_once() is None
    warned = [r for r in caplog.records if r.getMessage().startswith("no checkpoint this time: ")]
    assert len(warned) == 1 and warned[0].levelno == logging.WARNING
    checkpointer.transaction = platform.transaction
    written = checkpointer.write_once()
    assert written is not None and written.number == 1

    # The sink's folder is gone and a plain file holds its place (a mount that went away): nothing can be written.
    record_with_history(platform)  # the trace moved: a checkpoint is due
    folder = Path(platform.settings.checkpoint_sink.removeprefix("file:"))
    aside = folder.with_name(folder.name + "-away")
    folder.rename(aside)
    folder.write_bytes(b"")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="opendsp.trace.checkpointer"):
        assert checkpointer.write_once() is None
    warned = [r for r in caplog.records if r.getMessage().startswith("no checkpoint this time: ")]
    assert len(warned) == 1 and warned[0].levelno == logging.WARNING
    with platform.sessions() as session:  # nothing noted in the database for a checkpoint the sink does not hold
        assert session.scalars(select(TraceCheckpoint.number)).all() == [1]
    folder.unlink()
    aside.rename(folder)
    written = checkpointer.write_once()
    assert written is not None and written.number == 2
    assert checkpoint_log(platform.settings, platform.clock).numbers() == [1, 2]


def test_the_folder_sink_syncs_the_file_then_its_folder_before_the_checkpoint_is_reported(
        platform: Platform, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    import logging
    import os
    import stat
    import threading

    from opendsp.trace.checkpointer import Checkpointer

    record_with_history(platform)
    signer = signing_key(platform.settings, platform.randomness, platform.clock, say=lambda _: None)
    checkpointer = Checkpointer(transaction=platform.transaction, log=checkpoint_log(platform.settings, platform.clock),
                                signer=signer, clock=platform.clock, every=60, stop=threading.Event())
    folder = Path(platform.settings.checkpoint_sink.removeprefix("file:")).resolve()
    events: list[tuple[str, object]] = []
    real_fsync, real_link = os.fsync, os.link

    def recording_fsync(descriptor: int) -> None:
        path = Path(os.readlink(f"/proc/self/fd/{descriptor}"))
        if stat.S_ISDIR(os.fstat(descriptor).st_mode):
            events.append(("fsync folder", path))
        else:  # what the file holds when it is synced
            events.append(("fsync file", path.read_bytes()))
        real_fsync(descriptor)

    def recording_link(source: str, target: str | Path) -> None:
        real_link(source, target)
        events.append(("link", Path(target)))

    class Reported(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            events.append(("reported", record.getMessage()))

    reported = Reported(logging.INFO)
    logger = logging.getLogger("opendsp.trace.checkpointer")
    monkeypatch.setattr(os, "fsync", recording_fsync)
    monkeypatch.setattr(os, "link", recording_link)
    logger.addHandler(reported)
    try:
        with caplog.at_level(logging.INFO, logger=logger.name):
            written = checkpointer.write_once()
    finally:
        logger.removeHandler(reported)
    assert written is not None
    sink_events = [event for event in events if event[0] != "fsync folder" or event[1] == folder]
    assert sink_events[:3] == [("fsync file", written.to_bytes()), ("link", folder / checkpoint_name(1)),
                               ("fsync folder", folder)]
    assert [kind for kind, _ in sink_events] == ["fsync file", "link", "fsync folder", "reported"]
    assert str(sink_events[-1][1]).startswith("checkpoint 1:")

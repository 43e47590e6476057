"""The holder's signed extract, made with a permit to read the record's trace.

``RecordAccess.trace_download`` decides and traces the download (format
``signed-extract``); this module then reads the record's chain up to that
point, in a session of its own, and joins the latest checkpoint's proof for
the chain's head. Entries about a document the holder's side may not see
yet are withheld: their link hashes are given, not their content.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from opendsp.access.trace_reading import TraceReading
from opendsp.documents.models import Document
from opendsp.documents.services import NoPermit
from opendsp.policy.sql import visible_documents
from opendsp.policy.vocabulary import Action
from opendsp.trace import merkle
from opendsp.trace.checkpoints import CheckpointLog
from opendsp.trace.extract import make_extract
from opendsp.trace.models import TraceEntry
from opendsp.trace.service import entry_fields


class ExtractUnavailable(Exception):
    """No checkpoint holds this record's chain yet (it is signed within a minute or so)."""


def _document_ids(entry: TraceEntry) -> Iterable[uuid.UUID]:
    if entry.document_id:
        yield entry.document_id
    replacement = (entry.context or {}).get("new_document")
    if replacement:
        try:
            yield uuid.UUID(str(replacement))
        except ValueError:
            pass


def signed_extract(sessions: Callable[[], Session], reading: TraceReading, log: CheckpointLog,
                   made_at: str) -> bytes:
    if not reading.permit.covers(Action.read_trace, reading.record_id):
        raise NoPermit(f"no permit to read the trace of record {reading.record_id}")
    chain = str(reading.record_id)
    state = log.state()
    head = state.head_of(chain) if state else None
    if state is None or head is None:
        raise ExtractUnavailable(chain)
    # A checkpoint made since the decision may hold a few later entries: the extract reaches them too.
    upto = max(reading.upto_seq, head.seq)
    with sessions() as session:
        entries = list(session.scalars(
            select(TraceEntry).where(TraceEntry.chain == chain, TraceEntry.seq <= upto)
            .order_by(TraceEntry.seq)
        ))
        wanted = {d for entry in entries for d in _document_ids(entry)}
        visible = set(session.scalars(
            select(Document.id).where(Document.id.in_(wanted), visible_documents(reading.rule))
        )) if wanted else set()
    listed = []
    for entry in entries:
        if set(_document_ids(entry)) - visible:
            listed.append({"seq": entry.seq, "hash": entry.hash, "prev_hash": entry.prev_hash, "withheld": True})
        else:
            listed.append({"seq": entry.seq, "hash": entry.hash, "fields": entry_fields(entry)})
    position = state.index[chain]
    return make_extract(
        record=chain, chain=chain, entries=listed, anchor_seq=head.seq, anchor_hash=head.hash,
        leaf_index=position, proof=merkle.inclusion_proof(state.leaves, position),
        statement=state.checkpoint.statement, signature=state.checkpoint.signature,
        public_key=log.public_key, made_at=made_at,
    )


_logs: dict[tuple[str, str], CheckpointLog] = {}
_logs_lock = threading.Lock()


def shared_log(sink_spec: str, public_key_file: str, make: Callable[[], CheckpointLog]) -> CheckpointLog:
    """One log per sink and key for the whole process, so a checkpoint's tree is rebuilt once, not per download."""
    with _logs_lock:
        key = (sink_spec, public_key_file)
        if key not in _logs:
            _logs[key] = make()
        return _logs[key]

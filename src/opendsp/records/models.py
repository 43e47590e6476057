from __future__ import annotations

import enum
import uuid
from datetime import datetime

from typing import Any

from sqlalchemy import BigInteger, Enum, ForeignKey, String, event, inspect
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship
from sqlalchemy.orm.attributes import set_committed_value

from opendsp.db import Base, UTCDateTime, identified_within_record, new_id, record_primary_key
from opendsp.persons.models import Person


class RecordState(str, enum.Enum):
    created = "created"
    active = "active"
    closed = "closed"


# The transitions a record may take; anything else is refused.
ALLOWED_TRANSITIONS: dict[RecordState, frozenset[RecordState]] = {
    RecordState.created: frozenset({RecordState.active, RecordState.closed}),
    RecordState.active: frozenset({RecordState.closed}),
    RecordState.closed: frozenset({RecordState.active}),
}


class Record(Base):
    __tablename__ = "records"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    # The holder. One record per person is kept by ``persons.record_id`` (unique, set with the record): a lookup by
    # person reads the person, then the record by its id (docs/adr/0043-directories.md).
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id"), index=True)
    state: Mapped[RecordState] = mapped_column(Enum(RecordState, native_enum=False, length=16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reopened_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Moved forward with every change of a row the policy's grants are read from: by triggers for the tables
    # distributed by record (migration 0022), by opendsp.counters for persons and legal representations
    # (migration 0026): the access cache's key (docs/adr/0031-request-caches.md). Never written through this
    # attribute: see ``_policy_version_is_the_database_s`` below.
    policy_version: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    holder: Mapped[Person] = relationship()
    history: Mapped[list[RecordStateChange]] = relationship(
        back_populates="record", order_by="RecordStateChange.changed_at"
    )


class RecordStateChange(Base):
    """Every change of a record's state, with its date: the record's own history."""

    __tablename__ = "record_state_changes"
    __table_args__ = (record_primary_key("record_state_changes", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(default=new_id, index=True)
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("records.id", ondelete="CASCADE"))
    __mapper_args__ = identified_within_record(id)
    from_state: Mapped[RecordState | None] = mapped_column(Enum(RecordState, native_enum=False, length=16))
    to_state: Mapped[RecordState] = mapped_column(Enum(RecordState, native_enum=False, length=16))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str | None] = mapped_column(String(500))

    record: Mapped[Record] = relationship(back_populates="history")


@event.listens_for(Session, "before_flush")
def _policy_version_is_the_database_s(session: Session, _context: Any, _instances: Any) -> None:
    """A record's ``policy_version`` belongs to the counters (triggers, opendsp.counters). A detached record merged
    back into a session carries the version it was loaded with; flushed, it would rewind the counter, and a later
    change could bring a key the access cache already holds back to life with stale grants. Any such change is
    undone before the flush."""
    for instance in session.dirty:
        if isinstance(instance, Record):
            history = inspect(instance).attrs.policy_version.history
            if history.added and history.deleted:
                set_committed_value(instance, "policy_version", history.deleted[0])

"""The platform's long-lived parts, built once from the settings.

The app factory, the CLI and the tests each build one ``Platform``; services
receive what they need from it. Nothing here runs at import time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from opendsp.caches import Bounded
from opendsp.clock import Clock, Randomness, SystemClock, SystemRandomness
from opendsp.content.keys import KeyProvider, key_provider_from_settings
from opendsp.content.service import SealedContentStore
from opendsp.content.stores import BlobStore, blob_store_from_settings
from opendsp.db import make_engine, session_factory
from opendsp.policy.matrix import RightsMatrix, default_matrix, load_matrix
from opendsp.locale import formats
from opendsp.settings import Settings
from opendsp.trace.service import TraceWriter


# Session info key: how to write again the refusals of a transaction that rolls back.
PENDING_REFUSALS = "opendsp.pending_refusals"


@dataclass
class Platform:
    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    randomness: Randomness = field(default_factory=SystemRandomness)
    engine: Engine | None = None
    blob_store: BlobStore | None = None

    def __post_init__(self) -> None:
        # Every table known to the ORM in every process: a row's foreign keys are resolved at its first flush, and a
        # process that never imported the table they name (the worker: a job names a document) would fail there.
        import opendsp.models  # noqa: F401

        formats.use_zone(self.settings.time_zone)  # every time shown is shown in the platform's zone
        if self.engine is None:
            pool = {} if self.settings.database_url in ("sqlite://", "sqlite:///:memory:") else {
                "pool_size": self.settings.database_pool_size, "max_overflow": self.settings.database_max_overflow}
            self.engine = make_engine(self.settings.database_url, **pool)
        if self.blob_store is None:
            self.blob_store = blob_store_from_settings(self.settings)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        assert self.engine is not None
        return session_factory(self.engine)

    @cached_property
    def keys(self) -> KeyProvider:
        return key_provider_from_settings(self.settings, sealed_records=self._sealed_records)

    def _sealed_records(self) -> int:
        """Records whose data key a master key wraps (0 before the schema exists).

        Asked on a connection of its own outside any transaction: the caller may be
        inside one that holds SQLite's write lock, and a new transaction would wait for it.
        """
        assert self.engine is not None
        raw = self.engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute("SELECT count(*) FROM record_keys WHERE wrapped_key IS NOT NULL")
            return int(cursor.fetchone()[0])
        except self.engine.dialect.loaded_dbapi.Error as error:
            if getattr(error, "sqlstate", None) == "42P01" or "no such table" in str(error):
                return 0
            raise
        finally:
            raw.close()

    @cached_property
    def content(self) -> SealedContentStore:
        assert self.blob_store is not None
        return SealedContentStore(blobs=self.blob_store, keys=self.keys, clock=self.clock, randomness=self.randomness)

    @cached_property
    def matrix(self) -> RightsMatrix:
        """The rights matrix, validated: a bad file stops start-up with a precise message."""
        return load_matrix(self.settings.rights_matrix) if self.settings.rights_matrix else default_matrix()

    @cached_property
    def access_cache(self) -> Bounded[Any]:
        """Each record's facts and grants, by (record, policy version): ``opendsp.access.gate``."""
        return Bounded(self.settings.access_cache_size)

    @cached_property
    def caller_cache(self) -> Bounded[Any]:
        """Verified callers, by (token hash, credential epoch): ``opendsp.clients.services.Tokens``."""
        return Bounded(self.settings.caller_cache_size)

    @cached_property
    def trace(self) -> TraceWriter:
        return TraceWriter(self.clock)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: services flush, this commits (or rolls back).

        Refusals are traced in the same transaction as everything else; if the
        transaction rolls back, they are written again in one of their own, so
        that a refusal is never lost with the request that caused it.
        """
        with self.sessions() as session:
            try:
                with session.begin():
                    yield session
            except BaseException:
                pending = session.info.pop(PENDING_REFUSALS, [])
                if pending:
                    self._write_refusals(pending)
                raise
            finally:
                session.info.pop(PENDING_REFUSALS, None)

    def _write_refusals(self, pending: list[Callable[[Session], None]]) -> None:
        with self.sessions() as session, session.begin():
            for write in pending:
                write(session)

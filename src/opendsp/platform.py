"""The platform's long-lived parts, built once from the settings.

The app factory, the CLI and the tests each build one ``Platform``; services
receive what they need from it. Nothing here runs at import time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from opendsp.clock import Clock, Randomness, SystemClock, SystemRandomness
from opendsp.content.keys import KeyProvider, key_provider_from_settings
from opendsp.content.service import SealedContentStore
from opendsp.content.stores import BlobStore, blob_store_from_settings
from opendsp.db import make_engine, session_factory
from opendsp.settings import Settings
from opendsp.trace.service import TraceWriter


@dataclass
class Platform:
    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    randomness: Randomness = field(default_factory=SystemRandomness)
    engine: Engine | None = None
    blob_store: BlobStore | None = None

    def __post_init__(self) -> None:
        if self.engine is None:
            self.engine = make_engine(self.settings.database_url)
        if self.blob_store is None:
            self.blob_store = blob_store_from_settings(self.settings)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        assert self.engine is not None
        return session_factory(self.engine)

    @cached_property
    def keys(self) -> KeyProvider:
        return key_provider_from_settings(self.settings)

    @cached_property
    def content(self) -> SealedContentStore:
        assert self.blob_store is not None
        return SealedContentStore(blobs=self.blob_store, keys=self.keys, clock=self.clock, randomness=self.randomness)

    @cached_property
    def trace(self) -> TraceWriter:
        return TraceWriter(self.clock)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: services flush, this commits (or rolls back)."""
        with self.sessions() as session, session.begin():
            yield session

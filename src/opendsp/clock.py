"""Time and randomness, injected so that tests control expiry and codes."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class FrozenClock:
    """A clock that moves only when told to."""

    current: datetime = field(default_factory=lambda: datetime(2026, 1, 1, 9, 0, tzinfo=UTC))

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta


class Randomness(Protocol):
    def bytes(self, n: int) -> bytes: ...


class SystemRandomness:
    def bytes(self, n: int) -> bytes:
        return secrets.token_bytes(n)


class SeededRandomness:
    """Deterministic bytes for tests and demo data (never for production keys)."""

    def __init__(self, seed: int) -> None:
        import random

        self._random = random.Random(seed)

    def bytes(self, n: int) -> bytes:
        return self._random.randbytes(n)

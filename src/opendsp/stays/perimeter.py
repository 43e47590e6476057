"""Who is at the other end of an MLLP connection, and how much of their refusals the trace keeps.

Over mutual TLS the peer is its client certificate; a sender is believed only
when that certificate is bound to it. Over plain TCP (development only) the
peer is an address, and nothing it claims is proven.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from opendsp.clock import Clock


@dataclass(frozen=True)
class Peer:
    address: str | None
    # SHA-256 of the client certificate (TLS only): the certificate the handshake verified.
    certificate_sha256: str | None = None
    certificate_subject: str | None = None

    @property
    def host(self) -> str | None:
        return self.address.rsplit(":", 1)[0] if self.address else None

    @property
    def key(self) -> str:
        """What identifies the peer across connections: its certificate, else its host."""
        return self.certificate_sha256 or self.host or "?"

    def context(self) -> dict[str, str | None]:
        return {"peer": self.address, "certificate_sha256": self.certificate_sha256,
                "certificate_subject": self.certificate_subject}


@dataclass(frozen=True)
class Allowance:
    """Whether to write a trace entry now, and how many refusals went untraced before it."""

    trace: bool
    untraced: int = 0


class RefusalThrottle:
    """One trace entry per (peer, claimed sender) per window, so that strangers cannot fill the trace.

    Refusals of a sender proven by its certificate are always traced: that
    hospital answers for its feed. The table is bounded too: past ``max_keys``
    peers, the rest share one key.
    """

    OVERFLOW = ("*", "*")

    def __init__(self, *, clock: Clock, window: timedelta, max_keys: int = 10_000) -> None:
        self.clock = clock
        self.window = window
        self.max_keys = max_keys
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str], tuple[datetime, int]] = {}

    def allow(self, peer: Peer, claimed_sender: str) -> Allowance:
        now = self.clock.now()
        key = (peer.key, claimed_sender)
        with self._lock:
            if key not in self._windows and len(self._windows) >= self.max_keys:
                self._forget_closed_windows(now)
                if len(self._windows) >= self.max_keys:
                    key = self.OVERFLOW
            opened = self._windows.get(key)
            if opened is None or now - opened[0] >= self.window:
                self._windows[key] = (now, 0)
                return Allowance(trace=True, untraced=opened[1] if opened else 0)
            self._windows[key] = (opened[0], opened[1] + 1)
            return Allowance(trace=False)

    def _forget_closed_windows(self, now: datetime) -> None:
        # Counts of closed windows are lost here; the log line of each refusal still has them.
        for key in [key for key, (start, _) in self._windows.items() if now - start >= self.window]:
            del self._windows[key]

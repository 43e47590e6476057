"""The accounts' upkeep run by ``opendsp worker``: forgetting login and rate-limit counters nobody needs.

The worker's main loop sends e-mails; this runs beside it in its own thread,
once at start and then every ``interval``, each pass in its own transaction
(``opendsp accounts purge-throttles`` runs one pass by hand).
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from opendsp.accounts import guard
from opendsp.platform import Platform

log = logging.getLogger("opendsp.accounts.upkeep")
INTERVAL = timedelta(hours=1)


def purge_throttles(platform: Platform) -> int:
    """One pass: delete the counters idle for a day whose hold, if any, has ended."""
    with platform.transaction() as session:
        return guard.purge(session, now=platform.clock.now())


class ThrottlePurger:
    """Purges once, then every ``interval`` until ``stop`` is set; a failed pass is logged and tried again later."""

    def __init__(self, platform: Platform, *, stop: threading.Event, interval: timedelta = INTERVAL) -> None:
        self.platform = platform
        self.stop = stop
        self.interval = interval

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                purged = purge_throttles(self.platform)
            except Exception:  # the database may be away for a while: the next pass tries again
                log.exception("purging the login counters failed")
            else:
                log.info("%s idle login and rate-limit counter(s) purged", purged)
            self.stop.wait(self.interval.total_seconds())

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="throttle-purger", daemon=True)
        thread.start()
        return thread

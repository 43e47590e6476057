"""The whole test run's server logs, checked for health data and secrets (issue 13, "Logs").

From the first test to the last, every record of the server's loggers
(``opendsp.*``, ``uvicorn.*``) is read as it is made — the access log at INFO,
as ``opendsp serve`` runs it — whatever handlers the tests attach or
reconfigure. A line holding a national number, a query string in the access
log, a search form's field, or any line of uvicorn's own access log (which
writes whole URLs) fails the run at its end, naming the test and the line.

Under pytest-xdist each worker process watches its own tests' logs and hands
its findings to the controller when it finishes; the controller reports them
all and fails the run, as a single process does.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

import pytest

SERVER_LOGGERS = ("opendsp", "uvicorn")
# A Luxembourg national number: a birth date (YYYYMMDD) and five digits, not inside a longer word or number.
NATIONAL_NUMBER = re.compile(r"(?<![0-9A-Za-z])(?:18|19|20)\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{5}(?![0-9A-Za-z])")
SEARCH_FIELD = re.compile(r"[?&](?:q|author|national_number|identifier)=")


def findings_in(logger: str, line: str) -> list[str]:
    """What is wrong with one log line of the server (empty: nothing)."""
    found = []
    if NATIONAL_NUMBER.search(line):
        found.append("a national number")
    if SEARCH_FIELD.search(line):
        found.append("a search field")
    if logger == "opendsp.access" and "?" in line:
        found.append("a query string in the access log")
    if logger == "uvicorn.access":
        found.append("uvicorn's access log (whole URLs) is on")
    return found


class LogWatch:
    def __init__(self) -> None:
        self.test = "(collection)"
        self.findings: list[str] = []
        self.previous: Callable[..., logging.LogRecord] = logging.getLogRecordFactory()

    def make_record(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.previous(*args, **kwargs)
        if record.name.startswith(SERVER_LOGGERS):
            try:
                line = record.getMessage()
            except Exception:  # noqa: BLE001 - a malformed record is the logging module's to report
                return record
            for finding in findings_in(record.name, line):
                self.findings.append(f"{self.test}: {finding} in {record.name}: {line[:300]}")
        return record


WATCH = LogWatch()


def pytest_configure(config: pytest.Config) -> None:
    logging.setLogRecordFactory(WATCH.make_record)
    logging.getLogger("opendsp.access").setLevel(logging.INFO)  # as `opendsp serve` runs it


def pytest_runtest_logstart(nodeid: str, location: tuple[str, int | None, str]) -> None:
    WATCH.test = nodeid


FINDINGS_KEY = "log_watch_findings"


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook: without xdist, never called
def pytest_testnodedown(node: Any, error: Any) -> None:
    """On the xdist controller: a worker finished; its findings join the controller's (a crashed one has none)."""
    WATCH.findings.extend(getattr(node, "workeroutput", {}).get(FINDINGS_KEY, []))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller reports and fails the run
        workeroutput[FINDINGS_KEY] = list(WATCH.findings)
        return
    if not WATCH.findings:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.section("health data or secrets in the server's logs (tests/log_watch.py)", red=True)
        for finding in WATCH.findings[:50]:
            reporter.line(finding)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED

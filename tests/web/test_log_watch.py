"""The run-wide log watch (tests/log_watch.py) is on, and it bites on what must never be logged."""

from __future__ import annotations

import logging

import pytest

from tests.log_watch import WATCH, findings_in


def test_the_access_log_is_watched_at_the_level_production_writes_it() -> None:
    assert logging.getLogger("opendsp.access").isEnabledFor(logging.INFO)
    assert logging.getLogRecordFactory() == WATCH.make_record


@pytest.mark.parametrize(("logger", "line"), [
    ("opendsp.access", "GET /record/search?q=depistage 200 3.1ms rid=ab12"),
    ("opendsp.stays.feed", "ADT A01 for 1980051799948 refused"),
    ("opendsp.web", "asked /pro/find&national_number=1"),
    ("uvicorn.access", '127.0.0.1:5000 - "GET /fhir/Patient HTTP/1.1" 200'),
])
def test_a_line_with_health_data_or_a_url_is_a_finding(logger: str, line: str) -> None:
    assert findings_in(logger, line)


@pytest.mark.parametrize("line", [
    "POST /record/search 200 12.5ms rid=6f1c0a9e2b7d4c1e8f3a5b6c7d8e9f01",
    "GET /pro/patients/{record_id} 403 62.3ms rid=20260101120000abcdef",
    "checkpoint 12: 3 chains, root 9f2a",
])
def test_the_server_s_own_lines_are_not_findings(line: str) -> None:
    assert findings_in("opendsp.access", line) == []


def test_a_finding_is_recorded_with_its_test() -> None:
    before = len(WATCH.findings)
    try:
        logging.getLogger("opendsp.test_log_watch").warning("sent for %s", "1980051799948")
        assert len(WATCH.findings) == before + 1 and "test_a_finding_is_recorded_with_its_test" in WATCH.findings[-1]
    finally:
        del WATCH.findings[before:]  # a deliberate finding: not the run's

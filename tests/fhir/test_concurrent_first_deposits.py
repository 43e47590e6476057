"""Two ITI-65 submissions at once on a record whose trace chain has no head yet (a record loaded in bulk): both
are acknowledged, both documents are kept, and the record's chain verifies (issue 15)."""

from __future__ import annotations

import threading

import httpx
import pytest
from sqlalchemy import func, select

from opendsp.documents.models import Document
from opendsp.platform import Platform
from tests.fhir.conftest import World, live_token, provide_bundle
from tests.trace.test_first_append_race import (
    assert_the_trace_verifies,
    both_at_the_first_head,
    chain_of,
    headless_record,
    postgresql_only,
)


def test_two_submissions_at_once_on_a_headless_record_are_both_acknowledged(
    platform: Platform, world: World, server: tuple[str, Platform], monkeypatch: pytest.MonkeyPatch
) -> None:
    postgresql_only(platform)
    record = headless_record(platform)
    url, served = server
    token = live_token(url, served, world, "lab", world.biologist, "system/DocumentReference.c")
    answers: list[int] = []

    def submit(title: str) -> None:
        response = httpx.post(f"{url}/fhir/", json=provide_bundle(record.person_id, title=title), timeout=60,
                              headers={"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"})
        answers.append(response.status_code)

    with both_at_the_first_head(platform):
        threads = [threading.Thread(target=submit, args=(f"Bilan {n}",)) for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert answers == [200, 200]
    with platform.sessions() as session:
        kept = session.scalar(select(func.count()).select_from(Document).where(Document.record_id == record.id))
    seqs, head = chain_of(platform, record)
    assert kept == 2 and seqs == [1, 2] and head is not None and head.last_seq == 2
    assert_the_trace_verifies(platform, monkeypatch)

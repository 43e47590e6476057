"""ITI-65 read as it streams: large documents deposited whole and intact, bad ones refused with nothing kept."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from opendsp.content.models import PendingContent
from opendsp.documents.spool import Spool, SpoolBroken
from opendsp.documents.models import Document
from opendsp.documents.types import DocumentType
from opendsp.fhir import app as fhir_app
from opendsp.platform import Platform
from opendsp.web.app import create_app
from tests.factories import as_professional, professional_draft
from tests.fhir.conftest import Fhir, World, provide_bundle, valid
from tests.fhir.test_errors import outcome
from tests.fhir.test_mhd import documents


@pytest.fixture
def lab(world: World, fhir: Fhir) -> str:
    return fhir.token(world.software["lab"], world.biologist, "system/DocumentReference.c")


def blobs(platform: Platform) -> list[Path]:
    return [p for p in (platform.settings.var_dir / "content").rglob("*") if p.is_file()]


def spooled(platform: Platform) -> list[Path]:
    folder = platform.settings.var_dir / "spool"
    return list(folder.iterdir()) if folder.exists() else []


def test_a_large_document_written_with_escaped_slashes_is_deposited_and_reads_back_intact(
        platform: Platform, world: World, fhir: Fhir, lab: str) -> None:
    content = b"%PDF-1.4\n" + os.urandom(3 * 1024 * 1024)  # past the spool's memory: sealed on disk meanwhile
    bundle = provide_bundle(world.person_id, content=content)
    # Some JSON writers (PHP, Java) escape "/" in strings: the reader understands it as any parser does.
    body = json.dumps(bundle).replace("/", "\\/").encode()
    response = fhir.post("/fhir/", lab, body)
    assert response.status_code == 200, response.text
    document_id = valid(response.json())["entry"][1]["response"]["location"].split("/")[1]
    gp = fhir.token(world.software["hospital"], world.gp, "system/DocumentReference.rs system/Binary.r")
    read = fhir.get(f"/fhir/Binary/{document_id}", gp, headers={"Accept": "application/pdf"})
    assert read.status_code == 200 and read.content == content
    with platform.sessions() as session:
        document = session.get(Document, uuid.UUID(document_id))
        assert document is not None
        assert document.size == len(content) and document.sha256 == hashlib.sha256(content).hexdigest()
    assert spooled(platform) == []  # the temporary file went with the request


def test_inline_attachment_data_streams_too(platform: Platform, world: World, fhir: Fhir, lab: str) -> None:
    content = b"%PDF-1.4\n" + os.urandom(1_500_000)
    bundle = provide_bundle(world.person_id, content=content)
    binary = bundle["entry"].pop(2)["resource"]
    attachment = bundle["entry"][1]["resource"]["content"][0]["attachment"]
    del attachment["url"]
    attachment["data"] = binary["data"]
    response = fhir.post("/fhir/", lab, bundle)
    assert response.status_code == 200, response.text
    assert documents(platform) == 1


@pytest.mark.parametrize("data", ["JVBERi0xLjQK!!!!", "JVBERi0xLjQ", "JVBERi0xLjQK====", "JVBE\\nRi0x"])
def test_malformed_base64_is_a_400_and_stores_nothing(platform: Platform, world: World, fhir: Fhir, lab: str,
                                                       data: str) -> None:
    bundle = provide_bundle(world.person_id)
    body = json.dumps(bundle).replace(bundle["entry"][2]["resource"]["data"], data).encode()
    outcome(fhir.post("/fhir/", lab, body), 400, "value")
    assert documents(platform) == 0 and blobs(platform) == [] and spooled(platform) == []


def test_size_and_hash_are_checked_on_the_streamed_content(platform: Platform, world: World, fhir: Fhir,
                                                           lab: str) -> None:
    content = os.urandom(2_000_000)
    outcome(fhir.post("/fhir/", lab, provide_bundle(world.person_id, content=content, size=len(content) - 1)),
            422, "invalid")
    outcome(fhir.post("/fhir/", lab, provide_bundle(
        world.person_id, content=content, sha1=base64.b64encode(hashlib.sha1(b"other").digest()).decode())),
        422, "invalid")
    assert documents(platform) == 0 and blobs(platform) == [] and spooled(platform) == []


def test_a_body_cut_inside_a_document_is_bad_json(platform: Platform, world: World, fhir: Fhir, lab: str) -> None:
    body = json.dumps(provide_bundle(world.person_id, content=os.urandom(100_000))).encode()
    cut = body.index(b'"data": "') + 5000
    outcome(fhir.post("/fhir/", lab, body[:cut]), 400, "structure")
    assert documents(platform) == 0 and spooled(platform) == []


def test_a_chunked_body_growing_past_the_limit_is_a_413_and_stores_nothing(
        platform: Platform, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fhir_app, "MAX_REQUEST_BYTES", 200_000)
    body = json.dumps(provide_bundle(world.person_id, content=os.urandom(400_000))).encode()

    def chunks() -> Iterator[bytes]:  # no Content-Length: only the bytes received can tell
        for start in range(0, len(body), 16384):
            yield body[start:start + 16384]

    with TestClient(create_app(platform=platform)) as http:
        client = Fhir(http, platform)
        token = client.token(world.software["lab"], world.biologist, "system/DocumentReference.c")
        response = http.post("/fhir/", content=chunks(), headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"})
        outcome(response, 413, "too-long")
    assert documents(platform) == 0 and blobs(platform) == [] and spooled(platform) == []


def test_content_failing_half_way_into_the_store_leaves_no_blob_no_pending_row_no_document(
        platform: Platform, world: World) -> None:
    """A real spool whose temporary file is damaged after its first segments: the store has already sealed and
    written part of it when the read fails. The deposit fails as unavailable content and the rollback removes
    what was written (ADR 0018)."""
    spool = Spool(randomness=platform.randomness, memory_limit=1024, segment_size=64 * 1024)
    spool.write(os.urandom(1_000_000))
    spool.finish()
    assert spool._file is not None
    spool._file.truncate(700_000)
    with pytest.raises(SpoolBroken), platform.transaction() as session:
        as_professional(session, platform, world.biologist).deposit(
            world.record.id, professional_draft(DocumentType.laboratory_report, "Coupé"), spool.chunks())
    assert documents(platform) == 0 and blobs(platform) == []
    with platform.sessions() as session:
        assert session.scalar(select(func.count()).select_from(PendingContent)) == 0


def test_a_data_key_written_with_escapes_is_decoded_from_the_parsed_body_as_before(
        platform: Platform, world: World, fhir: Fhir, lab: str) -> None:
    """The reader does not recognise "\\u0064ata"; the JSON parser does, and the content is decoded from it."""
    content = b"%PDF-1.4\n" + os.urandom(5000)
    body = json.dumps(provide_bundle(world.person_id, content=content)).replace('"data":', '"\\u0064ata":').encode()
    response = fhir.post("/fhir/", lab, body)
    assert response.status_code == 200, response.text
    document_id = valid(response.json())["entry"][1]["response"]["location"].split("/")[1]
    gp = fhir.token(world.software["hospital"], world.gp, "system/DocumentReference.rs system/Binary.r")
    assert fhir.get(f"/fhir/Binary/{document_id}", gp, headers={"Accept": "application/pdf"}).content == content

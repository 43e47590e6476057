"""Documents loaded by ``import-documents`` read back through ITI-68 (FHIR Binary) with their hash."""

from __future__ import annotations

import base64
import csv
import hashlib
from pathlib import Path

from sqlalchemy import select

from opendsp.importing.loader import import_documents
from opendsp.importing.models import ImportedDocument
from opendsp.platform import Platform
from tests.factories import PDF
from tests.fhir.conftest import Fhir, World


def test_imported_documents_read_back_through_iti_68_with_their_hash(
    platform: Platform, world: World, fhir: Fhir, tmp_path: Path
) -> None:
    with platform.sessions() as session:
        lab = session.merge(world.lab)
        hospital = session.merge(world.hospital)
        lab_id, hospital_id = lab.identifier, hospital.identifier
    rows = []
    for i in range(4):
        content = PDF.replace(b"test document", f"imported result {i}".encode()) + bytes([i]) * 3000
        (tmp_path / f"{i}.pdf").write_bytes(content)
        by_lab = i % 2 == 0
        rows.append({
            "source_id": f"legacy-{i}", "national_number": world.national_number,
            "type": "laboratory_report" if by_lab else "consultation_report", "title": f"Document {i}",
            "care_date": "2018-06-0%d" % (i + 1), "media_type": "application/pdf", "confidentiality": "normal",
            "authored_by_holder": "false",
            "author_licence": world.biologist.licence_number if by_lab else world.gp.licence_number,
            "author_organisation": lab_id if by_lab else hospital_id, "size": len(content),
            "sha256": hashlib.sha256(content).hexdigest(), "content_file": f"{i}.pdf",
        })
    export = tmp_path / "export.csv"
    with export.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    report = import_documents(platform=platform, export=export, source="legacy", workers=0)
    assert (report.loaded, report.rejected) == (4, 0)
    with platform.sessions() as session:
        loaded = dict(session.execute(select(ImportedDocument.source_id, ImportedDocument.document_id)).all())

    token = fhir.token(world.software["hospital"], world.gp, "system/DocumentReference.r system/Binary.r")
    for row in rows:
        document_id = loaded[row["source_id"]]
        binary = fhir.get(f"/fhir/Binary/{document_id}", token, headers={"Accept": "application/pdf"})
        assert binary.status_code == 200, binary.text
        assert hashlib.sha256(binary.content).hexdigest() == row["sha256"]
        assert binary.content == (tmp_path / row["content_file"]).read_bytes()
        reference = fhir.get(f"/fhir/DocumentReference/{document_id}", token).json()
        attachment = reference["content"][0]["attachment"]
        assert attachment["size"] == row["size"] and reference["description"] == row["title"]
        if "hash" in attachment:
            assert base64.b64decode(attachment["hash"]) == hashlib.sha1(binary.content).digest()
    # A professional outside the record's circle gets what an unknown document gets.
    outsider = fhir.token(world.software["hospital"], world.outsider, "system/Binary.r")
    unknown = fhir.get("/fhir/Binary/00000000-0000-4000-8000-000000000000", outsider)
    refused = fhir.get(f"/fhir/Binary/{loaded['legacy-1']}", outsider)
    assert refused.status_code == unknown.status_code == 404

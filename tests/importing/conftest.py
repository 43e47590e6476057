"""A small export to import: two records, a GP in one circle, a laboratory, a blocked professional."""

from __future__ import annotations

import csv
import hashlib
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from opendsp.platform import Platform
from opendsp.professionals.models import OrganisationKind
from tests.factories import PDF, as_holder, holder_of, make_organisation, make_professional, make_record

CSV_HEADER = ("source_id", "national_number", "type", "title", "care_date", "media_type", "confidentiality",
              "authored_by_holder", "author_licence", "author_organisation", "size", "sha256", "content_file")


@dataclass
class Export:
    folder: Path
    records: list[uuid.UUID]
    national_numbers: list[str]
    gp_id: uuid.UUID
    gp_licence: str
    gp_organisation: str
    biologist_licence: str
    lab: str
    blocked_licence: str
    blocked_organisation: str
    rows: list[dict[str, Any]] = field(default_factory=list)

    def content(self, index: int) -> bytes:
        return PDF.replace(b"test document", f"document number {index:05d}".encode())

    def add(self, *, record: int = 0, kind: str = "consultation_report", title: str | None = None,
            author: str = "gp", holder: bool = False, **overrides: Any) -> dict[str, Any]:
        index = len(self.rows) + 1
        content = self.content(index)
        name = f"content/{index:04d}.pdf"
        (self.folder / "content").mkdir(exist_ok=True)
        (self.folder / name).write_bytes(content)
        licence, organisation = {"gp": (self.gp_licence, self.gp_organisation),
                                 "biologist": (self.biologist_licence, self.lab),
                                 "blocked": (self.blocked_licence, self.blocked_organisation)}[author]
        row = {
            "source_id": f"old-dsp-{index}", "national_number": self.national_numbers[record], "type": kind,
            "title": title or f"Compte rendu {index} hypertension", "care_date": "2019-04-02",
            "media_type": "application/pdf", "confidentiality": "normal",
            "authored_by_holder": "true" if holder else "false",
            "author_licence": "" if holder else licence, "author_organisation": "" if holder else organisation,
            "size": str(len(content)), "sha256": hashlib.sha256(content).hexdigest(), "content_file": name,
        }
        row.update(overrides)
        self.rows.append(row)
        return row

    def write_csv(self, name: str = "documents.csv") -> Path:
        path = self.folder / name
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=CSV_HEADER)
            writer.writeheader()
            writer.writerows(self.rows)
        return path

    def write_ndjson(self, name: str = "documents.ndjson") -> Path:
        path = self.folder / name
        with path.open("w") as handle:
            for row in self.rows:
                handle.write(json.dumps(document_reference(row)) + "\n")
        return path


def document_reference(row: dict[str, Any]) -> dict[str, Any]:
    """A DocumentReference as the existing record would export it (identifiers, not ids)."""
    from opendsp.documents.types import CODINGS, DocumentType

    content = {"contentType": row["media_type"], "url": row["content_file"], "size": int(row["size"]),
               "title": row["title"], "creation": row["care_date"]}
    resource: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "masterIdentifier": {"system": "urn:ietf:rfc:3986", "value": row["source_id"]},
        "status": "current",
        "type": {"coding": [{"system": "http://loinc.org", "code": CODINGS[DocumentType(row["type"])].loinc}]},
        "subject": {"identifier": {"system": "urn:oid:1.3.182.4.4", "value": row["national_number"]}},
        "securityLabel": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
                                       "code": "R" if row["confidentiality"] == "restricted" else "N"}]}],
        "content": [{"attachment": content}],
        "context": {"period": {"start": row["care_date"]}},
    }
    if row["authored_by_holder"] == "true":
        resource["author"] = [{"reference": "Patient/x"}]
    else:
        resource["author"] = [
            {"type": "Practitioner", "identifier": {"system": "urn:opendsp:sid:licence-number",
                                                    "value": row["author_licence"]}},
            {"type": "Organization", "identifier": {"system": "urn:opendsp:sid:organisation",
                                                    "value": row["author_organisation"]}},
        ]
    return resource


@pytest.fixture
def export(platform: Platform, tmp_path: Path) -> Export:
    folder = tmp_path / "export"
    folder.mkdir()
    with platform.transaction() as session:
        first, second = make_record(session, platform), make_record(session, platform)
        practice = make_organisation(session, platform, name="Cabinet Medical Bonnevoie")
        lab = make_organisation(session, platform, OrganisationKind.laboratory, name="Laboratoire Reckenthal")
        gp = make_professional(session, platform, organisation=practice, family_name="Kieffer")
        biologist = make_professional(session, platform, profession="laboratory_biologist", specialties=(),
                                      organisation=lab, family_name="Thill")
        blocked = make_professional(session, platform, organisation=practice, family_name="Blocked")
        for record in (first, second):
            as_holder(session, platform, record).add_to_circle(record.id, gp.id)
            as_holder(session, platform, record).add_to_circle(record.id, blocked.id)
        as_holder(session, platform, first).block(first.id, blocked.id)
        numbers = [holder_of(session, r).national_number for r in (first, second)]
        return Export(folder=folder, records=[first.id, second.id], national_numbers=numbers, gp_id=gp.id,
                      gp_licence=gp.licence_number, gp_organisation=practice.identifier,
                      biologist_licence=biologist.licence_number, lab=lab.identifier,
                      blocked_licence=blocked.licence_number, blocked_organisation=practice.identifier)

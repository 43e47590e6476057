"""The holder's export (EHDS "download everything") with the structured categories of issue 18 §2: each
document's original FHIR, a readable page in the holder's language, its EHDS category in the index and in the FHIR
Bundle — opened as the holder would open the zip."""

from __future__ import annotations

import csv
import io
import json
import uuid
import zipfile
from datetime import timedelta

import pytest
from sqlalchemy import select

from opendsp.clock import FrozenClock
from opendsp.documents.services import DocumentDraft
from opendsp.documents.types import FHIR_MEDIA_TYPE, DocumentType
from opendsp.platform import Platform
from opendsp.professionals.models import Professional
from opendsp.trace.models import TraceEntry
from tests.accounts.portal import settings  # noqa: F401 - the cheap-hash settings
from tests.factories import as_professional
from tests.fhir.test_imaging_and_discharge import STUDY_UID, imaging_bundle
from tests.web.ehds_world import DOCUMENTS, EhdsWorld, build

EHDS = "urn:opendsp:cs:ehds-priority-category"
CATEGORIES = {"prescription": "eprescription", "dispensation": "eprescription", "imaging": "imaging-report",
              "discharge": "discharge-report", "vaccination": "other"}


@pytest.fixture
def world(platform: Platform, clock: FrozenClock) -> EhdsWorld:
    return build(platform, clock)


def export(world: EhdsWorld, language: str) -> zipfile.ZipFile:
    browser = world.holder_browser
    browser.choose_language(language, "/record/export")
    response = browser.submit("/record/export", {}, form_page="/record/export")
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    return zipfile.ZipFile(io.BytesIO(response.content))


def listing(archive: zipfile.ZipFile) -> dict[str, dict[str, str]]:
    """documents.csv's rows by the world's document key."""
    rows = list(csv.reader(io.StringIO(archive.read("documents.csv").decode("utf-8-sig"))))
    header, body = rows[0], rows[1:]
    by_title = {row[header.index(next(h for h in header if h in ("Title", "Titre")))]: dict(zip(header, row))
                for row in body}
    return {key: by_title[title] for key, (_, title, _) in DOCUMENTS.items() if title in by_title}


def test_each_category_is_exported_as_fhir_with_a_readable_page_and_its_category(platform: Platform,
                                                                                world: EhdsWorld) -> None:
    with platform.sessions() as session:
        before = session.scalars(select(TraceEntry.action).where(TraceEntry.record_id == world.record.id)).all()
    archive = export(world, "en")
    names = set(archive.namelist())
    rows = listing(archive)
    assert set(rows) == set(DOCUMENTS)
    labels = {"eprescription": "Prescriptions and dispensations", "imaging-report": "Medical imaging reports",
              "discharge-report": "Hospital discharge reports", "other": "Other documents"}
    for key, row in rows.items():
        assert row["Category (European Health Data Space)"] == labels[CATEGORIES[key]], key
        assert row["File"] in names and row["File"].endswith(".json")
        original = json.loads(archive.read(row["File"]))
        assert original["resourceType"] == "Bundle" and original["type"] == "document"
        assert row["Readable version"] in names and row["Readable version"].startswith("readable/")
    readable = {key: archive.read(row["Readable version"]).decode("utf-8") for key, row in rows.items()}
    assert "Amoxicillin" in readable["dispensation"] and "Amoxicillin" in readable["prescription"]
    assert STUDY_UID in readable["imaging"] and "X-ray" in readable["imaging"] and "Chest" in readable["imaging"]
    assert "Appendicite aiguë opérée" in readable["discharge"] and "Hospital course" in readable["discharge"]
    assert "Seasonal influenza" in readable["vaccination"]
    for page in readable.values():
        assert page.startswith("<!doctype html>") and '<html lang="en">' in page and "<script" not in page
    assert "readable/: each structured document" in archive.read("README.txt").decode("utf-8")

    bundle = json.loads(archive.read("fhir/bundle.json"))
    references = {e["resource"]["description"]: e["resource"] for e in bundle["entry"]
                  if e["resource"]["resourceType"] == "DocumentReference"}
    for key, (_, title, _) in DOCUMENTS.items():
        codes = [c["code"] for concept in references[title]["category"] for c in concept.get("coding", [])
                 if c.get("system") == EHDS]
        assert codes == [CATEGORIES[key]], key
    inner = [r for e in bundle["entry"] if (r := e["resource"])["resourceType"] == "Bundle"]
    kinds = {entry["resource"]["resourceType"] for b in inner for entry in b["entry"]}
    assert {"MedicationRequest", "MedicationDispense", "DiagnosticReport", "ImagingStudy", "Procedure",
            "Immunization"} <= kinds

    with platform.sessions() as session:
        after = session.scalars(select(TraceEntry.action).where(TraceEntry.record_id == world.record.id)).all()
    assert after[len(before):].count("record.export") == 1  # the whole export, one act


@pytest.mark.parametrize(("language", "readme", "category", "words"), [
    ("fr", "LISEZ-MOI.txt", "Prescriptions et délivrances", ("Radiographie", "Thorax")),
    ("de", "LIESMICH.txt", "Verordnungen und Abgaben", ("Röntgen", "Brustkorb")),
    ("pt", "LEIA-ME.txt", "Receitas e dispensas", ("Radiografia", "Tórax")),
])
def test_the_index_and_the_readable_pages_are_in_the_holder_s_language(world: EhdsWorld, language: str,
                                                                      readme: str, category: str,
                                                                      words: tuple[str, ...]) -> None:
    archive = export(world, language)
    assert readme in archive.namelist()
    text = archive.read("documents.csv").decode("utf-8-sig")
    assert category in text
    page = next(archive.read(n).decode("utf-8") for n in archive.namelist()
                if n.startswith("readable/") and "radiographie-du-thorax" in n)
    assert f'<html lang="{language}">' in page and all(word in page for word in words)


def test_what_the_holder_may_not_see_yet_is_not_exported_and_odd_content_is_escaped(
        platform: Platform, clock: FrozenClock, world: EhdsWorld) -> None:
    hostile = {"resourceType": "Basic", "code": {"text": "<script>alert(1)</script>"}}
    with platform.transaction() as session:
        pharmacist = session.get(Professional, world.pharmacist)
        radiologist = session.scalars(select(Professional).where(Professional.family_name == "Kremer")).one()
        delayed = DocumentDraft(type=DocumentType.imaging_report, title="Scanner à expliquer",
                                care_date=clock.now().date(), media_type=FHIR_MEDIA_TYPE,
                                visible_to_holder_from=clock.now() + timedelta(days=7))
        as_professional(session, platform, radiologist).deposit(world.record.id, delayed,
                                                                [json.dumps(imaging_bundle()).encode()])
        odd = DocumentDraft(type=DocumentType.dispensation, title="Donnée isolée", care_date=clock.now().date(),
                            media_type=FHIR_MEDIA_TYPE)
        odd_id: uuid.UUID = as_professional(session, platform, pharmacist).deposit(
            world.record.id, odd, [json.dumps(hostile).encode()]).id
    archive = export(world, "en")
    names = archive.namelist()
    assert not any("scanner-a-expliquer" in n for n in names)
    assert "Scanner à expliquer" not in archive.read("documents.csv").decode("utf-8-sig")
    assert "Scanner à expliquer" not in archive.read("fhir/bundle.json").decode("utf-8")
    page = archive.read(next(n for n in names if n.startswith("readable/") and str(odd_id)[:8] in n)).decode()
    assert "<script" not in page and "cannot be shown as a page" in page and str(odd_id)[:8] in page

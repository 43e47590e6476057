"""Keyword search over the structured EHDS categories (issue 18 §2): a dispensation by its medicine, an imaging
report by its modality and body site, a discharge report by its sections' text — in any of the portals' languages,
once the worker has indexed them, and only as the reader may see them."""

from __future__ import annotations

import json
import random
import uuid
from datetime import date

from opendsp.demo.clinical import AMOXICILLIN
from opendsp.demo.fhir import Ids, Prescribed, dispensation
from opendsp.documents.services import DocumentDraft
from opendsp.documents.types import FHIR_MEDIA_TYPE, DocumentType
from opendsp.platform import Platform
from opendsp.professionals.models import OrganisationKind, Professional
from opendsp.records.models import Record
from opendsp.search.services import search
from tests.factories import as_holder, as_professional, make_organisation, make_professional, make_record, run_jobs
from tests.fhir.test_imaging_and_discharge import PATIENT, RADIOLOGIST, discharge_bundle, imaging_bundle


def _coded_only(bundle: dict) -> bytes:  # type: ignore[type-arg]
    """The medicines by their codes alone (no author's text): their words come from the platform's tables."""
    for entry in bundle["entry"]:
        entry["resource"].get("medicationCodeableConcept", {}).pop("text", None)
    return json.dumps(bundle).encode()


def _draft(kind: DocumentType, title: str) -> DocumentDraft:
    return DocumentDraft(type=kind, title=title, care_date=date(2025, 3, 4), media_type=FHIR_MEDIA_TYPE)


def _world(platform: Platform) -> tuple[uuid.UUID, uuid.UUID, dict[str, uuid.UUID]]:
    """A record with one document of each category, deposited by whoever the matrix lets deposit it."""
    with platform.transaction() as session:
        record = make_record(session, platform)
        hospital = make_organisation(session, platform, OrganisationKind.hospital, name="Hôpital Demo")
        pharmacy = make_organisation(session, platform, OrganisationKind.pharmacy, name="Pharmacie du Centre")
        radiologist = make_professional(session, platform, specialties=("radiology",), organisation=hospital)
        surgeon = make_professional(session, platform, specialties=("surgery",), organisation=hospital)
        pharmacist = make_professional(session, platform, profession="pharmacist", specialties=(),
                                       organisation=pharmacy)
        holder = as_holder(session, platform, record)
        for professional in (radiologist, surgeon, pharmacist):
            holder.add_to_circle(record.id, professional.id)
        handed = dispensation(Ids(random.Random(3)), patient=PATIENT, author=RADIOLOGIST, day=date(2025, 3, 4),
                              language="fr", title="Délivrance", items=[Prescribed(AMOXICILLIN)])
        ids = {
            # Neutral titles: what is found is found in the content, not in the title.
            "imaging": as_professional(session, platform, radiologist).deposit(
                record.id, _draft(DocumentType.imaging_report, "Compte rendu 77"),
                [json.dumps(imaging_bundle()).encode()]).id,
            "discharge": as_professional(session, platform, surgeon).deposit(
                record.id, _draft(DocumentType.discharge_letter, "Séjour mars"),
                [json.dumps(discharge_bundle()).encode()]).id,
            "dispensation": as_professional(session, platform, pharmacist).deposit(
                record.id, _draft(DocumentType.dispensation, "Pharmacie"), [_coded_only(handed)]).id,
        }
        return record.id, pharmacist.id, ids


def _found(access, record_id: uuid.UUID, query: str) -> set[uuid.UUID]:  # type: ignore[no-untyped-def]
    return {document.id for document in search(access, record_id, query).items}


def test_each_category_is_found_by_what_it_says_in_every_language(platform: Platform) -> None:
    record_id, _pharmacist, ids = _world(platform)
    with platform.transaction() as session:
        holder = as_holder(session, platform, session.get(Record, record_id))
        assert _found(holder, record_id, "amoxicillin") == set()  # not indexed before the worker runs
    run_jobs(platform)
    with platform.transaction() as session:
        holder = as_holder(session, platform, session.get(Record, record_id))
        expected = {
            # The dispensation: its medicine, coded by ATC only, in French, German, Portuguese (the discharge
            # report's medication names it too); its type in the portals' languages.
            "amoxicilline": {"dispensation", "discharge"}, "Amoxicilina": {"dispensation", "discharge"},
            "délivrance médicaments": {"dispensation"}, "Arzneimittelabgabe": {"dispensation"},
            # The imaging report: modality and body site in the reader's words, the conclusion's code and text.
            "radiographie thorax": {"imaging"}, "Röntgen Brustkorb": {"imaging"}, "radiografia tórax": {"imaging"},
            "lungenentzündung": {"imaging"}, "opacité basale": {"imaging"},
            # The discharge report: its sections' narratives, its procedures in the reader's words.
            "appendicite suites simples": {"discharge"}, "douleurs abdominales": {"discharge"},
            "contrôle chirurgien": {"discharge"}, "laparoskopische appendektomie": {"discharge"},
        }
        for query, kinds in expected.items():
            assert _found(holder, record_id, query) == {ids[k] for k in kinds}, query


def test_a_reader_finds_only_the_categories_the_matrix_gives_them(platform: Platform) -> None:
    record_id, pharmacist_id, ids = _world(platform)
    run_jobs(platform)
    with platform.transaction() as session:
        pharmacist = as_professional(session, platform, session.get(Professional, pharmacist_id))
        assert _found(pharmacist, record_id, "amoxicillin") == {ids["dispensation"]}  # not the discharge report
        # A pharmacist does not consult imaging or discharge reports: their words find nothing, as unknown words do.
        for query in ("thorax", "appendicite", "douleurs"):
            assert search(pharmacist, record_id, query).total == 0, query
        assert search(pharmacist, record_id, "thorax").items == search(pharmacist, record_id, "zzzqqq").items


def test_another_record_never_finds_them(platform: Platform) -> None:
    _record_id, _pharmacist, _ids = _world(platform)
    run_jobs(platform)
    with platform.transaction() as session:
        other = make_record(session, platform)
        holder = as_holder(session, platform, other)
        for query in ("amoxicillin", "thorax", "appendicite"):
            assert search(holder, other.id, query).total == 0, query

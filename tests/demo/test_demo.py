"""The demo population: complete, loaded once, deterministic, and valid content.

Loading the demo takes a few seconds, so the database tests load it as few
times as possible and check many things per load. The content itself (every
PDF and FHIR Bundle) is checked on the plan, without a database; the load
test then proves the stored content is exactly the planned content.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pypdf
import pytest
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from opendsp import actors
from opendsp.access.models import AccessSettings, CircleMember, Notification
from opendsp.access.services import RecordAccess
from opendsp.actors import SYSTEM, Actor, ActorKind
from opendsp.clock import FrozenClock, SeededRandomness
from opendsp.demo.load import load_demo
from opendsp.demo.people import make_persons
from opendsp.demo.plan import DemoPlan, DocumentPlan, make_plan
from opendsp.documents.models import Document
from opendsp.documents.types import FHIR_MEDIA_TYPE, ConfidentialityLevel, DocumentStatus, DocumentType
from opendsp.migrations import upgrade
from opendsp.persons.models import LegalRepresentation, Person
from opendsp.persons.national_number import parse_national_number
from opendsp.platform import Platform
from opendsp.professionals.models import Organisation, OrganisationKind, Professional
from opendsp.professionals.services import RegistrationRefused, register_organisation, register_professional
from opendsp.records.models import Record, RecordState, RecordStateChange
from opendsp.settings import Settings
from opendsp.trace.models import PLATFORM_CHAIN, TraceEntry
from opendsp.trace.service import verify

SEED = 20260101
PDF = "application/pdf"
COUNTED = (Person, Record, RecordStateChange, LegalRepresentation, Organisation, Professional, Document,
           TraceEntry, AccessSettings, CircleMember, Notification)


@pytest.fixture(scope="module")
def plan() -> DemoPlan:
    return make_plan(SEED)


def all_documents(plan: DemoPlan) -> list[DocumentPlan]:
    return [document for documents in plan.documents.values() for document in documents]


def row_counts(session: Session) -> dict[str, int]:
    return {model.__name__: session.scalar(select(func.count()).select_from(model)) or 0 for model in COUNTED}


def pdf_text(content: bytes) -> str:
    text = "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(content)).pages)
    return re.sub(r"\s+", " ", text)


def holder_side(session: Session, platform: Platform, record: Record) -> RecordAccess:
    person = session.get(Person, record.person_id)
    assert person is not None
    parents = list(session.scalars(
        select(Person)
        .join(LegalRepresentation, LegalRepresentation.representative_id == Person.id)
        .where(LegalRepresentation.minor_id == person.id)
    ))
    actor = actors.representative(parents[0], acting_for=person) if parents else actors.holder(person)
    return RecordAccess(session=session, platform=platform, actor=actor)


# -- loading into a database --------------------------------------------------------


def test_the_demo_loads_once_completely_and_the_same_way_twice(
    platform: Platform, plan: DemoPlan, tmp_path: Path
) -> None:
    identities = tmp_path / "demo" / "identities.json"
    counts = load_demo(platform, seed=SEED, identities_path=identities)
    assert counts == {"persons": 36, "professionals": len(plan.professionals), "documents": plan.document_count}
    written = identities.read_bytes()
    with platform.transaction() as session:
        before = row_counts(session)

    assert load_demo(platform, seed=SEED, identities_path=identities) is None
    assert load_demo(platform, seed=SEED + 1, identities_path=identities) is None  # any demo counts as loaded
    with platform.transaction() as session:
        assert row_counts(session) == before
    assert identities.read_bytes() == written

    with platform.transaction() as session:
        assert before["Document"] == plan.document_count and before["Person"] == 36
        _check_records(session, plan)
        _check_family(session, plan)
        _check_organisations_and_professionals(session)
        _check_documents(session, plan)
        _check_some_content_as_the_holder(session, platform, plan)
        assert verify(session).intact
    _check_identities(json.loads(written), plan)
    _check_a_second_platform_gets_the_same(platform, tmp_path)


def _check_records(session: Session, plan: DemoPlan) -> None:
    states = Counter(session.scalars(select(Record.state)))
    assert states[RecordState.closed] == 1
    assert states[RecordState.created] == 2
    assert states[RecordState.active] == 33
    not_activated = select(Record.id).where(Record.state == RecordState.created)
    assert not session.scalar(select(func.count()).select_from(Document).where(Document.record_id.in_(not_activated)))
    closed = select(Record.id).where(Record.state == RecordState.closed)
    assert session.scalar(select(func.count()).select_from(Document).where(Document.record_id.in_(closed)))
    for number in session.scalars(select(Person.national_number)):
        parse_national_number(number)  # raises if a check digit is wrong


def _check_family(session: Session, plan: DemoPlan) -> None:
    """Each minor of the family is represented by both parents."""
    ids = {number: person_id for number, person_id in session.execute(select(Person.national_number, Person.id))}
    minors = [p for p in plan.persons if p.minor]
    assert len(minors) == 2
    parents = {ids[plan.persons[i].national_number] for i in minors[0].parents}
    assert len(parents) == 2
    for minor in minors:
        minor_id = ids[minor.national_number]
        linked = session.scalars(
            select(LegalRepresentation.representative_id).where(LegalRepresentation.minor_id == minor_id)
        )
        assert set(linked) == parents
    assert {plan.persons[i].sex.value for i in minors[0].parents} == {"female", "male"}
    assert session.scalar(select(func.count()).select_from(LegalRepresentation)) == 4


def _check_organisations_and_professionals(session: Session) -> None:
    assert set(session.scalars(select(Organisation.kind))) == set(OrganisationKind)
    professionals = list(session.scalars(select(Professional)))
    assert len(professionals) >= 20
    assert {p.profession for p in professionals} >= {"physician", "nurse", "pharmacist", "midwife", "dentist",
                                                     "physiotherapist", "home_care_nurse", "laboratory_biologist"}
    specialties = {s for p in professionals for s in p.specialties}
    assert specialties >= {"general_practice", "cardiology", "paediatrics", "gynaecology", "radiology",
                           "emergency_medicine", "clinical_biology"}
    gps = [p for p in professionals if "general_practice" in p.specialties]
    assert any(len(p.organisations) == 2 and {o.kind for o in p.organisations} == {OrganisationKind.practice}
               for p in gps)
    registered = Counter(session.scalars(select(TraceEntry.action).where(TraceEntry.chain == PLATFORM_CHAIN)))
    assert registered["professional.register"] == len(professionals)
    assert registered["organisation.register"] == session.scalar(select(func.count()).select_from(Organisation))


def _check_documents(session: Session, plan: DemoPlan) -> None:
    documents = list(session.scalars(select(Document)))
    assert {d.type for d in documents} == set(DocumentType)
    # What was stored is exactly what was planned, byte for byte.
    assert Counter(d.sha256 for d in documents) == Counter(
        hashlib.sha256(p.content).hexdigest() for p in all_documents(plan)
    )
    media = Counter(d.media_type for d in documents)
    assert media[PDF] > 100 and media[FHIR_MEDIA_TYPE] > 30
    by_type = {(d.type, d.media_type) for d in documents}
    assert (DocumentType.laboratory_report, PDF) in by_type
    assert (DocumentType.laboratory_report, FHIR_MEDIA_TYPE) in by_type
    assert {d.media_type for d in documents if d.type is DocumentType.patient_summary} == {FHIR_MEDIA_TYPE}
    statuses = Counter(d.status for d in documents)
    assert statuses[DocumentStatus.superseded] >= 2 and statuses[DocumentStatus.withdrawn] >= 3
    assert any(d.version == 2 and d.replaces_id for d in documents)
    assert sum(d.confidentiality is ConfidentialityLevel.restricted for d in documents) >= 2
    personal = [d for d in documents if d.type is DocumentType.personal_document]
    assert personal and all(d.authored_by_holder and d.author_professional_id is None for d in personal)
    others = [d for d in documents if d.type is not DocumentType.personal_document]
    assert all(d.author_professional_id and d.author_organisation_id for d in others)
    _check_authors(session, documents)


def _check_authors(session: Session, documents: list[Document]) -> None:
    """Each type comes from the kind of professional and organisation that writes it."""
    professionals = {p.id: p for p in session.scalars(select(Professional))}
    organisations = {o.id: o for o in session.scalars(select(Organisation))}
    expected = {
        DocumentType.laboratory_report: ({"clinical_biology"}, {OrganisationKind.laboratory}),
        DocumentType.pathology_report: ({"clinical_biology"}, {OrganisationKind.laboratory}),
        DocumentType.imaging_report: ({"radiology"}, {OrganisationKind.imaging_centre, OrganisationKind.hospital}),
        DocumentType.patient_summary: ({"general_practice"}, {OrganisationKind.practice}),
        DocumentType.discharge_letter: (None, {OrganisationKind.hospital}),
        DocumentType.operative_report: (None, {OrganisationKind.hospital}),
        DocumentType.home_care_report: (None, {OrganisationKind.home_care_provider}),
    }
    for document in documents:
        if document.type not in expected:
            continue
        specialties, kinds = expected[document.type]
        assert document.author_professional_id and document.author_organisation_id
        author = professionals[document.author_professional_id]
        organisation = organisations[document.author_organisation_id]
        assert organisation.kind in kinds and organisation in author.organisations, document.title
        if specialties:
            assert specialties & set(author.specialties), (document.title, author.specialties)
        if document.type is DocumentType.home_care_report:
            assert author.profession == "home_care_nurse"
    prescribers = {professionals[d.author_professional_id].profession for d in documents  # type: ignore[index]
                   if d.type is DocumentType.prescription}
    assert prescribers <= {"physician", "dentist", "midwife"}


def _check_some_content_as_the_holder(session: Session, platform: Platform, plan: DemoPlan) -> None:
    """A PDF and a FHIR document of each type, read back through the holder's own access."""
    persons = {p.id: p for p in session.scalars(select(Person))}
    seen: set[tuple[DocumentType, str]] = set()
    for document in session.scalars(select(Document).order_by(Document.care_date, Document.title)):
        if (document.type, document.media_type) in seen or document.status is DocumentStatus.withdrawn:
            continue
        seen.add((document.type, document.media_type))
        record = session.get(Record, document.record_id)
        assert record is not None
        holder = persons[record.person_id]
        content = holder_side(session, platform, record).consult(document.id).read()
        if document.media_type == PDF:
            assert content.startswith(b"%PDF")
            text = pdf_text(content)
            assert holder.display_name in text and holder.national_number in text
        else:
            bundle = Bundle.model_validate(json.loads(content))
            patient = next(e.resource for e in bundle.entry if e.resource.__resource_type__ == "Patient")
            assert patient.identifier[0].value == holder.national_number
    assert len(seen) >= len(DocumentType) + 1


def _check_identities(identities: dict[str, Any], plan: DemoPlan) -> None:
    persons = identities["persons"]
    assert [p["national_number"] for p in persons] == [p.national_number for p in plan.persons]
    assert {p["record_state"] for p in persons} == {"active", "closed", "created"}
    assert {p["language"] for p in persons} == {"fr", "de", "en"}
    minors = [p for p in persons if any(r.startswith("minor") for r in p["roles"])]
    parents = [p for p in persons if any(r.startswith("parent") for r in p["roles"])]
    assert len(minors) == 2 and len(parents) == 2
    assert all(len([r for r in p["roles"] if r.startswith("parent")]) == 2 for p in parents)
    assert sum(p["documents"] for p in persons) == plan.document_count
    showcase = persons[0]
    assert set(showcase["document_types"]) == {t.value for t in DocumentType}
    professionals = identities["professionals"]
    assert len(professionals) == len(plan.professionals)
    for professional in professionals:
        assert professional["licence_number"] and professional["profession"]
        assert all(o["identifier"] and o["name"] for o in professional["organisations"])
    assert {o["kind"] for o in identities["organisations"]} == {k.value for k in OrganisationKind}


def _check_a_second_platform_gets_the_same(platform: Platform, tmp_path: Path) -> None:
    """The same seed gives the same people and documents in another, fresh database (here SQLite)."""
    settings = Settings(var_dir=tmp_path / "again", database_url=f"sqlite:///{tmp_path / 'again.db'}")
    again = Platform(settings=settings, clock=FrozenClock(), randomness=SeededRandomness(11))
    assert again.engine is not None
    upgrade(again.engine)
    try:
        load_demo(again, seed=SEED, identities_path=tmp_path / "again" / "identities.json")

        def summary(p: Platform) -> tuple[list[str], list[tuple[str, str, str, int]]]:
            with p.transaction() as session:
                numbers = sorted(session.scalars(select(Person.national_number)))
                titles = session.execute(
                    select(Person.national_number, Document.title, Document.care_date, Document.version)
                    .join(Record, Record.person_id == Person.id).join(Document, Document.record_id == Record.id)
                )
                return numbers, sorted((n, t, c.isoformat(), v) for n, t, c, v in titles)

        assert summary(again) == summary(platform)
    finally:
        again.engine.dispose()


# -- the content, checked on the plan -------------------------------------------------


def test_the_plan_is_the_same_for_the_same_seed(plan: DemoPlan) -> None:
    other = make_plan(SEED)
    assert [p.national_number for p in other.persons] == [p.national_number for p in plan.persons]
    assert [(d.title, d.care_date, d.content) for d in all_documents(other)] == [
        (d.title, d.care_date, d.content) for d in all_documents(plan)
    ]
    other_seed = make_persons(random.Random(SEED + 1))
    assert [p.national_number for p in other_seed] != [p.national_number for p in plan.persons]


def test_every_pdf_is_a_readable_report_about_its_holder(plan: DemoPlan) -> None:
    for person in plan.persons:
        for document in plan.documents[person.index]:
            if document.media_type != PDF:
                continue
            assert document.content.startswith(b"%PDF")
            text = pdf_text(document.content)
            assert person.name in text and person.national_number in text, document.title
            assert document.title.split(" - ")[0] in text


def _bundles(plan: DemoPlan, kind: DocumentType) -> list[tuple[DocumentPlan, dict[str, Any]]]:
    return [(d, json.loads(d.content)) for d in all_documents(plan)
            if d.media_type == FHIR_MEDIA_TYPE and d.type is kind]


def _resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def test_every_fhir_document_is_a_valid_r4b_document_bundle(plan: DemoPlan) -> None:
    structured = [d for d in all_documents(plan) if d.media_type == FHIR_MEDIA_TYPE]
    assert {d.type for d in structured} == {DocumentType.laboratory_report, DocumentType.patient_summary,
                                            DocumentType.imaging_report,
                                            DocumentType.prescription, DocumentType.dispensation}
    for document in structured:
        data = json.loads(document.content)
        Bundle.model_validate(data)  # raises on anything R4B does not allow
        assert data["type"] == "document" and data["entry"][0]["resource"]["resourceType"] == "Composition"
        assert data["entry"][0]["resource"]["title"] == document.title
        # Every reference points inside the Bundle.
        full_urls = {entry["fullUrl"] for entry in data["entry"]}
        references = re.findall(r'"reference":\s*"([^"]+)"', document.content.decode())
        assert references and set(references) <= full_urls


def test_laboratory_bundles_carry_coded_results_with_a_trend(plan: DemoPlan) -> None:
    bundles = _bundles(plan, DocumentType.laboratory_report)
    assert bundles
    codes: set[str] = set()
    for _, bundle in bundles:
        (report,) = _resources(bundle, "DiagnosticReport")
        observations = _resources(bundle, "Observation")
        assert len(report["result"]) == len(observations) > 0
        for observation in observations:
            coding = observation["code"]["coding"][0]
            assert coding["system"] == "http://loinc.org"
            codes.add(coding["code"])
            quantity = observation["valueQuantity"]
            assert quantity["system"] == "http://unitsofmeasure.org" and quantity["code"]
            assert observation["interpretation"][0]["coding"][0]["code"] in {"H", "L", "N"}
            assert observation["referenceRange"][0]
    assert codes >= {"718-7", "2345-7", "2160-0", "2823-3", "2093-3", "4548-4"}
    # Some persons have the same test measured again and again: a trend to draw.
    hba1c = Counter(
        document_owner for document_owner, document in _owners(plan)
        if document.type is DocumentType.laboratory_report and "hba1c" in document.tests
    )
    assert max(hba1c.values()) >= 3


def _owners(plan: DemoPlan) -> list[tuple[int, DocumentPlan]]:
    return [(index, document) for index, documents in plan.documents.items() for document in documents]


def test_patient_summaries_have_the_four_ips_sections(plan: DemoPlan) -> None:
    bundles = _bundles(plan, DocumentType.patient_summary)
    assert len(bundles) >= 30
    kinds: Counter[str] = Counter()
    for _, bundle in bundles:
        composition = bundle["entry"][0]["resource"]
        assert composition["type"]["coding"][0]["code"] == "60591-5"
        sections = {s["code"]["coding"][0]["code"]: s for s in composition["section"]}
        assert set(sections) == {"48765-2", "11450-4", "10160-0", "11369-6"}
        for section in sections.values():
            assert "entry" in section or "emptyReason" in section
        kinds.update(e["resource"]["resourceType"] for e in bundle["entry"])
    assert {"AllergyIntolerance", "Condition", "MedicationStatement", "Immunization"} <= set(kinds)


# -- registering organisations and professionals ----------------------------------------


def test_registration_checks_codes_refuses_duplicates_and_is_traced(platform: Platform) -> None:
    with platform.transaction() as session:
        lab = register_organisation(session=session, platform=platform, actor=SYSTEM, identifier="LAB-1",
                                    name="Laboratoire", kind=OrganisationKind.laboratory, city="Bertrange")
        biologist = register_professional(
            session=session, platform=platform, actor=SYSTEM, licence_number="L-1", family_name="Thill",
            given_name="Anne", profession="laboratory_biologist", specialties=["clinical_biology"],
            organisations=[lab],
        )
        assert biologist.organisations == [lab]

    def register(**changes: Any) -> Professional:
        arguments: dict[str, Any] = dict(
            licence_number="L-2", family_name="Weber", given_name="Marc", profession="physician",
            specialties=["general_practice"], organisations=[],
        )
        arguments.update(changes)
        with platform.transaction() as session:
            return register_professional(session=session, platform=platform, actor=SYSTEM, **arguments)

    with pytest.raises(ValueError, match="unknown profession code 'surgeon'"):
        register(profession="surgeon")
    with pytest.raises(ValueError, match="unknown specialty code.*'cardiologie'"):
        register(specialties=["cardiology", "cardiologie"])
    with pytest.raises(RegistrationRefused, match="licence number L-1 is already registered"):
        register(licence_number="L-1")
    with pytest.raises(RegistrationRefused, match="family name is missing"):
        register(family_name="  ")
    with pytest.raises(RegistrationRefused, match="unknown organisation kind 'clinic'"):
        with platform.transaction() as session:
            register_organisation(session=session, platform=platform, actor=SYSTEM, identifier="X", name="X",
                                  kind="clinic")
    with pytest.raises(RegistrationRefused, match="identifier LAB-1 is already registered"):
        with platform.transaction() as session:
            register_organisation(session=session, platform=platform, actor=SYSTEM, identifier="LAB-1", name="X",
                                  kind="laboratory")
    agency = Actor(kind=ActorKind.agency, id="staff-7", display="Helpdesk")
    with platform.transaction() as session:
        register_professional(session=session, platform=platform, actor=agency, licence_number="L-2",
                              family_name="Weber", given_name="Marc", profession="physician",
                              specialties=["general_practice", "general_practice"], organisations=[])

    with platform.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Professional)) == 2
        weber = session.scalars(select(Professional).where(Professional.licence_number == "L-2")).one()
        assert weber.specialties == ["general_practice"]
        entries = list(session.scalars(select(TraceEntry).where(TraceEntry.chain == PLATFORM_CHAIN)
                                       .order_by(TraceEntry.seq)))
        assert [e.action for e in entries] == ["organisation.register", "professional.register",
                                               "professional.register"]
        assert entries[1].context["licence_number"] == "L-1"
        assert entries[1].context["organisations"] == ["LAB-1"]
        assert entries[1].actor_kind == "system"
        assert (entries[2].actor_kind, entries[2].actor_id) == ("agency", "staff-7")
        assert verify(session).intact

"""Attacks on the FHIR channel, as evidence for a privacy officer.

Five kinds of caller try every FHIR route on a record they may not reach.
Each answer is compared with the answer to the same request for an id that
does not exist: same status, same OperationOutcome, same headers, byte for
byte once ids and instants are masked. The table says, for each route and
caller, what the answer must look like:

- UNKNOWN: exactly the answer for an unknown id (document, stay or person).
- AS_EMPTY: a professional may look any person up (identity only, traced in
  that person's record) and is told how to obtain access to a record; the
  answer is then exactly the answer for a person whose record holds nothing:
  nothing of the record's content, hidden documents or stays is told.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select, update

from opendsp.access.wishes import WishKind, WishValue
from opendsp.clock import FrozenClock
from opendsp.documents.models import Document, DocumentDirectory
from opendsp.documents.types import ConfidentialityLevel, DocumentType
from opendsp.persons.models import Person
from opendsp.submissions.models import SubmissionSet
from opendsp.platform import Platform
from opendsp.professionals.models import Organisation, OrganisationKind, Professional
from opendsp.records.models import Record
from opendsp.stays.services import StayEvent, StayReport, apply_report
from opendsp.trace.models import Outcome, TraceEntry
from tests.factories import (
    PDF,
    as_holder,
    as_professional,
    holder_draft,
    holder_of,
    make_organisation,
    make_person,
    make_professional,
    make_record,
    professional_draft,
)
from tests.fhir.conftest import CONSULT_NOTE, Fhir, Software, World, provide_bundle, register

UNKNOWN, AS_EMPTY = "unknown", "as for an empty record"
NATIONAL = "urn:oid:1.3.182.4.4"


@dataclass
class Target:
    """What a caller attacks: a person, their record, a document and a stay in it."""

    person_id: uuid.UUID
    national_number: str
    document_id: uuid.UUID
    stay_id: uuid.UUID
    wish_id: uuid.UUID = field(default_factory=uuid.uuid4)  # the holder's organ donation wish (a Consent)


@dataclass
class Caller:
    software: Software
    professional: Professional
    target: Target


@dataclass
class Theatre:
    callers: dict[str, Caller]
    empty: Target  # a person whose record holds nothing, no stay, no choice


def _report_stay(session: Any, platform: Platform, clinic: Organisation, record: Record, visit: str) -> uuid.UUID:
    person = holder_of(session, record)
    now = platform.clock.now()
    stay = apply_report(session=session, platform=platform, hospital=clinic, software="Clinic HIS",
                        report=StayReport(event=StayEvent.admit, national_number=person.national_number,
                                          visit_number=visit, occurred_at=now - timedelta(hours=1)))
    return stay.id


def _target(session: Any, platform: Platform, record: Record, biologist: Professional, clinic: Organisation,
            visit: str) -> Target:
    document = as_professional(session, platform, biologist).deposit(
        record.id, professional_draft(DocumentType.laboratory_report, "Bilan"), [PDF])
    person = holder_of(session, record)
    wish = as_holder(session, platform, record).set_wish(record.id, WishKind.organ_donation, WishValue.yes)
    return Target(person_id=person.id, national_number=person.national_number, document_id=document.id,
                  stay_id=_report_stay(session, platform, clinic, record, visit), wish_id=wish.id)


@pytest.fixture
def theatre(platform: Platform, world: World, clock: FrozenClock) -> Theatre:
    with platform.transaction() as session:
        hospital = session.merge(world.hospital)
        record = session.get(Record, world.record.id)
        assert record is not None
        biologist = session.merge(world.biologist)
        clinic = make_organisation(session, platform, OrganisationKind.hospital, name="Clinique du Parc")
        south = make_organisation(session, platform, OrganisationKind.hospital, name="Hôpital Sud")
        visitor = make_professional(session, platform, organisation=hospital, family_name="Kieffer")
        closer = make_professional(session, platform, organisation=hospital, family_name="Wagner")
        southerner = make_professional(session, platform, organisation=south, family_name="Becker")
        main = _target(session, platform, record, biologist, clinic, "V-1")
        closed_record = make_record(session, platform)
        closed = _target(session, platform, closed_record, biologist, clinic, "V-2")
        empty_record = make_record(session, platform)
        empty_person = holder_of(session, empty_record)
        holder = as_holder(session, platform, record)
        holder.block(record.id, world.gp.id)  # the gp is in the circle, and blocked
        code = holder.regenerate_presence_code(record.id)
        as_professional(session, platform, visitor).open_with_presence_code(record.id, code)
        closing = as_holder(session, platform, closed_record)
        closing.add_to_circle(closed_record.id, closer.id)
        closing.close(closed_record.id)
        empty = Target(person_id=empty_person.id, national_number=empty_person.national_number,
                       document_id=uuid.uuid4(), stay_id=uuid.uuid4())
    clock.advance(timedelta(hours=25))  # the presence code's 24 hours are over; the stays still run
    at_hospital = world.software["hospital"]
    return Theatre(empty=empty, callers={
        "no relation": Caller(at_hospital, world.outsider, main),
        "blocked": Caller(at_hospital, world.gp, main),
        "expired presence code": Caller(at_hospital, visitor, main),
        "other hospital": Caller(register(platform, south, "South HIS"), southerner, main),
        "closed record": Caller(at_hospital, closer, closed),
    })


# -- the routes: each is a request built from a target ------------------------------------------------

Route = Callable[[Fhir, str, Target], Any]


def _replace(fhir: Fhir, token: str, target: Target) -> Any:
    bundle = provide_bundle(target.person_id, type_coding=CONSULT_NOTE, replaces=str(target.document_id))
    return fhir.post("/fhir/", token, bundle)


def _deposit(fhir: Fhir, token: str, target: Target) -> Any:
    return fhir.post("/fhir/", token, provide_bundle(target.person_id, type_coding=CONSULT_NOTE))


def _update_stay(fhir: Fhir, token: str, target: Target) -> Any:
    """A hospital's update of a stay it did not report (another hospital's): the stay does not exist for it."""
    stay = {"resourceType": "Encounter", "id": str(target.stay_id), "status": "finished",
            "identifier": [{"system": "urn:example:visit", "value": "V-1"}],
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
            "subject": {"reference": f"Patient/{target.person_id}"},
            "period": {"start": "2025-12-31T22:00:00+00:00", "end": "2026-01-02T10:00:00+00:00"}}
    return fhir.http.put(f"/fhir/Encounter/{target.stay_id}", content=json.dumps(stay).encode(),
                         headers={"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"})


# The searches of structured entries (IPS sections, results, medicines): each names a person, like Observation.
STRUCTURED_SEARCHES = ("Observation", "DiagnosticReport", "AllergyIntolerance", "Condition", "MedicationStatement",
                       "Immunization", "ImagingStudy", "Procedure", "MedicationRequest", "MedicationDispense")


ROUTES: dict[str, Route] = {
    "DocumentReference read": lambda f, t, x: f.get(f"/fhir/DocumentReference/{x.document_id}", t),
    "DocumentReference search": lambda f, t, x: f.get(f"/fhir/DocumentReference?patient={x.person_id}", t),
    "DocumentReference withdraw": lambda f, t, x: f.http.patch(
        f"/fhir/DocumentReference/{x.document_id}",
        content=b'[{"op": "replace", "path": "/status", "value": "entered-in-error"}]',
        headers={"Authorization": f"Bearer {t}", "Content-Type": "application/json-patch+json"}),
    "Binary": lambda f, t, x: f.get(f"/fhir/Binary/{x.document_id}", t),
    "List": lambda f, t, x: f.get(f"/fhir/List?patient={x.person_id}", t),
    "Encounter read": lambda f, t, x: f.get(f"/fhir/Encounter/{x.stay_id}", t),
    "Patient read": lambda f, t, x: f.get(f"/fhir/Patient/{x.person_id}", t),
    "Patient search": lambda f, t, x: f.get(f"/fhir/Patient?identifier={NATIONAL}|{x.national_number}", t),
    "AuditEvent": lambda f, t, x: f.get(f"/fhir/AuditEvent?patient={x.person_id}", t),
    "Consent": lambda f, t, x: f.get(f"/fhir/Consent?patient={x.person_id}", t),
    "Consent read (a wish)": lambda f, t, x: f.get(f"/fhir/Consent/{x.wish_id}", t),
    "Encounter update": _update_stay,
    "ITI-65 replace": _replace,
    "ITI-65 deposit": _deposit,
    **{f"{kind} search": (lambda kind: lambda f, t, x: f.get(f"/fhir/{kind}?patient={x.person_id}", t))(kind)
       for kind in STRUCTURED_SEARCHES},
    "$presence-code (a wrong one)": lambda f, t, x: f.post(
        f"/fhir/Patient/{x.person_id}/$presence-code", t,
        {"resourceType": "Parameters", "parameter": [{"name": "code", "valueString": "AAAA-AAAA"}]}),
}
# Routes naming a person: a professional may look anyone up and is told how to obtain access.
NAMING_A_PERSON = {"DocumentReference search", "List", "Patient read", "Patient search", "AuditEvent", "Consent",
                   "$presence-code (a wrong one)", "ITI-65 deposit",
                   *(f"{kind} search" for kind in STRUCTURED_SEARCHES)}
# Callers to whom the person exists (identity only): no block, record open.
PERSON_REACHABLE = {"no relation", "expired presence code", "other hospital"}


def expected(route: str, caller: str) -> str:
    return AS_EMPTY if route in NAMING_A_PERSON and caller in PERSON_REACHABLE else UNKNOWN


TABLE = [(route, caller, expected(route, caller)) for route in ROUTES for caller in
         ("no relation", "blocked", "expired presence code", "other hospital", "closed record")]

_MASKS = [
    (re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), b"<id>"),
    (re.compile(rb"\d{4}-\d{2}-\d{2}T[0-9:.]+(Z|[+-]\d{2}:\d{2})?"), b"<instant>"),
    (re.compile(rb"\d{4}-\d{2}-\d{2}T[0-9%A-F.]+(Z|%2B\d{2}%3A\d{2})?"), b"<instant>"),
    (re.compile(rb"(?<!\d)\d{13}(?!\d)"), b"<national number>"),
]
_VARYING_HEADERS = {"date", "content-length", "x-request-id"}


def answer(response: Any) -> tuple[int, bytes, dict[str, str]]:
    """What the caller can observe, ids and instants masked."""
    body = response.content
    for pattern, mask in _MASKS:
        body = pattern.sub(mask, body)
    headers = {k: v for k, v in response.headers.items() if k.lower() not in _VARYING_HEADERS}
    return response.status_code, body, headers


def unknown_like(target: Target, route: str) -> Target:
    """The same target with the ids the route names replaced by ones that do not exist (a replacement
    keeps its patient: only the document it replaces is unknown)."""
    keep_person = route == "ITI-65 replace"
    return Target(person_id=target.person_id if keep_person else uuid.uuid4(),
                  national_number="1979010112345", document_id=uuid.uuid4(), stay_id=uuid.uuid4(),
                  wish_id=uuid.uuid4())


def _documents(platform: Platform) -> tuple[int, int, list[str]]:
    with platform.sessions() as session:
        return (
            session.scalar(select(func.count()).select_from(Document)) or 0,
            session.scalar(select(func.count()).select_from(SubmissionSet)) or 0,
            sorted(s.value for s in session.scalars(select(Document.status))),
        )


@pytest.mark.parametrize(("route", "caller", "must_be"), TABLE, ids=[f"{r} · {c}" for r, c, _ in TABLE])
def test_a_record_out_of_reach_answers_as_unknown(
    platform: Platform, fhir: Fhir, theatre: Theatre, route: str, caller: str, must_be: str
) -> None:
    who = theatre.callers[caller]
    token = fhir.token(who.software, who.professional)
    before = _documents(platform)
    attacked = answer(ROUTES[route](fhir, token, who.target))
    reference = theatre.empty if must_be == AS_EMPTY else unknown_like(who.target, route)
    control = answer(ROUTES[route](fhir, token, reference))
    assert attacked == control, f"{route} by a caller with {caller}: {attacked[1]!r} != {control[1]!r}"
    assert attacked[0] != 200 or route.startswith("Patient"), "nothing of a record is served"
    assert _documents(platform) == before, "nothing is written"


def test_every_attempt_on_the_record_is_in_its_trace(platform: Platform, fhir: Fhir, theatre: Theatre,
                                                     world: World) -> None:
    """Refused, answered as unknown, and still traced: the holder sees who tried what."""
    who = theatre.callers["blocked"]
    token = fhir.token(who.software, who.professional)
    for route in ("DocumentReference read", "Binary", "DocumentReference search", "ITI-65 replace"):
        ROUTES[route](fhir, token, who.target)
    with platform.sessions() as session:
        tried = session.scalars(select(TraceEntry).where(
            TraceEntry.chain == str(world.record.id), TraceEntry.actor_id == str(world.gp.id),
        ).order_by(TraceEntry.seq)).all()
    assert [(e.action, e.outcome, e.reason) for e in tried] == [
        ("documents.list", Outcome.refused, "blocked"),
        ("document.consult", Outcome.refused, "blocked"),
        ("documents.list", Outcome.refused, "blocked"),
        ("document.replace", Outcome.refused, "blocked"),
    ]


# -- a property: whatever hides a document, it answers as a random unknown id --------------------------

HIDINGS = ("hidden by the holder", "restricted to others", "type not consulted", "withdrawn by its author",
           "record closed", "caller blocked")
ID_ROUTES = ("DocumentReference read", "Binary", "DocumentReference withdraw", "ITI-65 replace")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(hiding=st.sampled_from(HIDINGS), route=st.sampled_from(ID_ROUTES),
       kind=st.sampled_from([DocumentType.laboratory_report, DocumentType.consultation_report,
                             DocumentType.imaging_report]),
       unknown=st.uuids(version=4), care_day=st.integers(min_value=0, max_value=3000))
def test_a_document_out_of_reach_answers_as_a_random_unknown_id(
    platform: Platform, fhir: Fhir, world: World, hiding: str, route: str, kind: DocumentType, unknown: uuid.UUID,
    care_day: int,
) -> None:
    with platform.transaction() as session:
        record = make_record(session, platform)
        person = holder_of(session, record)
        organisation = make_organisation(session, platform, OrganisationKind.practice, name="Cabinet")
        reader = make_professional(session, platform, organisation=organisation,
                                   profession="pharmacist" if hiding == "type not consulted" else "physician",
                                   specialties=() if hiding == "type not consulted" else ("general_practice",))
        author = make_professional(session, platform, organisation=organisation, family_name="Author",
                                   specialties=("general_practice", "clinical_biology", "radiology"))
        holder = as_holder(session, platform, record)
        holder.add_to_circle(record.id, reader.id)
        holder.add_to_circle(record.id, author.id)
        draft = replace(professional_draft(kind if hiding != "type not consulted" else DocumentType.imaging_report),
                        care_date=date(2017, 1, 1) + timedelta(days=care_day),
                        confidentiality=ConfidentialityLevel.restricted if hiding == "restricted to others"
                        else ConfidentialityLevel.normal)
        document = as_professional(session, platform, author).deposit(record.id, draft, [PDF])
        match hiding:
            case "hidden by the holder":
                holder.hide(document.id)
            case "withdrawn by its author":
                as_professional(session, platform, author).withdraw(document.id)
            case "record closed":
                holder.close(record.id)
            case "caller blocked":
                holder.block(record.id, reader.id)
        target = Target(person_id=person.id, national_number=person.national_number, document_id=document.id,
                        stay_id=uuid.uuid4())
    software = register(platform, organisation, "Practice software")
    token = fhir.token(software, reader)
    hidden = answer(ROUTES[route](fhir, token, target))
    missing = answer(ROUTES[route](fhir, token, Target(person_id=target.person_id,
                                                        national_number=target.national_number,
                                                        document_id=unknown, stay_id=unknown)))
    assert hidden == missing
    assert hidden[0] == 404


# -- the directories (docs/adr/0043-directories.md): the record's own rows win ------------------------------

DIRECTORY_CASES = ("another record's document", "its directory row names the reader's record",
                   "its directory row is missing")


@pytest.mark.parametrize("route", ID_ROUTES)
@pytest.mark.parametrize("case", DIRECTORY_CASES)
def test_a_document_id_the_directory_does_not_place_in_a_record_answers_as_unknown(
    platform: Platform, fhir: Fhir, world: World, case: str, route: str,
) -> None:
    """The reader may read everything of the world's record (the laboratory's in its circle). A document id is
    answered through the directory, then read within the record it names: another record's document, a directory
    row that names the reader's record for a document of another record, and a document of the reader's own
    record whose directory row is gone all answer exactly as an id that exists nowhere, and change nothing."""
    with platform.transaction() as session:
        as_holder(session, platform, world.record).add_to_circle(world.record.id, world.biologist.id)
        other = make_record(session, platform)
        biologist = session.merge(world.biologist)
        elsewhere = as_holder(session, platform, other).deposit(other.id, holder_draft(), [PDF]).id
        own = as_professional(session, platform, biologist).deposit(
            world.record.id, professional_draft(DocumentType.laboratory_report, "Bilan"), [PDF]).id
        match case:
            case "another record's document":
                attacked = elsewhere
            case "its directory row names the reader's record":
                session.execute(update(DocumentDirectory).where(DocumentDirectory.document_id == elsewhere)
                                .values(record_id=world.record.id))
                attacked = elsewhere
            case _:
                session.execute(delete(DocumentDirectory).where(DocumentDirectory.document_id == own))
                attacked = own
    token = fhir.token(world.software["lab"], world.biologist)
    readable = Target(person_id=world.person_id, national_number=world.national_number, document_id=own,
                      stay_id=uuid.uuid4())
    if case != "its directory row is missing":
        assert ROUTES["DocumentReference read"](fhir, token, readable).status_code == 200  # the reader reads
    before = _documents(platform)
    seen = answer(ROUTES[route](fhir, token, replace(readable, document_id=attacked)))
    unknown = answer(ROUTES[route](fhir, token, replace(readable, document_id=uuid.uuid4())))
    assert seen == unknown, f"{route}: {seen[1]!r} != {unknown[1]!r}"
    assert seen[0] == 404
    assert _documents(platform) == before, "nothing is written"


@pytest.mark.parametrize("route", sorted(NAMING_A_PERSON - {"ITI-65 deposit", "$presence-code (a wrong one)"}))
def test_a_person_without_a_record_is_unknown(platform: Platform, fhir: Fhir, world: World, route: str) -> None:
    """A person in the register whose record was never created (``persons.record_id`` NULL), whose column names no
    record, or names a record whose holder is someone else, answers as a person who does not exist."""
    with platform.transaction() as session:
        without, nowhere, misnamed = (make_person(session, platform) for _ in range(3))
        other = make_record(session, platform)  # its holder's column is moved to another person by hand
        session.execute(update(Person).where(Person.id == other.person_id).values(record_id=None))
        session.execute(update(Person).where(Person.id == misnamed.id).values(record_id=other.id))
        session.execute(update(Person).where(Person.id == nowhere.id).values(record_id=uuid.uuid4()))
        people = [Target(person_id=p.id, national_number=p.national_number, document_id=uuid.uuid4(),
                         stay_id=uuid.uuid4()) for p in (without, nowhere, misnamed)]
    token = fhir.token(world.software["hospital"], world.outsider)
    nobody = answer(ROUTES[route](fhir, token, unknown_like(people[0], route)))
    for person in people:
        assert answer(ROUTES[route](fhir, token, person)) == nobody, route


def test_the_unknown_answer_is_one_operation_outcome(fhir: Fhir, world: World) -> None:
    token = fhir.token(world.software["hospital"], world.gp)
    response = fhir.get(f"/fhir/DocumentReference/{uuid.uuid4()}", token)
    assert response.status_code == 404
    assert response.json() == {"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "not-found", "diagnostics": "no such document"}]}


# -- every route of the FHIR API is attacked above, or says why it is not -----------------------------------

NOT_ATTACKED: dict[str, set[str]] = {
    "public documents (tests/fhir/test_routes.py)": {
        "GET /metadata", "GET /.well-known/smart-configuration", "GET /", "GET /fhir", "POST /fhir"},
    "a hospital reporting a stay: its own act, decided and traced as HL7 v2 reports are "
    "(tests/fhir/test_encounter.py; tests/fhir/test_door.py, a refused stay report traced as HL7 v2's)": {
        "POST /Encounter"},
}


class _Recorder:
    """Stands for the FHIR client: notes which requests a route of the table makes, and answers nothing."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []
        self.http = self

    def get(self, path: str, *_: Any, **__: Any) -> None:
        self.asked.append(("GET", path))

    def post(self, path: str, *_: Any, **__: Any) -> None:
        self.asked.append(("POST", path))

    def put(self, path: str, **_: Any) -> None:
        self.asked.append(("PUT", path))

    def patch(self, path: str, **_: Any) -> None:
        self.asked.append(("PATCH", path))


def test_every_fhir_route_is_in_the_attack_table_or_says_why_not(platform: Platform) -> None:
    """A new FHIR route fails here until it is in ``ROUTES`` (asked by every kind of caller) or, serving nothing
    of a record, in ``NOT_ATTACKED`` with its reason."""
    from starlette.routing import Match, Mount

    from opendsp.web.app import create_app
    from tests.fhir.test_routes import routes_of

    app = create_app(platform=platform)
    fhir_routes = [route for mount in app.routes if isinstance(mount, Mount) and mount.path == "/fhir"
                   for route in routes_of(mount.routes)]
    fhir_routes += [route for route in app.routes
                    if getattr(route, "path", "") == "/fhir" and not isinstance(route, Mount)]
    existing = {f"{method} {route.path}" for route in fhir_routes for method in route.methods if method != "HEAD"}
    recorder = _Recorder()
    target = Target(person_id=uuid.uuid4(), national_number="1979010112345", document_id=uuid.uuid4(),
                    stay_id=uuid.uuid4())
    for ask in ROUTES.values():
        ask(recorder, "token", target)  # type: ignore[arg-type]
    attacked = set()
    for method, path in recorder.asked:
        inside = path.removeprefix("/fhir").split("?", 1)[0] or "/"
        scope = {"type": "http", "method": method, "path": inside, "root_path": ""}
        matched = [route for route in fhir_routes if route.matches(scope)[0] is Match.FULL]
        assert matched, f"{method} {path}: the table asks for a route the API does not have"
        attacked.add(f"{method} {matched[0].path}")
    excused = set().union(*NOT_ATTACKED.values())
    assert sorted(existing - attacked - excused) == [], "routes neither attacked nor excused"
    assert sorted(excused - existing) == [], "excused routes that no longer exist"
    assert sorted(attacked & excused) == []

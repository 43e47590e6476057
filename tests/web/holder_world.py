"""A small world for the tests of the holder's control pages: a holder, professionals, hospitals, and a history."""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from opendsp.clock import FrozenClock
from opendsp.demo.clinical import ANALYTES
from opendsp.demo.fhir import AuthorInfo, Ids, LabResult, PatientInfo, laboratory_report
from opendsp.documents.services import DocumentDraft
from opendsp.documents.types import FHIR_MEDIA_TYPE, DocumentType
from opendsp.persons.models import Person
from opendsp.platform import Platform
from opendsp.policy.decision import AccessDenied
from opendsp.professionals.models import OrganisationKind
from opendsp.trace.models import TraceEntry
from tests.accounts.portal import Browser, Credentials, activate, letter_for, login
from tests.factories import (
    PDF,
    as_holder,
    as_professional,
    make_organisation,
    make_professional,
    make_record,
    professional_draft,
)


@dataclass
class World:
    record_id: uuid.UUID
    holder: Person
    presence_code: str
    gp: uuid.UUID  # Dr Jo Weber, general practice, Cabinet Weber
    nurse: uuid.UUID  # a nurse: cannot be a referring doctor
    urgentist: uuid.UUID  # an emergency physician of the Urgences Sud
    hospital: uuid.UUID  # Hôpital Kirchberg
    document_id: uuid.UUID  # "Bilan lipidique", a PDF by the GP
    structured_id: uuid.UUID  # a laboratory report in FHIR
    delayed_id: uuid.UUID  # a result the author delayed: the holder does not see it yet
    credentials: Credentials  # the holder's, from their letter


def logged_in(platform: Platform, clock: FrozenClock, person: Person) -> Browser:
    """A browser in which ``person`` has activated their account from their letter (and is logged in)."""
    browser = Browser(platform)
    browser.credentials = activate(  # type: ignore[attr-defined]
        browser, clock, person.national_number, letter_for(platform, person).activation)
    return browser


def log_in(platform: Platform, clock: FrozenClock, credentials: Credentials) -> Browser:
    browser = Browser(platform)
    assert login(browser, clock, credentials).status_code == 303
    return browser


def build(platform: Platform, clock: FrozenClock) -> World:
    """A holder whose record professionals have used: a consultation, an emergency access, a wrong code."""
    with platform.transaction() as session:
        record = make_record(session, platform, active=False)
        holder = record.holder
        practice = make_organisation(session, platform, name="Cabinet Weber")
        gp = make_professional(session, platform, organisation=practice, family_name="Weber")
        gp.given_name = "Jo"
        nurse = make_professional(session, platform, profession="nurse", specialties=(), family_name="Klein",
                                  organisation=make_organisation(session, platform, name="Soins Klein"))
        emergency = make_organisation(session, platform, OrganisationKind.emergency_department, name="Urgences Sud")
        urgentist = make_professional(session, platform, specialties=("emergency_medicine",),
                                      family_name="Urbain", organisation=emergency)
        hospital = make_organisation(session, platform, OrganisationKind.hospital, name="Hôpital Kirchberg")
        lab = make_organisation(session, platform, OrganisationKind.laboratory, name="Labo Est")
        biologist = make_professional(session, platform, profession="laboratory_biologist", specialties=(),
                                      family_name="Biolo", organisation=lab)
        ids = (record.id, gp.id, nurse.id, urgentist.id, hospital.id)
    letter = letter_for(platform, holder)  # the presence code of the letter
    credentials = activate(Browser(platform), clock, holder.national_number, letter.activation)
    record_id = ids[0]
    with platform.transaction() as session:
        as_holder(session, platform, session.get(type(record), record_id)).add_to_circle(record_id, ids[1])
        gp_access = as_professional(session, platform, session.get(type(gp), ids[1]))
        document = gp_access.deposit(record_id, professional_draft(title="Bilan lipidique"), [PDF])
        structured = _lab_report(session, platform, biologist.id, record_id)
        delayed = as_professional(session, platform, session.get(type(gp), ids[1])).deposit(
            record_id,
            DocumentDraft(type=DocumentType.consultation_report, title="Résultat à expliquer",
                          care_date=date(2025, 3, 1), media_type="application/pdf",
                          visible_to_holder_from=clock.now() + timedelta(days=30)),
            [PDF])
        document_id, structured_id, delayed_id = document.id, structured, delayed.id
    clock.advance(timedelta(minutes=5))
    with platform.transaction() as session:
        as_professional(session, platform, session.get(type(gp), ids[1])).consult(document_id).read()
        urgent = as_professional(session, platform, session.get(type(gp), ids[3]))
        urgent.open_emergency_access(record_id, "unconscious after a fall")
        urgent.consult(document_id).read()
    clock.advance(timedelta(minutes=5))
    try:
        with platform.transaction() as session:
            as_professional(session, platform, session.get(type(gp), ids[2])).open_with_presence_code(
                record_id, "WRON-GCOD")
    except AccessDenied:
        pass
    return World(record_id=record_id, holder=holder, presence_code=letter.presence, gp=ids[1], nurse=ids[2],
                 urgentist=ids[3], hospital=ids[4], document_id=document_id, structured_id=structured_id,
                 delayed_id=delayed_id, credentials=credentials)


def _lab_report(session, platform: Platform, biologist_id: uuid.UUID, record_id: uuid.UUID) -> uuid.UUID:  # type: ignore[no-untyped-def]
    from opendsp.professionals.models import Professional

    analyte = ANALYTES["haemoglobin"]
    bundle = laboratory_report(
        Ids(random.Random(5)), patient=PatientInfo("1980010112345", "Schmit", "Anne", "female", date(1980, 5, 17)),
        author=AuthorInfo("L1", "Biolo", "Dr", "ORG1", "Labo Est"), day=date(2025, 2, 1), language="fr",
        title="Hémogramme", results=[LabResult(analyte, 13.5, 12.0, 16.0, "N")],
    )
    biologist = session.get(Professional, biologist_id)
    draft = DocumentDraft(type=DocumentType.laboratory_report, title="Hémogramme", care_date=date(2025, 2, 1),
                          media_type=FHIR_MEDIA_TYPE)
    document = as_professional(session, platform, biologist).deposit(record_id, draft, [json.dumps(bundle).encode()])
    return document.id


def entries(platform: Platform, record_id: uuid.UUID, action: str | None = None) -> list[TraceEntry]:
    with platform.sessions() as session:
        query = select(TraceEntry).where(TraceEntry.chain == str(record_id))
        if action:
            query = query.where(TraceEntry.action == action)
        return list(session.scalars(query.order_by(TraceEntry.seq)))


@pytest.fixture
def world(platform: Platform, clock: FrozenClock) -> World:
    """The world of ``build``, as a fixture (import it with ``holder`` into a test module)."""
    return build(platform, clock)


@pytest.fixture
def holder(platform: Platform, clock: FrozenClock, world: World) -> Browser:
    """The world's holder, logged in."""
    return log_in(platform, clock, world.credentials)

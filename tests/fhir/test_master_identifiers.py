"""MHD's masterIdentifier is unique across records (ITI-65): the directory ``master_identifiers`` keeps it so,
written with the submission; a resubmission of a taken identifier is refused with 409, into the same record or
another, by the same sender or another, with nothing written and nothing told of the record that holds it."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select

from opendsp.documents.models import Document
from opendsp.platform import Platform
from opendsp.submissions.models import MasterIdentifier, SubmissionSet, SubmittedDocument
from opendsp.trace.models import TraceEntry
from tests.factories import as_holder, holder_of, make_record
from tests.fhir.conftest import LAB_REPORT, Fhir, World, provide_bundle


def _counts(platform: Platform) -> dict[str, int]:
    with platform.sessions() as session:
        return {model.__name__: session.scalar(select(func.count()).select_from(model)) or 0
                for model in (Document, SubmissionSet, SubmittedDocument, MasterIdentifier, TraceEntry)}


def _masked(response: Any, *ids: object) -> str:
    text = response.text
    for value in ids:
        text = text.replace(str(value), "<id>")
    return text


def test_the_identifier_is_written_to_the_directory_with_the_submission(
        platform: Platform, world: World, fhir: Fhir) -> None:
    lab = fhir.token(world.software["lab"], world.biologist)
    master = f"urn:oid:1.2.3.{uuid.uuid4().int}"
    response = fhir.post("/fhir/", lab, provide_bundle(world.person_id, type_coding=LAB_REPORT, master=master))
    assert response.status_code == 200, response.text
    with platform.sessions() as session:
        (submitted,) = session.scalars(select(SubmittedDocument)).all()
        (entry,) = session.scalars(select(MasterIdentifier)).all()
    assert (entry.value, entry.record_id, entry.document_id) == (master, world.record.id, submitted.document_id)
    assert submitted.master_identifier == master


def test_a_taken_identifier_is_refused_for_another_patient_as_for_the_same(
        platform: Platform, world: World, fhir: Fhir) -> None:
    with platform.transaction() as session:
        other = make_record(session, platform)
        other_person = holder_of(session, other).id
        as_holder(session, platform, other).add_to_circle(other.id, world.gp.id)
    lab = fhir.token(world.software["lab"], world.biologist)
    hospital = fhir.token(world.software["hospital"], world.gp)
    master = f"urn:oid:1.2.3.{uuid.uuid4().int}"
    first = fhir.post("/fhir/", lab, provide_bundle(world.person_id, type_coding=LAB_REPORT, master=master))
    assert first.status_code == 200, first.text
    before = _counts(platform)
    with platform.sessions() as session:
        first_document = session.scalars(select(SubmittedDocument.document_id)).one()

    again = fhir.post("/fhir/", lab, provide_bundle(world.person_id, type_coding=LAB_REPORT, master=master))
    attacks = [
        fhir.post("/fhir/", lab, provide_bundle(other_person, type_coding=LAB_REPORT, master=master)),
        fhir.post("/fhir/", hospital, provide_bundle(other_person, master=master, title="Lettre")),
    ]
    assert again.status_code == 409
    outcome = again.json()
    assert outcome["resourceType"] == "OperationOutcome" and outcome["issue"][0]["code"] == "duplicate"
    for attack in attacks:
        # Exactly the answer the same resubmission gets on the first patient: the identifier the sender gave, and
        # nothing of the record, patient or document holding it.
        assert attack.status_code == 409
        assert _masked(attack) == _masked(again)
        for secret in (world.record.id, world.person_id, first_document, world.national_number):
            assert str(secret) not in attack.text
    # Nothing written anywhere: no document, no submission, no directory row, no trace entry.
    assert _counts(platform) == before
    with platform.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Document).where(Document.record_id == other.id)) == 0
        (entry,) = session.scalars(select(MasterIdentifier)).all()
    assert (entry.record_id, entry.document_id) == (world.record.id, first_document)


def test_a_bundle_with_one_taken_identifier_among_new_ones_writes_nothing(
        platform: Platform, world: World, fhir: Fhir) -> None:
    lab = fhir.token(world.software["lab"], world.biologist)
    taken = f"urn:oid:1.2.3.{uuid.uuid4().int}"
    assert fhir.post("/fhir/", lab, provide_bundle(world.person_id, type_coding=LAB_REPORT,
                                                   master=taken)).status_code == 200
    before = _counts(platform)
    fresh = f"urn:oid:1.2.3.{uuid.uuid4().int}"
    bundle = provide_bundle(world.person_id, type_coding=LAB_REPORT, master=fresh)
    second = provide_bundle(world.person_id, type_coding=LAB_REPORT, master=taken)
    # One submission set holding both DocumentReferences (and their Binaries).
    bundle["entry"][0]["resource"]["entry"] += second["entry"][0]["resource"]["entry"]
    bundle["entry"] += second["entry"][1:]
    response = fhir.post("/fhir/", lab, bundle)
    assert response.status_code == 409, response.text
    assert taken in response.text
    assert _counts(platform) == before
    with platform.sessions() as session:
        assert session.get(MasterIdentifier, fresh) is None

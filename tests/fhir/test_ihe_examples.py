"""The IHE MHD guide's own ITI-65 examples (tests/fhir/data/ihe_mhd, patient adapted) over the real HTTP interface:
each accepted, or refused for the documented reason (docs/fhir.md, "The IHE examples")."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from opendsp.documents.models import Document
from opendsp.documents.types import ConfidentialityLevel
from opendsp.persons.models import Person
from opendsp.platform import Platform
from opendsp.submissions.models import DocumentRelation, Folder, FolderEntry
from tests.factories import as_holder, make_record
from tests.fhir.conftest import CONSULT_NOTE, Fhir, World, provide_bundle, valid

DATA = Path(__file__).parent / "data" / "ihe_mhd"
PATIENT_SUMMARY = {"system": "http://loinc.org", "code": "60591-5"}
HELLO = b"Hello World"
ADD_TO_FOLDER_UID = "urn:oid:1.2.840.113556.1.8000.2554.58783.21864.3474.19410.44358.58254.41281.46353"


def example(name: str, **values: Any) -> dict[str, Any]:
    """An example as the guide has it, its placeholders filled (see the data's README)."""
    text = (DATA / f"{name}.json").read_text()
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", str(value))
    assert "{{" not in text, f"{name} needs more values"
    return json.loads(text)


def named_like_the_guide(platform: Platform, world: World) -> None:
    """The guide's patient is Dee Schmidt: the record's person is named so (test data, not an adaptation)."""
    with platform.transaction() as session:
        person = session.get(Person, world.person_id)
        assert person is not None
        person.family_name, person.given_name = "Schmidt", "Dee"


def referring_gp(platform: Platform, world: World) -> None:
    """The examples are patient summaries (LOINC 60591-5): in the DSP the referring doctor deposits them."""
    with platform.transaction() as session:
        as_holder(session, platform, world.record).set_referring_doctor(world.record.id, world.gp.id)


@pytest.fixture
def gp_token(platform: Platform, world: World, fhir: Fhir) -> str:
    referring_gp(platform, world)
    return fhir.token(world.software["hospital"], world.gp)


def provide(fhir: Fhir, token: str, bundle: dict[str, Any]) -> Any:
    """ITI-65 at the base URL the CapabilityStatement names, no slash, no redirect followed."""
    return fhir.http.post("/fhir", content=json.dumps(bundle).encode(), follow_redirects=False,
                          headers={"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"})


def earlier_summary(fhir: Fhir, token: str, world: World, person_id: uuid.UUID | None = None) -> str:
    """A patient summary already in a record (what the guide's examples call ex-documentreference)."""
    response = provide(fhir, token, provide_bundle(person_id or world.person_id, type_coding=PATIENT_SUMMARY,
                                                   title="Earlier summary"))
    assert response.status_code == 200, response.text
    return str(response.json()["entry"][1]["response"]["location"].split("/")[1])


def with_folder(bundle: dict[str, Any], person_id: uuid.UUID, unique_id: str) -> dict[str, Any]:
    """A plain provide bundle with a Folder created beside its SubmissionSet."""
    document_url = bundle["entry"][1]["fullUrl"]
    folder_url = f"urn:uuid:{uuid.uuid4()}"
    bundle["entry"][0]["resource"]["entry"].append({"item": {"reference": folder_url}})
    bundle["entry"].append({"fullUrl": folder_url, "request": {"method": "POST", "url": "List"}, "resource": {
        "resourceType": "List", "identifier": [{"use": "usual", "system": "urn:ietf:rfc:3986", "value": unique_id}],
        "status": "current", "mode": "working", "title": "Suivi",
        "code": {"coding": [{"system": "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes", "code": "folder"}]},
        "subject": {"reference": f"Patient/{person_id}"}, "date": "2026-01-01T09:00:00Z",
        "entry": [{"item": {"reference": document_url}}]}})
    return bundle


def count(platform: Platform, model: type) -> int:
    with platform.sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def locations(response: Any) -> list[tuple[str, str]]:
    return [(e["response"]["status"], e["response"]["location"]) for e in valid(response.json())["entry"]]


def read(fhir: Fhir, token: str, location: str) -> dict[str, Any]:
    response = fhir.get("/fhir/" + location.removesuffix("/_history/1"), token)
    assert response.status_code == 200, response.text
    return valid(response.json())


# -- each example -------------------------------------------------------------------------------------------


def test_minimal_simple_matches_its_patient_entry_and_is_refused_for_want_of_a_type(
        platform: Platform, world: World, fhir: Fhir, gp_token: str) -> None:
    named_like_the_guide(platform, world)
    bundle = example("minimalSimple", national_number=world.national_number)
    persons = count(platform, Person)
    response = provide(fhir, gp_token, bundle)
    # Policy: the rights matrix decides by document type; a Minimal DocumentReference without one is refused.
    assert response.status_code == 422, response.text
    assert "document type" in response.json()["issue"][0]["diagnostics"]
    assert count(platform, Document) == 0

    # The same with a type: the Patient entry is matched (200, never created), the document deposited.
    bundle["entry"][1]["resource"]["type"] = {"coding": [PATIENT_SUMMARY]}
    response = provide(fhir, gp_token, bundle)
    assert response.status_code == 200, response.text
    statuses = locations(response)
    assert statuses[3] == ("200 OK", f"Patient/{world.person_id}")
    assert [s for s, _ in statuses[:3]] == ["201 Created"] * 3
    assert count(platform, Person) == persons  # matched, not created


def test_minimal_simple_contained_is_refused_for_want_of_a_patient(platform: Platform, world: World, fhir: Fhir,
                                                                  gp_token: str) -> None:
    response = provide(fhir, gp_token, example("minimalSimpleContained"))
    assert response.status_code == 422
    assert "subject" in response.json()["issue"][0]["expression"][0]
    assert count(platform, Document) == 0


def test_comprehensive_simple_is_accepted_and_read_with_its_hash_and_size(world: World, fhir: Fhir,
                                                                          gp_token: str) -> None:
    response = provide(fhir, gp_token, example("comprehensiveSimple", patient_id=world.person_id))
    assert response.status_code == 200, response.text
    _, location = locations(response)[1]
    attachment = read(fhir, gp_token, location)["content"][0]["attachment"]
    assert (attachment["hash"], attachment["size"], attachment["contentType"]) == (
        "Ck1VqNd45QIvq3AZd8XYQLvEhtA=", 11, "text/plain")
    found = valid(fhir.get(f"/fhir/DocumentReference?patient={world.person_id}", gp_token).json())
    assert found["entry"][0]["resource"]["content"][0]["attachment"]["hash"] == "Ck1VqNd45QIvq3AZd8XYQLvEhtA="
    binary = fhir.get("/fhir/" + location.replace("DocumentReference", "Binary").removesuffix("/_history/1"),
                      gp_token, headers={"Accept": "text/plain"})
    assert binary.content == HELLO


def test_comprehensive_replace_supersedes_by_its_patch(platform: Platform, world: World, fhir: Fhir,
                                                       gp_token: str) -> None:
    old = earlier_summary(fhir, gp_token, world)
    bundle = example("comprehensiveReplace", patient_id=world.person_id, replaced_document=old)
    response = provide(fhir, gp_token, bundle)
    # As the guide has it, the attachment declares 24 bytes for a 23-byte content: the integrity check refuses it.
    assert response.status_code == 422
    assert response.json()["issue"][0]["expression"] == ["Bundle.entry[2].resource.content[0].attachment.size"]

    bundle["entry"][2]["resource"]["content"][0]["attachment"]["size"] = 23
    response = provide(fhir, gp_token, bundle)
    assert response.status_code == 200, response.text
    statuses = locations(response)
    assert statuses[1] == ("200 OK", f"DocumentReference/{old}/_history/1")  # the PATCH entry
    assert read(fhir, gp_token, f"DocumentReference/{old}")["status"] == "superseded"
    new = read(fhir, gp_token, statuses[2][1])
    assert new["relatesTo"] == [{"code": "replaces", "target": {"reference": f"DocumentReference/{old}"}}]
    assert new["content"][0]["attachment"]["hash"] == "6OMXIUMAFYfLdQhEaqCS61GZWAk="


def test_comprehensive_multiple_is_refused_for_its_shared_unique_id(platform: Platform, world: World, fhir: Fhir,
                                                                    gp_token: str) -> None:
    response = provide(fhir, gp_token, example("comprehensiveMultiple", patient_id=world.person_id))
    # Both documents carry the same masterIdentifier (uniqueId), which XDS and the DSP keep unique.
    assert response.status_code == 422
    assert response.json()["issue"][0]["code"] == "duplicate"
    assert count(platform, Document) == 0


@pytest.mark.parametrize("name", ["comprehensiveComplete", "unContainedComprehensiveComplete"])
def test_complete_examples_append_and_file_a_folder(platform: Platform, world: World, fhir: Fhir, gp_token: str,
                                                    name: str) -> None:
    earlier = earlier_summary(fhir, gp_token, world)
    response = provide(fhir, gp_token, example(name, patient_id=world.person_id, appended_document=earlier))
    assert response.status_code == 200, response.text
    statuses = locations(response)
    assert all(status == "201 Created" for status, _ in statuses)
    document = read(fhir, gp_token, next(loc for _, loc in statuses if loc.startswith("DocumentReference/")))
    assert {"code": "appends", "target": {"reference": f"DocumentReference/{earlier}"}} in document["relatesTo"]
    assert document["content"][0]["attachment"]["hash"] == "Ck1VqNd45QIvq3AZd8XYQLvEhtA="
    folders = valid(fhir.get(f"/fhir/List?patient={world.person_id}&code=folder", gp_token).json())
    if name == "comprehensiveComplete":
        (entry,) = folders["entry"]
        folder = entry["resource"]
        assert folder["title"] == "Example Folder with comprehensive metadata"
        assert folder["entry"] == [{"item": {"reference": f"DocumentReference/{document['id']}"}}]
        assert [e["valueCodeableConcept"]["coding"][0]["code"] for e in folder["extension"]] == [
            "225728007", "284548004"]
        assert ("201 Created", f"List/{folder['id']}/_history/1") in statuses
        lists = valid(fhir.get(f"/fhir/List?patient={world.person_id}", gp_token).json())
        assert {e["resource"]["code"]["coding"][0]["code"] for e in lists["entry"]} == {"submissionset", "folder"}
    else:
        assert folders["total"] == 0
    assert count(platform, DocumentRelation) == 1


def test_add_to_folder_with_put_list(platform: Platform, world: World, fhir: Fhir, gp_token: str) -> None:
    setup = provide(fhir, gp_token, with_folder(provide_bundle(world.person_id, type_coding=PATIENT_SUMMARY),
                                                world.person_id, ADD_TO_FOLDER_UID))
    assert setup.status_code == 200, setup.text
    first = setup.json()["entry"][1]["response"]["location"].split("/")[1]
    folder_id = setup.json()["entry"][3]["response"]["location"].split("/")[1]

    response = provide(fhir, gp_token, example("addToFolder", patient_id=world.person_id, folder_document=first))
    assert response.status_code == 200, response.text
    statuses = locations(response)
    assert statuses[1] == ("200 OK", f"List/{folder_id}/_history/1")
    added = statuses[2][1].split("/")[1]
    (entry,) = valid(fhir.get(f"/fhir/List?patient={world.person_id}&code=folder", gp_token).json())["entry"]
    assert {e["item"]["reference"] for e in entry["resource"]["entry"]} == {
        f"DocumentReference/{first}", f"DocumentReference/{added}"}
    assert count(platform, Folder) == 1 and count(platform, FolderEntry) == 2


def test_get_and_post_at_the_base_url_answer_without_a_redirect(fhir: Fhir, world: World, gp_token: str) -> None:
    response = fhir.http.get("/fhir", follow_redirects=False)
    assert response.status_code == 200
    capability = valid(response.json())
    assert "https://profiles.ihe.net/ITI/MHD/CapabilityStatement/IHE.MHD.DocumentRecipient.Comprehensive" in \
        capability["instantiates"]
    assert "Folders" in capability["rest"][0]["interaction"][0]["documentation"]
    refused = provide(fhir, "not-a-token", example("comprehensiveSimple", patient_id=world.person_id))
    assert refused.status_code == 401  # the base URL is protected like /fhir/


# -- attacks --------------------------------------------------------------------------------------------------


def test_a_patient_entry_naming_another_person_answers_as_an_unknown_patient(
        platform: Platform, world: World, fhir: Fhir, gp_token: str) -> None:
    named_like_the_guide(platform, world)
    with platform.transaction() as session:
        other = make_record(session, platform)
        other_number = session.get(Person, other.person_id).national_number  # type: ignore[union-attr]
    base = example("minimalSimple", national_number=world.national_number)
    base["entry"][1]["resource"]["type"] = {"coding": [PATIENT_SUMMARY]}

    def answer(patient: dict[str, Any], subject: str | None = None) -> tuple[int, Any]:
        bundle = copy.deepcopy(base)
        bundle["entry"][3]["resource"] = {**bundle["entry"][3]["resource"], **patient}
        if subject:
            bundle["entry"][0]["resource"]["subject"] = {"reference": subject}
        response = provide(fhir, gp_token, bundle)
        return response.status_code, response.json()["issue"]

    national = "urn:oid:1.3.182.4.4"
    unknown = answer({"identifier": [{"system": national, "value": "1900010100000"}]})
    assert unknown[0] == 404
    # Another person by their number (with the names of the guide), a wrong name, a wrong birth date, or the
    # SubmissionSet's subject naming another patient than the entry: all the same unknown patient.
    assert answer({"identifier": [{"system": national, "value": other_number}]}) == unknown
    assert answer({"name": [{"family": "Muller", "given": ["Dee"]}]}) == unknown
    assert answer({"birthDate": "1901-01-01"}) == unknown
    assert answer({}, subject=f"Patient/{other.person_id}") == unknown
    assert count(platform, Document) == 0


def _other_records_document(platform: Platform, world: World, fhir: Fhir, gp_token: str) -> tuple[str, str]:
    """A patient summary in another record the GP may not reach, and one in the world's record hidden by its holder."""
    with platform.transaction() as session:
        other = make_record(session, platform)
    lab = fhir.token(world.software["lab"], world.biologist)
    response = provide(fhir, lab, provide_bundle(other.person_id))
    assert response.status_code == 200, response.text
    elsewhere = response.json()["entry"][1]["response"]["location"].split("/")[1]
    hidden = earlier_summary(fhir, gp_token, world)
    with platform.transaction() as session:
        as_holder(session, platform, world.record).set_confidentiality(uuid.UUID(hidden),
                                                                     ConfidentialityLevel.restricted)
    return elsewhere, hidden


def test_a_patch_or_relation_to_a_document_out_of_reach_answers_as_unknown(
        platform: Platform, world: World, fhir: Fhir, gp_token: str) -> None:
    elsewhere, _hidden = _other_records_document(platform, world, fhir, gp_token)
    documents = count(platform, Document)

    def replace_answer(target: str, token: str = gp_token) -> tuple[int, Any]:
        bundle = example("comprehensiveReplace", patient_id=world.person_id, replaced_document=target)
        bundle["entry"][2]["resource"]["content"][0]["attachment"]["size"] = 23
        response = provide(fhir, gp_token, bundle)
        return response.status_code, response.json()["issue"]

    def append_answer(target: str) -> tuple[int, Any]:
        response = provide(fhir, gp_token, example("comprehensiveComplete", patient_id=world.person_id,
                                                   appended_document=target))
        return response.status_code, response.json()["issue"]

    unknown = replace_answer(str(uuid.uuid4()))
    assert unknown[0] == 404
    assert replace_answer(elsewhere) == unknown
    assert append_answer(str(uuid.uuid4())) == unknown
    assert append_answer(elsewhere) == unknown
    assert count(platform, Document) == documents
    assert count(platform, DocumentRelation) == 0


def test_a_relation_to_a_document_the_caller_may_not_see_answers_as_unknown(
        platform: Platform, world: World, fhir: Fhir, gp_token: str) -> None:
    _elsewhere, restricted = _other_records_document(platform, world, fhir, gp_token)
    # A restricted document the holder keeps from everyone but its author: a circle colleague may not see it.
    colleague = fhir.token(world.software["hospital"], world.outsider)
    with platform.transaction() as session:
        as_holder(session, platform, world.record).add_to_circle(world.record.id, world.outsider.id)
    unknown = provide(fhir, colleague, example("unContainedComprehensiveComplete", patient_id=world.person_id,
                                               appended_document=str(uuid.uuid4())))
    hidden = provide(fhir, colleague, example("unContainedComprehensiveComplete", patient_id=world.person_id,
                                              appended_document=restricted))
    assert unknown.status_code == 404
    assert (hidden.status_code, hidden.json()["issue"]) == (unknown.status_code, unknown.json()["issue"])


def test_a_folder_of_another_record_answers_as_unknown(platform: Platform, world: World, fhir: Fhir,
                                                       gp_token: str) -> None:
    with platform.transaction() as session:
        other = make_record(session, platform)
        as_holder(session, platform, other).add_to_circle(other.id, world.gp.id)
    setup = provide(fhir, gp_token, with_folder(provide_bundle(other.person_id, type_coding=CONSULT_NOTE),
                                                other.person_id, ADD_TO_FOLDER_UID))
    assert setup.status_code == 200, setup.text
    foreign = setup.json()["entry"][3]["response"]["location"].split("/")[1]
    mine = earlier_summary(fhir, gp_token, world)

    def answer(url: str) -> tuple[int, Any]:
        bundle = example("addToFolder", patient_id=world.person_id, folder_document=mine)
        bundle["entry"][1]["request"]["url"] = url
        response = provide(fhir, gp_token, bundle)
        return response.status_code, response.json()["issue"]

    unknown = answer(f"List/{uuid.uuid4()}")
    assert unknown[0] == 404
    assert answer(f"List/{foreign}") == unknown
    assert answer("List") == unknown  # by the other record's folder uniqueId: not a folder of this record
    assert count(platform, FolderEntry) == 1


def test_erasing_the_record_forgets_its_folders_relations_and_hashes(platform: Platform, world: World, fhir: Fhir,
                                                                     gp_token: str) -> None:
    from opendsp.access.services import RecordAccess
    from opendsp.actors import SYSTEM
    from opendsp.records.erasure import ErasureBasis, erase_record
    from opendsp.records.models import Record
    from opendsp.submissions.models import SubmittedDocument

    earlier = earlier_summary(fhir, gp_token, world)
    response = provide(fhir, gp_token, example("comprehensiveComplete", patient_id=world.person_id,
                                               appended_document=earlier))
    assert response.status_code == 200, response.text
    assert (count(platform, Folder), count(platform, FolderEntry), count(platform, DocumentRelation)) == (1, 1, 1)
    with platform.transaction() as session:
        as_holder(session, platform, world.record).close(world.record.id)
    with platform.transaction() as session:
        record = session.get(Record, world.record.id)
        assert record is not None
        erase_record(access=RecordAccess(session=session, platform=platform, actor=SYSTEM), record=record,
                     basis=ErasureBasis.death, reason="décès")
    assert (count(platform, Folder), count(platform, FolderEntry), count(platform, DocumentRelation)) == (0, 0, 0)
    with platform.sessions() as session:
        assert session.scalars(select(SubmittedDocument.content_sha1)).all() == [None, None]


def test_a_search_shows_each_document_as_its_read_does_and_a_relation_only_to_what_the_reader_may_see(
        platform: Platform, world: World, fhir: Fhir, gp_token: str) -> None:
    """The search reads its page as values in one statement (hash, context, relations with it); the read by id
    goes the ORM way: both give the same DocumentReference, and a relation to a document the reader may no
    longer see is left out of both."""
    earlier = earlier_summary(fhir, gp_token, world)
    response = provide(fhir, gp_token, example("comprehensiveComplete", patient_id=world.person_id,
                                               appended_document=earlier))
    assert response.status_code == 200, response.text
    location = next(loc for _, loc in locations(response) if loc.startswith("DocumentReference/"))

    def searched() -> dict[str, Any]:
        bundle = valid(fhir.get(f"/fhir/DocumentReference?patient=Patient/{world.person_id}", gp_token).json())
        return next(e["resource"] for e in bundle["entry"]
                    if location.startswith(f"DocumentReference/{e['resource']['id']}/"))

    appends = {"code": "appends", "target": {"reference": f"DocumentReference/{earlier}"}}
    document = searched()
    assert document == read(fhir, gp_token, location)
    assert appends in document["relatesTo"]
    assert document["content"][0]["attachment"]["hash"] == "Ck1VqNd45QIvq3AZd8XYQLvEhtA="
    assert document["context"]["practiceSetting"] and document["context"]["event"] and document["contained"]
    with platform.transaction() as session:  # hidden by the holder: no professional sees it, nor a relation to it
        as_holder(session, platform, world.record).hide(uuid.UUID(earlier))
    hidden = searched()
    assert hidden == read(fhir, gp_token, location)
    assert appends not in hidden.get("relatesTo", [])
    assert {key: value for key, value in document.items() if key != "relatesTo"} == \
        {key: value for key, value in hidden.items() if key != "relatesTo"}

"""IHE MHD over HTTP: provide (ITI-65), find (ITI-67), retrieve (ITI-68), find lists (ITI-66)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func, select

from opendsp.clock import FrozenClock
from opendsp.documents.models import Document
from opendsp.platform import Platform
from opendsp.trace.models import TraceEntry
from tests.factories import PDF
from tests.fhir.conftest import CONSULT_NOTE, Fhir, World, provide_bundle, valid


def deposit(fhir: Fhir, world: World, token: str, **kwargs) -> str:  # type: ignore[no-untyped-def]
    response = fhir.post("/fhir/", token, provide_bundle(world.person_id, **kwargs))
    assert response.status_code == 200, response.text
    bundle = valid(response.json())
    assert bundle["type"] == "transaction-response"
    location = bundle["entry"][1]["response"]["location"]
    return location.split("/")[1]


def documents(platform: Platform) -> int:
    with platform.sessions() as session:
        return session.scalar(select(func.count()).select_from(Document)) or 0


def test_a_laboratory_deposits_and_the_circle_doctor_finds_and_retrieves(platform: Platform, world: World,
                                                                        fhir: Fhir) -> None:
    lab_token = fhir.token(world.software["lab"], world.biologist, "system/DocumentReference.c")
    document_id = deposit(fhir, world, lab_token)

    gp_token = fhir.token(world.software["hospital"], world.gp, "system/DocumentReference.rs system/Binary.r")
    found = fhir.get(f"/fhir/DocumentReference?patient=Patient/{world.person_id}", gp_token)
    assert found.status_code == 200, found.text
    assert found.headers["content-type"].startswith("application/fhir+json")
    bundle = valid(found.json())
    assert bundle["total"] == 1
    reference = bundle["entry"][0]["resource"]
    assert reference["id"] == document_id
    assert reference["type"]["coding"][0]["code"] == "11502-2"
    assert reference["category"][0]["coding"][0]["code"] == "laboratory-result"
    assert reference["securityLabel"][0]["coding"][0]["code"] == "N"
    url = reference["content"][0]["attachment"]["url"]

    content = fhir.get(url, gp_token, headers={"Accept": "application/pdf"})
    assert content.status_code == 200
    assert content.headers["content-type"] == "application/pdf"
    assert content.content == PDF

    as_json = fhir.get(url, gp_token)
    binary = valid(as_json.json())
    assert binary["resourceType"] == "Binary" and binary["contentType"] == "application/pdf"

    read = fhir.get(f"/fhir/DocumentReference/{document_id}", gp_token)
    assert valid(read.json())["id"] == document_id

    with platform.sessions() as session:
        entries = session.scalars(select(TraceEntry).where(TraceEntry.chain == str(world.record.id))
                                  .order_by(TraceEntry.seq)).all()
    last = entries[-4:]
    assert [e.action for e in last] == ["documents.list", "document.consult", "document.consult", "documents.list"]
    assert all(e.client_software and "Hospital HIS" in e.client_software for e in last)
    deposit_entry = next(e for e in entries if e.action == "document.deposit")
    assert deposit_entry.basis == "direct_deposit" and "Lab LIS" in (deposit_entry.client_software or "")


def test_search_parameters_paging_and_sort(world: World, fhir: Fhir, clock: FrozenClock) -> None:
    lab_token = fhir.token(world.software["lab"], world.biologist, "system/DocumentReference.c")
    first = deposit(fhir, world, lab_token, title="Premier")
    clock.advance(timedelta(seconds=1))
    second = deposit(fhir, world, lab_token, title="Second")
    clock.advance(timedelta(seconds=1))
    third = deposit(fhir, world, lab_token, title="Troisième")
    token = fhir.token(world.software["hospital"], world.gp, "system/DocumentReference.s")
    patient = f"patient.identifier=urn:oid:1.3.182.4.4|{world.national_number}"

    def ids(query: str) -> list[str]:
        response = fhir.get(f"/fhir/DocumentReference?{patient}&{query}", token)
        assert response.status_code == 200, response.text
        return [e["resource"]["id"] for e in valid(response.json()).get("entry", [])]

    assert set(ids("status=current")) == {first, second, third}
    assert ids("type=http://loinc.org|11502-2&_sort=date") == [first, second, third]
    assert ids("type=11488-4") == []
    assert set(ids("category=laboratory-result")) == {first, second, third}
    assert set(ids("author.family=mul")) == {first, second, third}
    assert ids("author.family:exact=Hoffmann") == []
    assert set(ids("date=ge2026-01-01&date=lt2026-01-02")) == {first, second, third}
    assert ids("date=lt2025") == []
    assert set(ids("period=2025-03-01")) == {first, second, third}
    assert set(ids("facility=laboratory")) == {first, second, third}
    assert set(ids("security-label=N")) == {first, second, third}
    assert ids("security-label=R") == []
    assert set(ids(f"format=urn:ihe:iti:xds:2017:mimeTypeSufficient&_id={first},{second}")) == {first, second}

    page = valid(fhir.get(f"/fhir/DocumentReference?{patient}&_count=2&_sort=date", token).json())
    assert page["total"] == 3 and [e["resource"]["id"] for e in page["entry"]] == [first, second]
    next_url = next(link["url"] for link in page["link"] if link["relation"] == "next")
    rest = valid(fhir.get(next_url, token).json())
    assert [e["resource"]["id"] for e in rest["entry"]] == [third]
    assert not any(link["relation"] == "next" for link in rest["link"])


def test_replacement_supersedes_and_the_author_withdraws(world: World, fhir: Fhir) -> None:
    token = fhir.token(world.software["lab"], world.biologist, "system/DocumentReference.crus system/Binary.r")
    original = deposit(fhir, world, token)
    replacement = deposit(fhir, world, token, replaces=original, content=PDF + b"v2")
    gp = fhir.token(world.software["hospital"], world.gp, "system/DocumentReference.rs")
    bundle = valid(fhir.get(f"/fhir/DocumentReference?patient={world.person_id}", gp).json())
    statuses = {e["resource"]["id"]: e["resource"]["status"] for e in bundle["entry"]}
    assert statuses == {original: "superseded", replacement: "current"}
    newer = next(e["resource"] for e in bundle["entry"] if e["resource"]["id"] == replacement)
    assert newer["relatesTo"][0]["target"]["reference"] == f"DocumentReference/{original}"

    patch = [{"op": "replace", "path": "/status", "value": "entered-in-error"}]
    refused = fhir.post(f"/fhir/DocumentReference/{replacement}", gp, patch, "application/json-patch+json")
    assert refused.status_code == 405  # POST is not the withdrawal
    gp_write = fhir.token(world.software["hospital"], world.gp, "system/DocumentReference.u")
    import json

    not_author = fhir.http.patch(f"/fhir/DocumentReference/{replacement}", content=json.dumps(patch),
                                 headers={"Authorization": f"Bearer {gp_write}",
                                          "Content-Type": "application/json-patch+json"})
    assert not_author.status_code == 403
    assert valid(not_author.json())["issue"][0]["details"]["coding"][0]["code"] == "not_author"
    withdrawn = fhir.http.patch(f"/fhir/DocumentReference/{replacement}", content=json.dumps(patch),
                                headers={"Authorization": f"Bearer {token}",
                                         "Content-Type": "application/json-patch+json"})
    assert withdrawn.status_code == 200, withdrawn.text
    assert valid(withdrawn.json())["status"] == "entered-in-error"
    after = valid(fhir.get(f"/fhir/DocumentReference?patient={world.person_id}&status=current", gp).json())
    assert after["total"] == 0


def test_find_document_lists(world: World, fhir: Fhir) -> None:
    token = fhir.token(world.software["lab"], world.biologist, "system/DocumentReference.c")
    document_id = deposit(fhir, world, token)
    gp = fhir.token(world.software["hospital"], world.gp, "system/List.s")
    response = fhir.get(f"/fhir/List?patient={world.person_id}&code=submissionset", gp)
    bundle = valid(response.json())
    assert bundle["total"] == 1
    assert bundle["entry"][0]["resource"]["entry"][0]["item"]["reference"] == f"DocumentReference/{document_id}"


def test_consult_notes_a_gp_may_deposit_in_the_circle(world: World, fhir: Fhir, platform: Platform) -> None:
    token = fhir.token(world.software["hospital"], world.gp, "system/DocumentReference.c")
    deposit(fhir, world, token, type_coding=CONSULT_NOTE, title="Consultation")
    assert documents(platform) == 1
    outsider = fhir.token(world.software["hospital"], world.outsider, "system/DocumentReference.c")
    refused = fhir.post("/fhir/", outsider, provide_bundle(world.person_id, type_coding=CONSULT_NOTE))
    assert refused.status_code == 403
    outcome = valid(refused.json())
    assert outcome["issue"][0]["details"]["coding"][0]["code"] == "no_access"
    assert documents(platform) == 1


def test_unknown_document_is_not_found(world: World, fhir: Fhir) -> None:
    gp = fhir.token(world.software["hospital"], world.gp, "system/DocumentReference.r system/Binary.r")
    for path in (f"/fhir/DocumentReference/{uuid.uuid4()}", f"/fhir/Binary/{uuid.uuid4()}", "/fhir/Binary/nope"):
        response = fhir.get(path, gp)
        assert response.status_code == 404
        assert valid(response.json())["issue"][0]["code"] == "not-found"


def test_retrieve_streams_large_content_in_chunks(platform: Platform, world: World, fhir: Fhir) -> None:
    from opendsp.documents.types import DocumentType
    from tests.factories import as_professional, professional_draft

    big = bytes(range(256)) * (12 * 1024)  # 3 MiB
    with platform.transaction() as session:
        document = as_professional(session, platform, world.biologist).deposit(
            world.record.id, professional_draft(DocumentType.laboratory_report, "Gros fichier"),
            (big[i: i + 65536] for i in range(0, len(big), 65536)),
        )
    token = fhir.token(world.software["hospital"], world.gp, "system/Binary.r")
    with fhir.http.stream("GET", f"/fhir/Binary/{document.id}",
                          headers={"Authorization": f"Bearer {token}", "Accept": "application/pdf"}) as response:
        assert response.status_code == 200
        assert response.headers["content-length"] == str(len(big))
        chunks = list(response.iter_raw())
    assert len(chunks) > 1 and b"".join(chunks) == big


SNOMED = "http://snomed.info/sct"


def test_setting_event_and_related_are_kept_and_found(platform: Platform, world: World, fhir: Fhir) -> None:
    """MHD ITI-67: setting (context.practiceSetting), event (context.event), related (context.related identifiers)."""
    lab = fhir.token(world.software["lab"], world.biologist, "system/DocumentReference.c")
    bundle = provide_bundle(world.person_id, title="Bilan lipidique")
    reference = bundle["entry"][1]["resource"]
    reference["context"] |= {
        "practiceSetting": {"coding": [{"system": SNOMED, "code": "394596001", "display": "Chemical pathology"}]},
        "event": [{"coding": [{"system": SNOMED, "code": "252150008", "display": "Fasting lipid profile"},
                              {"system": "urn:lab:acts", "code": "LIP"}]},
                  {"text": "à jeun"}],
        "related": [{"identifier": {"system": "urn:oid:1.2.3.4.5", "value": "ORDER-77"}, "display": "la demande"}],
    }
    response = fhir.post("/fhir/", lab, bundle)
    assert response.status_code == 200, response.text
    document_id = response.json()["entry"][1]["response"]["location"].split("/")[1]
    deposit(fhir, world, lab, title="Sans contexte")

    gp = fhir.token(world.software["hospital"], world.gp, "system/DocumentReference.rs")

    def found(query: str) -> list[str]:
        answer = fhir.get(f"/fhir/DocumentReference?patient={world.person_id}&{query}", gp)
        assert answer.status_code == 200, answer.text
        return [e["resource"]["id"] for e in valid(answer.json()).get("entry", [])]

    assert found(f"setting={SNOMED}|394596001") == [document_id]
    assert found("setting=394596001") == [document_id]
    assert found(f"setting={SNOMED}|") == [document_id]
    assert found("setting=|394596001") == []  # the sender gave a system
    assert found("event=LIP") == [document_id]
    assert found("event=urn:lab:acts|LIP,urn:lab:acts|XYZ") == [document_id]
    assert found(f"event={SNOMED}|252150008&event=urn:lab:acts|LIP") == [document_id]
    assert found(f"event={SNOMED}|252150008&event=urn:lab:acts|XYZ") == []
    assert found("related=urn:oid:1.2.3.4.5|ORDER-77") == [document_id]
    assert found("related=ORDER-77") == [document_id]
    assert found("related=urn:oid:9.9|ORDER-77") == []
    assert len(found("_count=10")) == 2
    read = valid(fhir.get(f"/fhir/DocumentReference/{document_id}", gp).json())
    context = read["context"]
    assert context["practiceSetting"] == reference["context"]["practiceSetting"]
    assert context["event"] == reference["context"]["event"]
    assert context["related"] == reference["context"]["related"]
    refused = fhir.get(f"/fhir/DocumentReference?patient={world.person_id}&setting:text=x", gp)
    assert refused.status_code == 400 and valid(refused.json())["issue"][0]["code"] == "not-supported"


def test_a_context_without_codes_is_refused_and_stores_nothing(platform: Platform, world: World, fhir: Fhir) -> None:
    lab = fhir.token(world.software["lab"], world.biologist, "system/DocumentReference.c")
    bundle = provide_bundle(world.person_id)
    bundle["entry"][1]["resource"]["context"]["related"] = [{"display": "no identifier, no reference"}]
    response = fhir.post("/fhir/", lab, bundle)
    assert response.status_code == 422
    assert valid(response.json())["issue"][0]["expression"] == ["Bundle.entry[1].resource.context.related[0]"]
    assert documents(platform) == 0

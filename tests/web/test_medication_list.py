"""The medication list over HTTP, for the holder and for the professional: each medicine once, what was prescribed
and what was dispensed, since when, in the reader's words, linked to its sources; one trace entry; nothing from
another record, from a document the reader may not see, or from a type their profession may not consult."""

from __future__ import annotations

import json
import random
import uuid
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from opendsp.clock import FrozenClock
from opendsp.demo.clinical import AMOXICILLIN, CONDITIONS
from opendsp.demo.fhir import AuthorInfo, Ids, PatientInfo, Prescribed, dispensation, prescription
from opendsp.documents.services import DocumentDraft
from opendsp.documents.types import FHIR_MEDIA_TYPE, ConfidentialityLevel, DocumentType
from opendsp.platform import Platform
from opendsp.professionals.models import OrganisationKind, Professional
from opendsp.records.models import Record
from opendsp.trace.models import TraceEntry
from opendsp.web.security import LANGUAGE_COOKIE
from tests.accounts.portal import Browser, settings  # noqa: F401 - the cheap-hash settings
from tests.browser import Screens, chromium, live, screens  # noqa: F401
from tests.factories import (
    as_holder,
    as_professional,
    make_organisation,
    make_professional,
    make_record,
    run_jobs,
)
from tests.web.holder_world import logged_in
from tests.web.professional import professional_with_account, record_with_code

PATIENT = PatientInfo("1980010112345", "Schmit", "Anne", "female", date(1980, 5, 17))
DOCTOR = AuthorInfo("L1", "Weber", "Dr", "ORG1", "Cabinet Weber")
PHARMACY = AuthorInfo("P1", "Hoffmann", "Paul", "ORG2", "Pharmacie du Centre")


def _no_text(bundle: dict[str, Any]) -> dict[str, Any]:
    """The medicines coded only (no author's text), so that the reader's words come from the ATC table."""
    for entry in bundle["entry"]:
        concept = entry["resource"].get("medicationCodeableConcept")
        if concept:
            concept.pop("text", None)
    return bundle


def prescribed(day: date, *items: Prescribed, coded_only: bool = True) -> bytes:
    bundle = prescription(Ids(random.Random(day.toordinal())), patient=PATIENT, author=DOCTOR, day=day,
                          language="fr", title="Ordonnance", items=list(items))
    return json.dumps(_no_text(bundle) if coded_only else bundle).encode()


def dispensed(day: date, *items: Prescribed) -> bytes:
    bundle = dispensation(Ids(random.Random(day.toordinal() + 1)), patient=PATIENT, author=PHARMACY, day=day,
                          language="fr", title="Délivrance", items=list(items))
    return json.dumps(_no_text(bundle)).encode()


def deposit(platform: Platform, record_id: uuid.UUID, author_id: uuid.UUID, kind: DocumentType, title: str,
            day: date, content: bytes, *, visible_from: datetime | None = None,
            confidentiality: ConfidentialityLevel = ConfidentialityLevel.normal) -> uuid.UUID:
    with platform.transaction() as session:
        draft = DocumentDraft(type=kind, title=title, care_date=day, media_type=FHIR_MEDIA_TYPE,
                              visible_to_holder_from=visible_from, confidentiality=confidentiality)
        author = session.get(Professional, author_id)
        return as_professional(session, platform, author).deposit(record_id, draft, [content]).id


def circle(platform: Platform, record_id: uuid.UUID, *professionals: uuid.UUID) -> None:
    with platform.transaction() as session:
        holder = as_holder(session, platform, session.get(Record, record_id))
        for professional in professionals:
            holder.add_to_circle(record_id, professional)


def authors(platform: Platform) -> tuple[uuid.UUID, uuid.UUID]:
    """A general practitioner and a pharmacist (of a pharmacy)."""
    with platform.transaction() as session:
        doctor = make_professional(session, platform, family_name="Weber")
        pharmacy = make_organisation(session, platform, OrganisationKind.pharmacy, name="Pharmacie du Centre")
        pharmacist = make_professional(session, platform, profession="pharmacist", specialties=(),
                                       family_name="Hoffmann", organisation=pharmacy)
        return doctor.id, pharmacist.id


def holder_with_medicines(platform: Platform, clock: FrozenClock) -> tuple[Record, Browser, dict[str, uuid.UUID]]:
    """A logged-in holder: amoxicillin prescribed in 2024 and again in 2025, dispensed in 2025; a statin prescribed."""
    with platform.transaction() as session:
        record = make_record(session, platform, active=False)
        session.expunge(record.holder)
        session.expunge(record)
    browser = logged_in(platform, clock, record.holder)
    doctor, pharmacist = authors(platform)
    circle(platform, record.id, doctor, pharmacist)
    statin = CONDITIONS["hyperlipidaemia"].medicine
    ids = {
        "first": deposit(platform, record.id, doctor, DocumentType.prescription, "Ordonnance 2024", date(2024, 1, 10),
                         prescribed(date(2024, 1, 10), Prescribed(AMOXICILLIN))),
        "second": deposit(platform, record.id, doctor, DocumentType.prescription, "Ordonnance 2025",
                          date(2025, 3, 1), prescribed(date(2025, 3, 1),
                                                       Prescribed(AMOXICILLIN, "0123456", (2, "boîtes")),
                                                       Prescribed(statin))),
        "dispensed": deposit(platform, record.id, pharmacist, DocumentType.dispensation, "Délivrance mars",
                             date(2025, 3, 2), dispensed(date(2025, 3, 2), Prescribed(AMOXICILLIN, "0123456",
                                                                                        (2, "boîtes")))),
    }
    return record, browser, ids


def rows(page: str) -> list[str]:
    if 'id="medications"' not in page:
        return []
    body = page.split('id="medications"', 1)[1].split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return body.split("<tr>")[1:]


def reads(platform: Platform, record_id: uuid.UUID) -> list[dict[str, Any]]:
    with platform.sessions() as session:
        entries = session.scalars(select(TraceEntry).where(TraceEntry.chain == str(record_id),
                                                           TraceEntry.action == "document.consult")).all()
    return [e.context for e in entries if e.context.get("purpose") == "medication_list"]


def test_the_holder_sees_each_medicine_once_prescribed_and_dispensed_since_its_first_prescription(
        platform: Platform, clock: FrozenClock) -> None:
    record, browser, ids = holder_with_medicines(platform, clock)
    other, _, other_ids = holder_with_medicines(platform, clock)

    browser.choose_language("fr", "/record")
    assert browser.get("/record/medications").status_code == 200
    page = browser.page
    lines = rows(page)
    assert len(lines) == 2  # amoxicillin (prescribed twice, dispensed once) and the statin
    amoxicillin = next(line for line in lines if "J01CA04" in line)
    assert "Amoxicilline" in amoxicillin and "10/01/2024" in amoxicillin  # since its first prescription, in French
    assert "2 boîtes" in amoxicillin and "Pharmacie du Centre" in amoxicillin
    for document_id in ids.values():
        assert f'/record/documents/{document_id}"' in page
    assert page.index("J01CA04") < page.index("C10AA05") and "Atorvastatine" in page  # dispensed last: first
    for document_id in other_ids.values():  # another record's prescriptions and dispensations never show
        assert str(document_id) not in page

    browser.choose_language("de", "/record/medications")
    browser.get("/record/medications")
    assert "Amoxicillin" in browser.page and "Medikationsliste" in browser.page and "10.1.2024" in browser.page

    # One act per page shown, naming the documents read.
    read = reads(platform, record.id)
    assert len(read) == 3 and all(str(i) in json.dumps(read[-1]) for i in ids.values())
    assert reads(platform, other.id) == []
    browser.choose_language("fr", "/record/trace")
    browser.get("/record/trace?who=holder_side")
    assert "Documents consultés pour la liste des médicaments" in browser.page  # the act, named in the trace


def test_prescriptions_are_read_in_the_reader_s_words_and_found_by_keyword(platform: Platform,
                                                                          clock: FrozenClock) -> None:
    _record, browser, ids = holder_with_medicines(platform, clock)
    run_jobs(platform)  # the keyword index is written by the worker
    browser.choose_language("de", "/record")
    page = browser.get(f"/record/documents/{ids['dispensed']}").text
    assert "abgegeben am 2.3.2025" in page and "Amoxicillin" in page and 'id="structured"' in page
    found = browser.submit("/record/search", {"q": "amoxicillin"}, form_page="/record/search").text
    assert str(ids["first"]) in found and str(ids["dispensed"]) in found


def test_a_prescription_the_holder_may_not_see_yet_stays_out(platform: Platform, clock: FrozenClock) -> None:
    with platform.transaction() as session:
        record = make_record(session, platform, active=False)
        session.expunge(record.holder)
        session.expunge(record)
    browser = logged_in(platform, clock, record.holder)
    doctor, _ = authors(platform)
    circle(platform, record.id, doctor)
    deposit(platform, record.id, doctor, DocumentType.prescription, "Ordonnance", date(2025, 3, 1),
            prescribed(date(2025, 3, 1), Prescribed(AMOXICILLIN)), visible_from=clock.now() + timedelta(days=30))
    browser.get("/record/medications")
    assert rows(browser.page) == [] and 'id="no-medication"' in browser.page


def test_only_a_logged_in_holder_reaches_it(platform: Platform) -> None:
    response = Browser(platform).get("/record/medications")
    assert response.status_code == 303 and response.headers["location"] == "/login"


# -- the professional -----------------------------------------------------------------------------


def patient_with_medicines(platform: Platform) -> tuple[Record, dict[str, uuid.UUID], uuid.UUID]:
    record, _code = record_with_code(platform)
    doctor, pharmacist = authors(platform)
    circle(platform, record.id, doctor, pharmacist)
    ids = {
        "prescription": deposit(platform, record.id, doctor, DocumentType.prescription, "Ordonnance", date(2025, 3, 1),
                                prescribed(date(2025, 3, 1), Prescribed(AMOXICILLIN, quantity=(2, "boîtes")))),
        "dispensation": deposit(platform, record.id, pharmacist, DocumentType.dispensation, "Délivrance",
                                date(2025, 3, 2),
                                dispensed(date(2025, 3, 2), Prescribed(AMOXICILLIN, quantity=(2, "boîtes")))),
    }
    return record, ids, doctor


def test_a_physician_of_the_circle_sees_the_list_linked_from_the_summary_and_not_a_hidden_prescription(
        platform: Platform, clock: FrozenClock) -> None:
    pro = professional_with_account(platform, clock)
    record, ids, _ = patient_with_medicines(platform)
    other, other_ids, _ = patient_with_medicines(platform)
    circle(platform, record.id, pro.id)
    circle(platform, other.id, pro.id)
    summary = pro.browser.get(f"/pro/patients/{record.id}/summary").text
    assert f'href="/pro/patients/{record.id}/medications"' in summary

    response = pro.browser.get(f"/pro/patients/{record.id}/medications")
    assert response.status_code == 200
    page = response.text
    assert len(rows(page)) == 1 and "Amoxicillin" in page and "2 boîtes" in page
    assert all(f"/pro/patients/{record.id}/documents/{i}" in page for i in ids.values())
    assert not any(str(i) in page for i in other_ids.values())  # another record's dispensation never shows
    assert len(reads(platform, record.id)) == 1

    with platform.transaction() as session:
        as_holder(session, platform, session.get(Record, record.id)).hide(ids["prescription"])
    page = pro.browser.get(f"/pro/patients/{record.id}/medications").text
    assert str(ids["prescription"]) not in page and str(ids["dispensation"]) in page
    assert "Not prescribed" in page or "Sans prescription" in page  # dispensed, the prescription out of sight


def test_a_restricted_prescription_shows_to_its_author_only(platform: Platform, clock: FrozenClock) -> None:
    pro = professional_with_account(platform, clock)
    record, _code = record_with_code(platform)
    doctor, _ = authors(platform)
    circle(platform, record.id, doctor, pro.id)
    secret = deposit(platform, record.id, doctor, DocumentType.prescription, "Ordonnance", date(2025, 3, 1),
                     prescribed(date(2025, 3, 1), Prescribed(CONDITIONS["depression"].medicine)),
                     confidentiality=ConfidentialityLevel.restricted)
    page = pro.browser.get(f"/pro/patients/{record.id}/medications").text
    assert str(secret) not in page and "N06AB06" not in page and 'id="no-medication"' in page


def test_a_pharmacist_sees_prescriptions_and_dispensations_a_radiographer_sees_none(
        platform: Platform, clock: FrozenClock) -> None:
    pharmacist = professional_with_account(platform, clock, kind=OrganisationKind.pharmacy, profession="pharmacist",
                                           specialties=(), name="Pharmacie Sud")
    radiographer = professional_with_account(platform, clock, kind=OrganisationKind.imaging_centre,
                                             profession="radiographer", specialties=(), name="Imagerie Est")
    record, ids, _ = patient_with_medicines(platform)
    circle(platform, record.id, pharmacist.id, radiographer.id)
    page = pharmacist.browser.get(f"/pro/patients/{record.id}/medications").text
    assert all(str(i) in page for i in ids.values())
    response = radiographer.browser.get(f"/pro/patients/{record.id}/medications")
    assert response.status_code == 200  # the record is open to them, its prescriptions are not
    assert not any(str(i) in response.text for i in ids.values()) and "J01CA04" not in response.text


def test_without_access_the_answer_says_nothing_of_the_record_s_medicines(platform: Platform,
                                                                        clock: FrozenClock) -> None:
    stranger = professional_with_account(platform, clock, family_name="Fremd")
    record, ids, _ = patient_with_medicines(platform)
    empty, _code = record_with_code(platform)
    with_medicines = stranger.browser.get(f"/pro/patients/{record.id}/medications")
    without = stranger.browser.get(f"/pro/patients/{empty.id}/medications")
    assert with_medicines.status_code == without.status_code == 403  # the record-level refusal, as for the summary
    from tests.web.indistinguishable import answer
    assert answer(with_medicines) == answer(without)
    assert "J01CA04" not in with_medicines.text and not any(str(i) in with_medicines.text for i in ids.values())
    unknown = stranger.browser.get(f"/pro/patients/{uuid.uuid4()}/medications")
    assert unknown.status_code == 404
    assert stranger.browser.get("/pro/patients/not-an-id/medications").status_code == 404

    with platform.transaction() as session:  # blocked: refused, however close they were
        holder = as_holder(session, platform, session.get(Record, record.id))
        holder.add_to_circle(record.id, stranger.id)
        holder.block(record.id, stranger.id)
    blocked = stranger.browser.get(f"/pro/patients/{record.id}/medications")
    assert blocked.status_code >= 400 and "J01CA04" not in blocked.text


# -- in Chromium, on a phone ----------------------------------------------------------------------


def _phone(screens: Screens, language: str) -> None:
    screens.page.set_viewport_size({"width": 390, "height": 844})
    screens.page.context.add_cookies([{"name": LANGUAGE_COOKIE, "value": language, "url": screens.base_url}])


def test_the_holder_s_medication_list_on_a_phone_in_german(platform: Platform, clock: FrozenClock,
                                                          screens: Screens) -> None:
    record, browser, _ids = holder_with_medicines(platform, clock)
    screens.log_in(browser.credentials)  # type: ignore[attr-defined]
    _phone(screens, "de")
    screens.visit("/record/medications", "holder medication list de")
    assert screens.page.locator("#medications tbody tr").count() == 2
    assert "Atorvastatin" in screens.page.locator("#medications").inner_text()


def test_the_professional_s_medication_list_on_a_phone_in_french(platform: Platform, clock: FrozenClock,
                                                                 screens: Screens) -> None:
    pro = professional_with_account(platform, clock)
    record, _ids, _ = patient_with_medicines(platform)
    circle(platform, record.id, pro.id)
    screens.log_in(pro.credentials)
    _phone(screens, "fr")
    screens.visit(f"/pro/patients/{record.id}/medications", "professional medication list fr")
    table = screens.page.locator("#medications").inner_text()
    assert screens.page.locator("#medications tbody tr").count() == 1 and "Amoxicilline" in table
    screens.visit(f"/pro/patients/{record.id}/deposit/prescription", "prescription form fr")
    assert screens.page.locator("#prescription-set input[type=checkbox]").count() >= 3


# -- deposited from the professional's portal -----------------------------------------------------


def test_a_physician_deposits_an_electronic_prescription_from_the_portal(platform: Platform,
                                                                         clock: FrozenClock) -> None:
    pro = professional_with_account(platform, clock)
    record, _code = record_with_code(platform)
    circle(platform, record.id, pro.id)
    form = f"/pro/patients/{record.id}/deposit/prescription"
    assert 'href="/pro/patients/' in pro.browser.get(f"/pro/patients/{record.id}/deposit").text
    assert f'href="{form}"' in pro.browser.page
    base = {"title": "Ordonnance", "care_date": "2025-03-01", "confidentiality": "normal"}
    for fields, problem in [
        (base, "Tick at least one medicine."),
        ({**base, "medicine": ["J01CA04"], "boxes_J01CA04": "40"}, "A medicine is dispensed in 1 to 12 boxes."),
        ({**base, "medicine": ["J01CA04"], "boxes_J01CA04": "1.5"}, "A medicine is dispensed in 1 to 12 boxes."),
        ({**base, "medicine": ["X99"]}, "Choose the medicines from the list."),
    ]:
        refused = pro.browser.submit(form, fields, form_page=form)
        assert refused.status_code == 400 and problem in refused.text, problem
    done = pro.browser.submit(form, {**base, "medicine": ["J01CA04", "C10AA05"], "boxes_J01CA04": "2"},
                              form_page=form)
    assert done.status_code == 303, pro.browser.page
    page = pro.browser.get(f"/pro/patients/{record.id}/medications").text
    assert len(rows(page)) == 2 and "2 box(es)" in page


def test_a_pharmacist_deposits_a_dispensation_and_is_not_offered_the_prescription_form(
        platform: Platform, clock: FrozenClock) -> None:
    pharmacist = professional_with_account(platform, clock, kind=OrganisationKind.pharmacy, profession="pharmacist",
                                           specialties=(), name="Pharmacie Nord")
    doctor = professional_with_account(platform, clock, family_name="Arzt")
    record, _code = record_with_code(platform)
    circle(platform, record.id, pharmacist.id, doctor.id)
    prescribe, dispense = (f"/pro/patients/{record.id}/deposit/{kind}" for kind in ("prescription", "dispensation"))
    offered = pharmacist.browser.get(f"/pro/patients/{record.id}/deposit").text
    assert prescribe not in offered and dispense in offered
    assert dispense not in doctor.browser.get(f"/pro/patients/{record.id}/deposit").text
    assert pharmacist.browser.get(prescribe).status_code == 403
    assert doctor.browser.get(dispense).status_code == 403
    fields = {"title": "Délivrance", "care_date": "2025-03-02", "confidentiality": "normal", "medicine": ["J01CA04"],
              "boxes_J01CA04": "2"}
    refused = pharmacist.browser.submit(prescribe, fields, form_page=f"/pro/patients/{record.id}")
    assert refused.status_code == 403
    assert doctor.browser.submit(dispense, fields, form_page=f"/pro/patients/{record.id}").status_code == 403
    with platform.sessions() as session:
        from opendsp.documents.models import Document
        assert session.scalars(select(Document).where(Document.record_id == record.id)).all() == []

    done = pharmacist.browser.submit(dispense, fields, form_page=dispense)
    assert done.status_code == 303, pharmacist.browser.page
    page = doctor.browser.get(f"/pro/patients/{record.id}/medications").text
    assert len(rows(page)) == 1 and "2 box(es)" in page and "Not prescribed" in page

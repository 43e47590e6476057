"""The holder's vaccination record over HTTP: gathered from the structured documents, each vaccination once,
in the reader's words and formats, as a page and as a PDF; one trace entry; nothing from another record or
from a document the holder may not see yet; a parent sees their child's."""

from __future__ import annotations

import io
import json
import random
import uuid
from datetime import date, timedelta

from pypdf import PdfReader
from sqlalchemy import select

from opendsp.clock import FrozenClock
from opendsp.demo.clinical import VACCINES
from opendsp.demo.fhir import AuthorInfo, Ids, PatientInfo, SummaryContent, patient_summary
from opendsp.documents.services import DocumentDraft
from opendsp.documents.types import FHIR_MEDIA_TYPE, DocumentType
from opendsp.persons.models import LegalRepresentation
from opendsp.platform import Platform
from opendsp.records.models import Record
from opendsp.trace.models import TraceEntry
from opendsp.web.security import LANGUAGE_COOKIE
from tests.accounts.portal import Browser, settings  # noqa: F401 - the cheap-hash settings
from tests.browser import Screens, chromium, live, screens  # noqa: F401
from tests.factories import as_holder, as_professional, make_professional, make_record
from tests.web.holder_world import logged_in

PATIENT = PatientInfo("1980010112345", "Schmit", "Anne", "female", date(1980, 5, 17))
AUTHOR = AuthorInfo("L1", "Weber", "Dr", "ORG1", "Cabinet Weber")


def summary(day: date, *vaccinations: tuple[str, date, str]) -> bytes:
    content = SummaryContent(allergies=[], conditions=[], medicines=[],
                             immunizations=[(VACCINES[name], given, batch) for name, given, batch in vaccinations])
    bundle = patient_summary(Ids(random.Random(day.toordinal())), patient=PATIENT, author=AUTHOR, day=day,
                             language="fr", title="Résumé patient", content=content)
    return json.dumps(bundle).encode()


def deposit_summary(platform: Platform, record_id: uuid.UUID, doctor_id: uuid.UUID, day: date,
                    *vaccinations: tuple[str, date, str], visible_from=None) -> uuid.UUID:  # type: ignore[no-untyped-def]
    from opendsp.professionals.models import Professional

    with platform.transaction() as session:
        draft = DocumentDraft(type=DocumentType.patient_summary, title=f"Résumé patient {day.year}", care_date=day,
                              media_type=FHIR_MEDIA_TYPE, visible_to_holder_from=visible_from)
        doctor = session.get(Professional, doctor_id)
        return as_professional(session, platform, doctor).deposit(record_id, draft, [summary(day, *vaccinations)]).id


def record_with_doctor(platform: Platform, clock: FrozenClock) -> tuple[Record, uuid.UUID, Browser]:
    """A record its holder activated (and is logged in to), with a general practitioner in its circle."""
    with platform.transaction() as session:
        record = make_record(session, platform, active=False)
        session.expunge(record.holder)
        session.expunge(record)
    browser = logged_in(platform, clock, record.holder)
    with platform.transaction() as session:
        doctor = make_professional(session, platform, family_name="Weber")
        holder = as_holder(session, platform, session.get(Record, record.id))
        holder.add_to_circle(record.id, doctor.id)
        holder.set_referring_doctor(record.id, doctor.id)  # who deposits the patient summary
        return record, doctor.id, browser


def rows(page: str) -> int:
    if 'id="vaccinations"' not in page:
        return 0
    return page.split('id="vaccinations"', 1)[1].split("<tbody>", 1)[1].split("</tbody>", 1)[0].count("<tr>")


def test_each_vaccination_once_from_the_newest_summary_in_the_reader_s_words(platform: Platform,
                                                                             clock: FrozenClock) -> None:
    record, doctor, browser = record_with_doctor(platform, clock)
    deposit_summary(platform, record.id, doctor, date(2024, 11, 2), ("influenza", date(2024, 10, 15), "FLU-24"))
    newest = deposit_summary(platform, record.id, doctor, date(2025, 3, 2), ("influenza", date(2024, 10, 15), "FLU-24"),
                             ("covid", date(2025, 1, 10), "COV-25"))
    other, other_doctor, _ = record_with_doctor(platform, clock)
    deposit_summary(platform, other.id, other_doctor, date(2025, 2, 1), ("mmr", date(2025, 1, 20), "MMR-OTHER"))

    browser.choose_language("fr", "/record")
    response = browser.get("/record/vaccinations")
    assert response.status_code == 200
    page = browser.page
    assert rows(page) == 2  # the flu vaccination repeated by the newer summary is listed once
    assert page.index("COVID-19 (ARNm)") < page.index("Grippe saisonnière")  # newest first, in French
    assert "15/10/2024" in page or "15.10.2024" in page or "15 oct" in page
    assert "2024-10-15" not in page.split("<main", 1)[1]
    assert f'/record/documents/{newest}"' in page and "FLU-24" in page
    assert "MMR-OTHER" not in page and "Rougeole" not in page  # another record's

    browser.choose_language("de", "/record/vaccinations")
    browser.get("/record/vaccinations")
    assert "Saisonale Influenza" in browser.page and "Impfnachweis" in browser.page

    # One act, one entry: the documents read for the vaccination record, named.
    with platform.sessions() as session:
        entries = session.scalars(select(TraceEntry).where(TraceEntry.chain == str(record.id),
                                                           TraceEntry.action == "document.consult")).all()
    read = [e.context for e in entries if e.context.get("purpose") == "vaccination_record"]
    assert len(read) == 3  # one entry per page shown (French, the language switch, German), naming the documents
    assert str(newest) in json.dumps(read[-1])


def test_the_vaccination_record_as_a_pdf_to_print(platform: Platform, clock: FrozenClock) -> None:
    record, doctor, browser = record_with_doctor(platform, clock)
    deposit_summary(platform, record.id, doctor, date(2025, 3, 2), ("tdap", date(2023, 4, 3), "TD-23"),
                    ("influenza", date(2024, 10, 15), "FLU-24"))
    browser.choose_language("pt", "/record")
    response = browser.get("/record/vaccinations.pdf")
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    assert "attachment" in response.headers["content-disposition"] and response.content.startswith(b"%PDF")
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
    assert "Gripe sazonal" in text and "TD-23" in text and record.holder.family_name in text
    assert text.index("Gripe sazonal") < text.index("tétano")  # newest first


def test_what_the_holder_may_not_see_yet_and_what_was_not_given_stay_out(platform: Platform,
                                                                         clock: FrozenClock) -> None:
    record, doctor, browser = record_with_doctor(platform, clock)
    deposit_summary(platform, record.id, doctor, date(2025, 3, 2), ("varicella", date(2025, 2, 1), "VAR-LATER"),
                    visible_from=clock.now() + timedelta(days=30))
    browser.get("/record/vaccinations")
    assert "VAR-LATER" not in browser.page and 'id="no-vaccination"' in browser.page
    pdf = browser.get("/record/vaccinations.pdf")
    assert b"VAR-LATER" not in pdf.content and pdf.status_code == 200


def test_a_parent_sees_the_child_s_vaccinations_not_their_own(platform: Platform, clock: FrozenClock) -> None:
    child_record, doctor, _ = record_with_doctor(platform, clock)
    parent_record, parent_doctor, browser = record_with_doctor(platform, clock)
    deposit_summary(platform, child_record.id, doctor, date(2025, 3, 2), ("mmr", date(2017, 9, 1), "MMR-CHILD"))
    deposit_summary(platform, parent_record.id, parent_doctor, date(2025, 3, 2), ("tdap", date(2020, 9, 1), "TD-PARENT"))
    with platform.transaction() as session:
        child = session.get(Record, child_record.id).holder  # type: ignore[union-attr]
        child.birth_date = date(2016, 9, 1)
        session.add(LegalRepresentation(minor_id=child.id, representative_id=parent_record.person_id,
                                        created_at=clock.now()))
        child_id = child.id
    browser.get("/record/vaccinations")
    assert "TD-PARENT" in browser.page and "MMR-CHILD" not in browser.page
    browser.submit("/account/act-for", {"person": str(child_id)}, form_page="/record/assistants")
    browser.get("/record/vaccinations")
    assert "MMR-CHILD" in browser.page and "TD-PARENT" not in browser.page


def test_only_a_logged_in_holder_reaches_it(platform: Platform, clock: FrozenClock) -> None:
    for path in ("/record/vaccinations", "/record/vaccinations.pdf"):
        response = Browser(platform).get(path)
        assert response.status_code == 303 and response.headers["location"] == "/login"


def test_the_vaccination_record_on_a_phone_in_german(platform: Platform, clock: FrozenClock, screens: Screens) -> None:
    with platform.transaction() as session:
        record = make_record(session, platform, active=False)
        session.expunge(record.holder)
        session.expunge(record)
    credentials = logged_in(platform, clock, record.holder).credentials  # type: ignore[attr-defined]
    with platform.transaction() as session:
        doctor = make_professional(session, platform, family_name="Weber")
        holder = as_holder(session, platform, session.get(Record, record.id))
        holder.add_to_circle(record.id, doctor.id)
        holder.set_referring_doctor(record.id, doctor.id)
        doctor_id = doctor.id
    deposit_summary(platform, record.id, doctor_id, date(2025, 3, 2), ("tdap", date(2023, 4, 3), "TD-23"),
                    ("pneumococcal", date(2024, 10, 15), "PNEU-24"), ("covid", date(2025, 1, 10), "COV-25"))
    screens.log_in(credentials)
    screens.page.set_viewport_size({"width": 390, "height": 844})
    screens.page.context.add_cookies([{"name": LANGUAGE_COOKIE, "value": "de", "url": screens.base_url}])
    screens.visit("/record/vaccinations", "vaccination record")
    assert screens.page.locator("#vaccinations tbody tr").count() == 3
    assert "Tetanus-Diphtherie-Pertussis" in screens.page.locator("#vaccinations").inner_text()

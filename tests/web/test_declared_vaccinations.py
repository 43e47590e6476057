"""The vaccinations the holder's side declares, over HTTP: one traced deposit of a FHIR Immunization the patient
reported, marked as declared on the vaccination record, in its PDF and on the professional's summary; withdrawn
by its declarer; and what cannot be done: another record, a parent of someone else, an assistant whose right
ended, bad dates, over-long words, a professional at the holder's door."""

from __future__ import annotations

import io
import json
import uuid
from datetime import date, timedelta

from pypdf import PdfReader
from sqlalchemy import func, select

from opendsp.clock import FrozenClock
from opendsp.documents.models import Document
from opendsp.documents.services import DocumentDraft, DocumentRefused
from opendsp.documents.types import FHIR_MEDIA_TYPE, DocumentStatus, DocumentType
from opendsp.persons.models import LegalRepresentation
from opendsp.platform import Platform
from opendsp.records.models import Record
from opendsp.trace.models import TraceEntry
from tests.accounts.portal import Browser, settings  # noqa: F401 - the cheap-hash settings
from tests.factories import PDF, as_holder, make_record, run_jobs
from tests.web.holder_world import logged_in
from tests.web.indistinguishable import answer
from tests.web.professional import professional_with_account
from tests.web.test_vaccination_record import deposit_summary, record_with_doctor, rows

FLU = {"vaccine": "140", "given": "2024-10-15", "dose": "1", "lot": "FLU-OWN", "place": "Pharmacie du Nord"}


def declare(browser: Browser, **fields: str):  # type: ignore[no-untyped-def]
    return browser.submit("/record/vaccinations/declare", {**FLU, **fields}, form_page="/record/vaccinations/declare")


def documents_of(platform: Platform, record_id: uuid.UUID) -> list[Document]:
    with platform.sessions() as session:
        return list(session.scalars(select(Document).where(Document.record_id == record_id)))


def deposits(platform: Platform, record_id: uuid.UUID) -> list[TraceEntry]:
    with platform.sessions() as session:
        return list(session.scalars(select(TraceEntry).where(TraceEntry.chain == str(record_id),
                                                             TraceEntry.action == "document.deposit")))


def test_the_holder_declares_a_vaccination_shown_as_theirs_in_the_page_the_pdf_and_to_the_doctor(
        platform: Platform, clock: FrozenClock) -> None:
    record, doctor, browser = record_with_doctor(platform, clock)
    deposit_summary(platform, record.id, doctor, date(2025, 3, 2), ("covid", date(2025, 1, 10), "COV-25"))
    page = browser.get("/record/vaccinations/declare")
    assert page.status_code == 200 and 'name="vaccine"' in page.text and "Seasonal influenza" in page.text
    response = declare(browser)
    assert response.status_code == 303 and response.headers["location"] == "/record/vaccinations?done=declared"

    # One act, one trace entry: a vaccination record deposited by the holder, as FHIR.
    [document] = [d for d in documents_of(platform, record.id) if d.authored_by_holder]
    assert (document.type, document.media_type, document.care_date) == (
        DocumentType.vaccination_record, FHIR_MEDIA_TYPE, date(2024, 10, 15))
    [entry] = [e for e in deposits(platform, record.id) if e.document_id == document.id]
    assert entry.outcome.value == "permitted" and entry.basis == "holder"
    browser.get("/record/vaccinations?done=declared")
    page = browser.page
    assert "The vaccination was added to the record" in page
    assert rows(page) == 2 and "FLU-OWN" in page and "COV-25" in page
    flu_row = page.split("FLU-OWN", 1)[0].rsplit("<tr>", 1)[1]
    assert "Declared by the holder" in flu_row and "Seasonal influenza" in flu_row
    covid_row = page.split("COV-25", 1)[0].rsplit("<tr>", 1)[1]
    assert "Declared by the holder" not in covid_row  # the doctor's is not marked
    assert f'/record/documents/{document.id}/withdraw"' in page

    pdf = browser.get("/record/vaccinations.pdf")
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "FLU-OWN" in text and text.count("Declared by the holder") >= 2 and "not recorded by a professional" in text

    # The doctor of the circle sees it on the summary, marked the same way.
    pro = professional_with_account(platform, clock, family_name="Muller")
    with platform.transaction() as session:
        as_holder(session, platform, session.get(Record, record.id)).add_to_circle(record.id, pro.id)
    summary = pro.browser.get(f"/pro/patients/{record.id}/summary").text
    immunisations = summary.split('id="immunisations"', 1)[1].split("</section>", 1)[0]
    assert immunisations.count("<li") == 2 and immunisations.count("Declared by the holder") == 1
    assert "Seasonal influenza" in immunisations.split("Declared by the holder", 1)[0].rsplit("<li", 1)[1]


def test_the_document_is_an_immunization_the_patient_reported(platform: Platform, clock: FrozenClock) -> None:
    record, _doctor, browser = record_with_doctor(platform, clock)
    assert declare(browser, vaccine="other", vaccine_text="Encéphalite à tiques", lot="", place="",
                   dose="").status_code == 303
    [document] = documents_of(platform, record.id)
    with platform.transaction() as session:
        found = as_holder(session, platform, session.get(Record, record.id)).consult(document.id)
        bundle = json.loads(found.read())
    immunization = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Immunization")
    assert immunization["primarySource"] is False and immunization["reportOrigin"]["coding"][0]["code"] == "recall"
    assert immunization["vaccineCode"] == {"text": "Encéphalite à tiques"}
    assert "lotNumber" not in immunization and "protocolApplied" not in immunization
    browser.get("/record/vaccinations")
    assert "Encéphalite à tiques" in browser.page and rows(browser.page) == 1
    # The worker indexes it like any document, and it is found and read as one.
    assert run_jobs(platform) >= 1
    search = browser.submit("/record/search", {"q": "encephalite"}, form_page="/record/search")
    assert search.status_code == 200 and f"/record/documents/{document.id}" in search.text
    page = browser.get(f"/record/documents/{document.id}")
    assert page.status_code == 200 and "Encéphalite à tiques" in page.text


def test_the_holder_withdraws_their_declaration_and_it_leaves_the_record(platform: Platform,
                                                                         clock: FrozenClock) -> None:
    record, _doctor, browser = record_with_doctor(platform, clock)
    declare(browser)
    [document] = documents_of(platform, record.id)
    assert browser.submit(f"/record/documents/{document.id}/withdraw", {"confirm": "yes"},
                          form_page=f"/record/documents/{document.id}/withdraw").status_code == 303
    browser.get("/record/vaccinations")
    assert "FLU-OWN" not in browser.page and 'id="no-vaccination"' in browser.page
    [document] = documents_of(platform, record.id)
    assert document.status is DocumentStatus.withdrawn


def test_a_parent_declares_for_their_child_and_never_for_someone_else_s(platform: Platform,
                                                                        clock: FrozenClock) -> None:
    with platform.transaction() as session:
        child_record = make_record(session, platform, birth=date(2016, 9, 1))
        stranger_child = make_record(session, platform, birth=date(2017, 1, 1))
        parent_record = make_record(session, platform, active=False)
        session.add(LegalRepresentation(minor_id=child_record.person_id, representative_id=parent_record.person_id,
                                        created_at=clock.now()))
        ids = child_record.id, stranger_child.id, parent_record.id
        child_person, stranger_person = child_record.person_id, stranger_child.person_id
        session.expunge(parent_record.holder)
        parent = parent_record.holder
    child_id, stranger_id, parent_id = ids
    browser = logged_in(platform, clock, parent)
    refused = browser.submit("/account/act-for", {"person": str(stranger_person)}, form_page="/record/assistants")
    assert refused.status_code == 403
    assert declare(browser, lot="LOT-A").status_code == 303  # still their own record
    assert browser.submit("/account/act-for", {"person": str(child_person)},
                          form_page="/record/assistants").status_code == 303
    # Before the birth is refused, with the form kept; on the birthday is fine.
    before = declare(browser, given="2016-08-31", lot="LOT-EARLY")
    assert before.status_code == 422 and "cannot be before the birth" in before.text and "LOT-EARLY" in before.text
    assert declare(browser, given="2016-09-01", lot="LOT-CHILD").status_code == 303
    child_docs = documents_of(platform, child_id)
    assert [d.title for d in child_docs] and len(child_docs) == 1
    assert documents_of(platform, stranger_id) == []
    assert len(documents_of(platform, parent_id)) == 1
    [entry] = deposits(platform, child_id)
    assert entry.basis == "representative"


def test_the_form_names_no_record_another_one_named_is_ignored(platform: Platform, clock: FrozenClock) -> None:
    record, _doctor, browser = record_with_doctor(platform, clock)
    other, _other_doctor, other_browser = record_with_doctor(platform, clock)
    response = browser.submit("/record/vaccinations/declare", {**FLU, "record": str(other.id),
                                                               "record_id": str(other.id)},
                              form_page="/record/vaccinations/declare")
    assert response.status_code == 303
    assert documents_of(platform, other.id) == [] and len(documents_of(platform, record.id)) == 1
    # Another holder's declaration: withdrawing it answers exactly like an unknown id.
    declare(other_browser)
    [theirs] = documents_of(platform, other.id)
    unknown = answer(browser.submit(f"/record/documents/{uuid.uuid4()}/withdraw", {"confirm": "yes"},
                                    form_page="/record/vaccinations"))
    assert unknown.status == 404
    assert answer(browser.submit(f"/record/documents/{theirs.id}/withdraw", {"confirm": "yes"},
                                 form_page="/record/vaccinations")) == unknown
    assert answer(browser.get(f"/record/documents/{theirs.id}/withdraw")) == answer(
        browser.get(f"/record/documents/{uuid.uuid4()}/withdraw"))
    [theirs] = documents_of(platform, other.id)
    assert theirs.status is DocumentStatus.current


def test_bad_declarations_are_refused_with_the_form_kept_and_nothing_stored(platform: Platform,
                                                                             clock: FrozenClock) -> None:
    record, _doctor, browser = record_with_doctor(platform, clock)
    tomorrow = (clock.now().date() + timedelta(days=1)).isoformat()
    for fields, message in [
        ({"given": tomorrow}, "cannot be in the future"),
        ({"given": "1979-12-31"}, "cannot be before the birth"),  # the holder was born in 1980
        ({"given": "31/12/2020"}, "Give the date of the vaccination"),
        ({"vaccine": "other", "vaccine_text": "V" * 201}, "at most 200 characters"),
        ({"place": "P" * 201}, "at most 200 characters"),
        ({"lot": "L" * 41}, "at most 40 characters"),
        ({"vaccine": "999"}, "Choose the vaccine from the list"),
        ({"dose": "99"}, "from 1 to 20"),
    ]:
        response = declare(browser, **fields)
        assert response.status_code == 422 and message in response.text, fields
        assert 'id="declare-form"' in response.text and 'id="form-error"' in response.text
    long = declare(browser, vaccine="other", vaccine_text="W" * 5_000)
    assert long.status_code == 422 and "W" * 1001 not in long.text  # what is shown back is bounded
    assert declare(browser, vaccine="other", vaccine_text="W" * 100_000).status_code == 413  # the perimeter's limit
    assert documents_of(platform, record.id) == [] and deposits(platform, record.id) == []


def test_an_assistant_whose_right_ended_declares_nothing(platform: Platform, clock: FrozenClock) -> None:
    record, _doctor, _holder_browser = record_with_doctor(platform, clock)
    with platform.transaction() as session:
        assistant = make_record(session, platform, active=False).holder
        as_holder(session, platform, session.get(Record, record.id)).designate_assistant(record.id, assistant.id)
        session.expunge(assistant)
    browser = logged_in(platform, clock, assistant)
    assert browser.submit("/account/act-for", {"person": str(record.person_id)},
                          form_page="/account").status_code == 303
    assert declare(browser, lot="LOT-ASSISTANT").status_code == 303  # while the right holds
    browser.get("/record/vaccinations/declare")
    token = browser.csrf()
    with platform.transaction() as session:
        as_holder(session, platform, session.get(Record, record.id)).end_assistant(record.id, assistant.id)
    late = browser.client.post("/record/vaccinations/declare", data={**FLU, "lot": "LOT-LATE", "csrf_token": token})
    assert late.status_code == 403 and "LOT-LATE" not in late.text
    assert [d.title for d in documents_of(platform, record.id)] and len(documents_of(platform, record.id)) == 1
    [entry] = deposits(platform, record.id)
    assert entry.basis == "assistant"


def test_a_professional_at_the_holder_s_door_is_turned_away(platform: Platform, clock: FrozenClock) -> None:
    record, _doctor, _browser = record_with_doctor(platform, clock)
    pro = professional_with_account(platform, clock)
    with platform.transaction() as session:
        as_holder(session, platform, session.get(Record, record.id)).add_to_circle(record.id, pro.id)
    pro.browser.get("/pro")
    token = pro.browser.csrf()
    posted = pro.browser.client.post("/record/vaccinations/declare", data={**FLU, "csrf_token": token,
                                                                           "record": str(record.id)})
    shown = pro.browser.get("/record/vaccinations/declare")
    assert posted.status_code in (303, 403) and shown.status_code == posted.status_code
    assert posted.headers.get("location", "/login") in ("/login", "/pro/login")
    assert documents_of(platform, record.id) == []
    nobody = Browser(platform).get("/record/vaccinations/declare")
    assert nobody.status_code == 303 and nobody.headers["location"] == "/login"


def test_the_holder_s_side_deposits_no_vaccination_record_that_could_pass_for_a_professional_s(
        platform: Platform, clock: FrozenClock) -> None:
    with platform.transaction() as session:
        record = make_record(session, platform)
        record_id = record.id
    pdf = DocumentDraft(type=DocumentType.vaccination_record, title="Carnet", care_date=date(2024, 1, 1),
                        media_type="application/pdf")
    structured = DocumentDraft(type=DocumentType.vaccination_record, title="Carnet", care_date=date(2024, 1, 1),
                               media_type=FHIR_MEDIA_TYPE)
    from tests.web.test_vaccination_record import summary as professional_summary

    primary = professional_summary(date(2024, 1, 1), ("influenza", date(2023, 10, 1), "FLU-PRO"))
    for draft, content in [(pdf, PDF), (structured, primary), (structured, b"not json")]:
        with platform.transaction() as session:
            holder = as_holder(session, platform, session.get(Record, record_id))
            try:
                holder.deposit(record_id, draft, [content])
            except DocumentRefused as refused:
                assert "declares" in str(refused)
            else:
                raise AssertionError(f"accepted: {content[:20]!r}")
    with platform.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Document).where(Document.record_id == record_id)) == 0
    assert deposits(platform, record_id) == []

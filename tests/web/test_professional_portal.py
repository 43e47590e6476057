"""The professional's portal over HTTP: every flow, and every refusal, through the policy and the trace."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

from sqlalchemy import select

from opendsp.clock import FrozenClock
from opendsp.documents.models import Document
from opendsp.documents.types import FHIR_MEDIA_TYPE, DocumentStatus, DocumentType
from opendsp.structured.models import StructuredEntry
from opendsp.platform import Platform
from opendsp.professionals.models import OrganisationKind
from tests.accounts.portal import settings  # noqa: F401 - the cheap-hash settings
from tests.factories import as_holder, as_professional, professional_draft, run_jobs
from tests.web.indistinguishable import answer
from tests.web.professional import professional_with_account, real_pdf, record_with_code, trace


def in_circle(platform: Platform, record, professional_id) -> None:  # type: ignore[no-untyped-def]
    with platform.transaction() as session:
        as_holder(session, platform, session.merge(record)).add_to_circle(record.id, professional_id)


def test_a_circle_member_finds_the_patient_lists_filters_and_reads_documents(platform: Platform,
                                                                            clock: FrozenClock) -> None:
    pro = professional_with_account(platform, clock)
    record, _ = record_with_code(platform)
    in_circle(platform, record, pro.id)
    with platform.transaction() as session:
        from opendsp.professionals.models import Professional

        author = session.get(Professional, pro.id)
        access = as_professional(session, platform, author)
        letter = access.deposit(record.id, professional_draft(DocumentType.consultation_report, "Letter"), [real_pdf()])
        access.deposit(record.id, professional_draft(DocumentType.prescription, "Amlodipine"), [real_pdf()])
        holder_name = session.merge(record).holder.family_name
    browser = pro.browser
    home = browser.get("/pro")
    assert home.status_code == 200 and holder_name in home.text and 'data-kind="circle"' in home.text
    page = browser.get(f"/pro/patients/{record.id}")
    assert page.status_code == 200 and "Letter" in page.text and "Amlodipine" in page.text
    filtered = browser.get(f"/pro/patients/{record.id}?type=prescription")
    assert "Amlodipine" in filtered.text and ">Letter<" not in filtered.text
    assert "Letter" not in browser.submit(f"/pro/patients/{record.id}", {"author": "Nobody"}).text.split("<table")[-1]
    assert "Documents found: 0" in browser.page
    assert "Documents found: 1" in browser.get(f"/pro/patients/{record.id}?since=2025-03-01&until=2025-03-01"
                                               "&type=consultation_report").text
    shown = browser.get(f"/pro/patients/{record.id}/documents/{letter.id}")
    assert shown.status_code == 200 and 'class="opendsp-pdf"' in shown.text and 'id="emergency-banner"' not in shown.text
    content = browser.get(f"/pro/patients/{record.id}/documents/{letter.id}/content")
    assert content.status_code == 200 and content.content.startswith(b"%PDF-")
    assert browser.get(f"/pro/patients/{record.id}/documents/{uuid.uuid4()}").status_code == 404
    assert browser.get(f"/pro/patients/{record.id}/timeline").status_code == 200 and "Amlodipine" in browser.page
    actions = [(a, o, b) for a, o, _, b in trace(platform, record)]
    assert ("document.consult", "permitted", "circle") in actions


def test_keyword_search_narrows_the_same_list_and_never_finds_a_hidden_document(platform: Platform,
                                                                              clock: FrozenClock) -> None:
    pro = professional_with_account(platform, clock)
    record, _ = record_with_code(platform)
    in_circle(platform, record, pro.id)
    with platform.transaction() as session:
        from opendsp.professionals.models import Professional

        access = as_professional(session, platform, session.get(Professional, pro.id))
        access.deposit(record.id, professional_draft(DocumentType.consultation_report, "Échographie abdominale"),
                       [real_pdf()])
        access.deposit(record.id, professional_draft(DocumentType.prescription, "Échographie de contrôle"),
                       [real_pdf()])
        hidden = access.deposit(record.id, professional_draft(DocumentType.consultation_report,
                                                              "Échographie cardiaque"), [real_pdf()])
        as_holder(session, platform, session.merge(record)).hide(hidden.id)
    run_jobs(platform)
    browser = pro.browser
    page = f"/pro/patients/{record.id}"
    found = browser.submit(page, {"q": "echographie"}, form_page=page).text
    assert "Documents found: 2" in found and "abdominale" in found and "cardiaque" not in found
    narrowed = browser.submit(page, {"q": "echographies", "type": "prescription"}).text
    assert "Documents found: 1" in narrowed and "de contrôle" in narrowed and 'value="echographies"' in narrowed
    assert "Documents found: 0" in browser.submit(page, {"q": "cardiaque"}).text


def test_finding_a_patient_by_national_number_is_traced_and_says_nothing_more(platform: Platform,
                                                                              clock: FrozenClock) -> None:
    pro = professional_with_account(platform, clock)
    record, _ = record_with_code(platform)
    with platform.sessions() as session:
        number = session.merge(record).holder.national_number
    found = pro.browser.submit("/pro/find", {"national_number": number}, form_page="/pro/find")
    assert found.status_code == 200 and f'href="/pro/patients/{record.id}"' in found.text
    assert pro.browser.submit("/pro/find", {"national_number": "1234"}, form_page="/pro/find").status_code == 400
    from datetime import date

    from opendsp.persons.national_number import make_national_number

    nobody = make_national_number(date(1931, 2, 3), 987).value
    missing = pro.browser.submit("/pro/find", {"national_number": nobody}, form_page="/pro/find")
    assert missing.status_code == 200 and 'id="not-found"' in missing.text
    with platform.sessions() as session:
        from opendsp.trace.models import TraceEntry

        searches = session.scalars(select(TraceEntry).where(TraceEntry.action == "patients.search")).all()
        assert any(e.context.get("found") == [str(record.person_id)] for e in searches)


def test_presence_code_opens_the_record_for_24_hours_and_wrong_codes_lock(platform: Platform,
                                                                        clock: FrozenClock) -> None:
    pro = professional_with_account(platform, clock)
    record, code = record_with_code(platform)
    browser = pro.browser
    refused = browser.get(f"/pro/patients/{record.id}")
    assert refused.status_code == 403
    assert "You have no access to this record." in refused.text and 'data-way="presence_code"' in refused.text
    assert 'data-way="emergency_access"' not in refused.text  # a practice is no emergency department
    wrong = browser.submit(f"/pro/patients/{record.id}/presence-code", {"code": "AAAA-AAAA"})
    assert wrong.status_code == 403 and "The presence code is not correct." in wrong.text
    opened = browser.submit(f"/pro/patients/{record.id}/presence-code", {"code": code.lower()})
    assert opened.status_code == 303 and opened.headers["location"] == f"/pro/patients/{record.id}"
    assert browser.get(f"/pro/patients/{record.id}").status_code == 200
    assert 'data-kind="presence_code"' in browser.get("/pro").text
    clock.advance(timedelta(hours=24, minutes=1))
    from tests.accounts.portal import login

    login(browser, clock, pro.credentials)  # the web session has ended meanwhile
    assert browser.get(f"/pro/patients/{record.id}").status_code == 403
    assert 'data-kind="presence_code"' not in browser.get("/pro").text
    for _ in range(5):
        browser.submit(f"/pro/patients/{record.id}/presence-code", {"code": "BBBB-BBBB"},
                       form_page=f"/pro/patients/{record.id}")
    locked = browser.submit(f"/pro/patients/{record.id}/presence-code", {"code": code},
                            form_page=f"/pro/patients/{record.id}")
    assert locked.status_code == 429 and "Too many wrong presence codes" in locked.text
    reasons = [r for a, _, r, _ in trace(platform, record) if a == "presence.open"]
    assert reasons.count("wrong_presence_code") == 6 and reasons[-1] == "presence_code_locked"


def test_emergency_access_needs_a_reason_and_is_marked_while_it_lasts(platform: Platform, clock: FrozenClock) -> None:
    pro = professional_with_account(platform, clock, kind=OrganisationKind.emergency_department, name="Urgences CHL",
                                    specialties=())
    record, _ = record_with_code(platform)
    browser = pro.browser
    refused = browser.get(f"/pro/patients/{record.id}")
    assert refused.status_code == 403 and 'data-way="emergency_access"' in refused.text
    no_reason = browser.submit(f"/pro/patients/{record.id}/emergency", {"reason": "  "})
    assert no_reason.status_code == 400 and "Give the reason for the emergency access." in no_reason.text
    opened = browser.submit(f"/pro/patients/{record.id}/emergency", {"reason": "Unconscious, brought by ambulance"},
                            form_page=f"/pro/patients/{record.id}")
    assert opened.status_code == 303
    page = browser.get(f"/pro/patients/{record.id}")
    assert page.status_code == 200 and 'id="emergency-banner"' in page.text
    assert 'id="emergency-banner"' in browser.get(f"/pro/patients/{record.id}/summary").text
    assert 'data-kind="emergency"' in browser.get("/pro").text
    entries = trace(platform, record)
    assert ("emergency.open", "permitted", "access_granted", "emergency") in entries
    assert ("documents.list", "permitted", "access_granted", "emergency") in entries
    clock.advance(timedelta(hours=12, minutes=1))
    from tests.accounts.portal import login

    login(browser, clock, pro.credentials)
    assert browser.get(f"/pro/patients/{record.id}").status_code == 403


def test_a_practice_doctor_cannot_open_emergency_access(platform: Platform, clock: FrozenClock) -> None:
    pro = professional_with_account(platform, clock)
    record, _ = record_with_code(platform)
    response = pro.browser.submit(f"/pro/patients/{record.id}/emergency", {"reason": "Urgent"}, form_page="/pro")
    assert response.status_code == 403 and "reserved to emergency departments" in response.text


def test_a_blocked_professional_is_refused_even_with_the_code(platform: Platform, clock: FrozenClock) -> None:
    """The block is the holder's to know: the professional gets the page of an unknown record, byte for byte, on
    the record's page and with the right presence code (docs/access-policy.md rule 10); the holder sees the tries."""
    pro = professional_with_account(platform, clock)
    record, code = record_with_code(platform)
    with platform.transaction() as session:
        as_holder(session, platform, session.merge(record)).block(record.id, pro.id)
    unknown = uuid.uuid4()
    page, of_unknown = pro.browser.get(f"/pro/patients/{record.id}"), pro.browser.get(f"/pro/patients/{unknown}")
    assert page.status_code == 404 and answer(page) == answer(of_unknown)  # ids masked
    assert "refused access" not in page.text and 'name="code"' not in page.text
    response = pro.browser.submit(f"/pro/patients/{record.id}/presence-code", {"code": code}, form_page="/pro")
    of_unknown = pro.browser.submit(f"/pro/patients/{unknown}/presence-code", {"code": code}, form_page="/pro")
    assert response.status_code == 404 and answer(response) == answer(of_unknown)
    refusals = [entry for entry in trace(platform, record) if entry[2] == "blocked"]
    assert [outcome for _action, outcome, _reason, _basis in refusals] == ["refused", "refused"]


def test_depositing_a_pdf_checks_the_file_the_type_and_then_replace_and_withdraw(platform: Platform,
                                                                                clock: FrozenClock) -> None:
    pro = professional_with_account(platform, clock)
    record, _ = record_with_code(platform)
    in_circle(platform, record, pro.id)
    browser = pro.browser
    form = browser.get(f"/pro/patients/{record.id}/deposit")
    assert form.status_code == 200 and 'value="consultation_report"' in form.text
    assert 'value="laboratory_report"' not in form.text  # a GP may not deposit laboratory reports
    fields = {"type": "consultation_report", "title": "Consultation", "care_date": "2025-03-01",
              "confidentiality": "normal", "visible_from": "", "csrf_token": browser.csrf()}

    def post(path: str, data: dict[str, str], content: bytes, name: str = "letter.pdf"):  # type: ignore[no-untyped-def]
        response = browser.client.post(path, data=data, files={"file": (name, content, "application/pdf")})
        browser.page = response.text
        return response

    not_pdf = post(f"/pro/patients/{record.id}/deposit", fields, b"GIF89a not a pdf")
    assert not_pdf.status_code == 400 and "The file is not a PDF." in not_pdf.text
    broken = post(f"/pro/patients/{record.id}/deposit", fields, b"%PDF-1.4 broken")
    assert broken.status_code == 400 and "damaged" in broken.text
    wrong_type = post(f"/pro/patients/{record.id}/deposit", {**fields, "type": "laboratory_report"}, real_pdf())
    assert wrong_type.status_code == 403 and "may not deposit this type" in wrong_type.text
    future = post(f"/pro/patients/{record.id}/deposit", {**fields, "care_date": "2999-01-01"}, real_pdf())
    assert future.status_code == 400
    done = post(f"/pro/patients/{record.id}/deposit", {**fields, "confidentiality": "restricted",
                                                        "visible_from": "2099-01-01"}, real_pdf())
    assert done.status_code == 303, done.text
    document_id = uuid.UUID(done.headers["location"].rsplit("/", 1)[1])
    with platform.sessions() as session:
        document = session.get(Document, document_id)
        assert document is not None and document.author_professional_id == pro.id
        assert document.confidentiality.value == "restricted" and document.visible_to_holder_from is not None
    page = browser.get(f"/pro/patients/{record.id}/documents/{document_id}")
    assert 'id="replace"' in page.text and 'id="withdraw"' in page.text
    browser.get(f"/pro/patients/{record.id}/documents/{document_id}/replace")
    replaced = post(f"/pro/patients/{record.id}/documents/{document_id}/replace",
                    {"title": "Consultation, corrected", "care_date": "2025-03-01", "confidentiality": "normal",
                     "csrf_token": browser.csrf()}, real_pdf("corrected"))
    assert replaced.status_code == 303
    new_id = uuid.UUID(replaced.headers["location"].rsplit("/", 1)[1])
    again = post(f"/pro/patients/{record.id}/documents/{document_id}/replace",
                 {"title": "Again", "care_date": "2025-03-01", "csrf_token": fields["csrf_token"]}, real_pdf())
    assert again.status_code == 403 and "Only the current version" in again.text
    browser.get(f"/pro/patients/{record.id}/documents/{new_id}")
    withdrawn = browser.submit(f"/pro/patients/{record.id}/documents/{new_id}/withdraw", {"reason": "wrong patient"})
    assert withdrawn.status_code == 303
    assert "This document was withdrawn by its author." in browser.get(withdrawn.headers["location"]).text
    with platform.sessions() as session:
        statuses = {d.id: d.status for d in session.scalars(select(Document).where(Document.record_id == record.id))}
    assert statuses == {document_id: DocumentStatus.superseded, new_id: DocumentStatus.withdrawn}


def test_someone_else_s_document_cannot_be_withdrawn(platform: Platform, clock: FrozenClock) -> None:
    pro = professional_with_account(platform, clock)
    other = professional_with_account(platform, clock, family_name="Other")
    record, _ = record_with_code(platform)
    in_circle(platform, record, pro.id)
    in_circle(platform, record, other.id)
    with platform.transaction() as session:
        from opendsp.professionals.models import Professional

        document = as_professional(session, platform, session.get(Professional, other.id)).deposit(
            record.id, professional_draft(), [real_pdf()])
    page = pro.browser.get(f"/pro/patients/{record.id}/documents/{document.id}")
    assert 'id="withdraw"' not in page.text
    response = pro.browser.submit(f"/pro/patients/{record.id}/documents/{document.id}/withdraw", {})
    assert response.status_code == 403 and "Only the author" in response.text


def test_a_laboratory_deposits_a_structured_result_directly(platform: Platform, clock: FrozenClock) -> None:
    lab = professional_with_account(platform, clock, kind=OrganisationKind.laboratory, name="Labo Est",
                                    profession="laboratory_biologist", specialties=())
    record, _ = record_with_code(platform)
    browser = lab.browser
    form = browser.get(f"/pro/patients/{record.id}/deposit/laboratory")
    assert form.status_code == 200 and "718-7" in form.text
    base = {"title": "Blood count", "care_date": "2025-03-01", "confidentiality": "normal"}
    missing = browser.submit(f"/pro/patients/{record.id}/deposit/laboratory", {**base, "test_0": "haemoglobin"})
    assert missing.status_code == 400 and "Give a value for every test chosen." in missing.text
    done = browser.submit(f"/pro/patients/{record.id}/deposit/laboratory",
                          {**base, "test_0": "haemoglobin", "value_0": "10,5", "test_1": "platelets",
                           "value_1": "250", "low_1": "150", "high_1": "450"},
                          form_page=f"/pro/patients/{record.id}/deposit/laboratory")
    assert done.status_code == 303, browser.page
    document_id = uuid.UUID(done.headers["location"].rsplit("/", 1)[1])
    with platform.sessions() as session:
        document = session.get(Document, document_id)
        assert document is not None and document.media_type == FHIR_MEDIA_TYPE
        kinds = sorted(session.scalars(select(StructuredEntry.resource_type)
                                       .where(StructuredEntry.document_id == document_id)))
    assert kinds == ["DiagnosticReport", "Observation", "Observation"]
    with platform.transaction() as session:
        bundle = json.loads(as_holder(session, platform, session.merge(record)).consult(document_id).read())
    observations = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"]
    haemoglobin = next(o for o in observations if o["code"]["coding"][0]["code"] == "718-7")
    assert haemoglobin["valueQuantity"] == {"value": 10.5, "unit": "g/dL", "system": "http://unitsofmeasure.org",
                                            "code": "g/dL"}
    assert haemoglobin["interpretation"][0]["coding"][0]["code"] == "L"
    assert haemoglobin["referenceRange"][0]["low"]["value"] == 12.0  # the holder is female: the usual range
    platelets = next(o for o in observations if o["code"]["coding"][0]["code"] == "777-3")
    assert platelets["referenceRange"][0]["high"]["value"] == 450
    # A direct deposit gives no access to read the record.
    assert browser.get(f"/pro/patients/{record.id}").status_code == 403
    assert [b for a, o, _, b in trace(platform, record) if a == "document.deposit"] == ["direct_deposit"]


def test_the_referring_doctor_deposits_a_summary_and_the_summary_view_links_its_sources(
    platform: Platform, clock: FrozenClock
) -> None:
    pro = professional_with_account(platform, clock)
    lab = professional_with_account(platform, clock, kind=OrganisationKind.laboratory, name="Labo Est",
                                    profession="laboratory_biologist", specialties=())
    record, _ = record_with_code(platform)
    in_circle(platform, record, pro.id)
    browser = pro.browser
    fields = {"title": "Patient summary", "care_date": "2025-03-01", "confidentiality": "normal",
              "allergy": "764146007", "condition": ["hypertension"], "onset_hypertension": "2019-05-01",
              "medicine": ["C08CA01"], "vaccine": ["influenza"], "given_influenza": "2024-10-15",
              "batch_influenza": "FL123"}
    refused = browser.submit(f"/pro/patients/{record.id}/deposit/summary", fields,
                             form_page=f"/pro/patients/{record.id}/deposit/summary")
    assert refused.status_code == 403 and "referring doctor deposits the patient summary." in refused.text
    assert f'action="/pro/patients/{record.id}/deposit/summary"' not in refused.text  # the refusal, not the form
    with platform.transaction() as session:
        as_holder(session, platform, session.merge(record)).set_referring_doctor(record.id, pro.id)
    done = browser.submit(f"/pro/patients/{record.id}/deposit/summary", fields,
                          form_page=f"/pro/patients/{record.id}/deposit/summary")
    assert done.status_code == 303, browser.page
    summary_id = done.headers["location"].rsplit("/", 1)[1]
    lab.browser.submit(f"/pro/patients/{record.id}/deposit/laboratory",
                       {"title": "Check-up", "care_date": "2025-02-01", "test_0": "glucose", "value_0": "130"},
                       form_page=f"/pro/patients/{record.id}/deposit/laboratory")
    view = browser.get(f"/pro/patients/{record.id}/summary")
    assert view.status_code == 200
    html = view.text
    assert "Penicillin" in html and "Hypertensive disorder" in html and "Amlodipine" in html
    assert "Influenza" in html and f"/documents/{summary_id}" in html
    assert "Fasting glucose</span>: 130 mg/dL" in html and 'class="out-of-range"' in html
    with platform.transaction() as session:
        hidden = session.scalars(select(Document).where(Document.record_id == record.id,
                                                        Document.type == DocumentType.laboratory_report)).one()
        as_holder(session, platform, session.merge(record)).hide(hidden.id)
    html = browser.get(f"/pro/patients/{record.id}/summary").text
    assert "Glucose" not in html and "Penicillin" in html  # a hidden document is simply absent
    shown = browser.get(f"/pro/patients/{record.id}/documents/{summary_id}")
    assert 'id="structured"' in shown.text


def test_every_professional_page_needs_a_professional_login(platform: Platform, clock: FrozenClock) -> None:
    from tests.accounts.portal import Browser

    record, _ = record_with_code(platform)
    anonymous = Browser(platform)
    for path in ("/pro", "/pro/find", f"/pro/patients/{record.id}", f"/pro/patients/{record.id}/summary",
                 f"/pro/patients/{record.id}/deposit", f"/pro/patients/{record.id}/timeline"):
        response = anonymous.get(path)
        assert response.status_code == 303 and response.headers["location"] == "/login", path

"""The error pages as people meet them (issue 16): pages not JSON, one 404 for unknown and malformed, the way home."""

from __future__ import annotations

import uuid

from opendsp.clock import FrozenClock
from opendsp.persons.models import Person
from opendsp.platform import Platform
from opendsp.professionals.models import Professional
from tests.accounts.portal import Browser
from tests.factories import PDF, as_holder, as_professional, make_record, professional_draft
from tests.web.holder_world import logged_in
from tests.web.indistinguishable import answer
from tests.web.professional import professional_with_account


def _holder(platform: Platform, clock: FrozenClock) -> Browser:
    with platform.transaction() as session:
        record = make_record(session, platform)
        person = session.get(Person, record.person_id)
        session.expunge_all()
    return logged_in(platform, clock, person)


def test_an_unknown_address_answers_a_page_in_the_visitor_s_language(platform: Platform) -> None:
    browser = Browser(platform, language="fr")
    response = browser.get("/nowhere/at/all")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Cette page n’existe pas" in response.text or "Cette page n'existe pas" in response.text
    assert "Not Found" not in response.text
    # Programs keep their answers: JSON on the API's paths, an OperationOutcome under /fhir.
    assert browser.get("/auth/token").headers["content-type"].startswith("application/json")
    assert browser.get("/fhir/Nowhere").headers["content-type"].startswith("application/fhir+json")


def test_a_malformed_id_answers_as_an_unknown_one(platform: Platform, clock: FrozenClock) -> None:
    browser = _holder(platform, clock)
    unknown = browser.get(f"/record/documents/{uuid.uuid4()}")
    malformed = browser.get("/record/documents/not-an-id")
    assert unknown.status_code == malformed.status_code == 404
    # The page echoes the address typed (its language links come back to it): that part is the caller's own.
    assert answer(unknown).body == answer(malformed).body.replace(b"not-an-id", b"<id>")
    assert "The form is incomplete" not in malformed.text
    assert "does not exist" in malformed.text


def test_the_way_home_leads_a_logged_in_person_home(platform: Platform, clock: FrozenClock) -> None:
    browser = _holder(platform, clock)
    page = browser.get("/nowhere")
    assert 'href="/"' in page.text  # "Back to the home page"
    assert browser.get("/").headers["location"] == "/record"
    assert browser.get("/login").headers["location"] == "/record"
    pro = professional_with_account(platform, clock)
    assert pro.browser.get("/").headers["location"] == "/pro"
    assert pro.browser.get("/login").headers["location"] == "/pro"
    # A visitor still meets the login page.
    visitor = Browser(platform)
    assert visitor.get("/").headers["location"] == "/login"
    assert visitor.get("/login").status_code == 200


def test_the_professional_s_404_page_keeps_the_menu(platform: Platform, clock: FrozenClock) -> None:
    pro = professional_with_account(platform, clock)
    for path in ("/pro/nowhere", "/pro/patients/not-an-id", f"/pro/patients/{uuid.uuid4()}/documents/{uuid.uuid4()}"):
        response = pro.browser.get(path)
        assert response.status_code == 404, path
        assert 'id="pro-menu-title"' in response.text, path
        assert "My patients" in response.text, path
    unknown = pro.browser.get(f"/pro/patients/{uuid.uuid4()}")
    malformed = pro.browser.get("/pro/patients/not-an-id")
    assert answer(unknown).status == answer(malformed).status
    assert answer(unknown).body == answer(malformed).body.replace(b"not-an-id", b"<id>")


def test_hidden_unknown_foreign_and_malformed_document_ids_give_one_page(platform: Platform,
                                                                          clock: FrozenClock) -> None:
    pro = professional_with_account(platform, clock)
    with platform.transaction() as session:
        record = make_record(session, platform)
        other = make_record(session, platform)
        professional = session.get(Professional, pro.id)
        assert professional is not None
        for target in (record, other):
            as_holder(session, platform, target).add_to_circle(target.id, pro.id)
        hidden = as_professional(session, platform, professional).deposit(
            record.id, professional_draft(title="Hidden"), [PDF]).id
        foreign = as_professional(session, platform, professional).deposit(
            other.id, professional_draft(title="Elsewhere"), [PDF]).id
        as_holder(session, platform, record).set_hidden_in(record.id, hidden, hidden=True)
        record_id = record.id
    base = f"/pro/patients/{record_id}/documents/"
    answers = {name: pro.browser.get(base + str(document_id))
               for name, document_id in (("hidden", hidden), ("foreign", foreign), ("unknown", uuid.uuid4()),
                                         ("malformed", "not-an-id"))}
    assert {name: response.status_code for name, response in answers.items()} == dict.fromkeys(answers, 404)
    bodies = {name: answer(response).body.replace(b"not-an-id", b"<id>") for name, response in answers.items()}
    assert len(set(bodies.values())) == 1, bodies.keys()
    assert 'id="pro-menu-title"' in answers["malformed"].text

"""Words follow the person: "représentante légale" or "représentant légal", "la titulaire" or "le titulaire"
(and the German and Portuguese forms), on the record switch, the list of who acts, the documents and the trace."""

from __future__ import annotations

from datetime import date

import pytest

from opendsp.clock import FrozenClock
from opendsp.persons.models import LegalRepresentation, Person, Sex
from opendsp.platform import Platform
from opendsp.records.models import Record
from opendsp.web import person_words
from tests.accounts.portal import Browser, settings  # noqa: F401 - the cheap-hash settings
from tests.factories import PDF, as_holder, holder_draft, make_record
from tests.web.holder_world import logged_in


def _family(platform: Platform, clock: FrozenClock, parent_sex: Sex, child_sex: Sex) -> tuple[Browser, Person]:
    """A parent (logged in) representing a minor child whose record holds a document the child deposited."""
    with platform.transaction() as session:
        parent = make_record(session, platform, active=False).holder
        parent.sex, parent.given_name = parent_sex, "Anne" if parent_sex is Sex.female else "Marc"
        child_record = make_record(session, platform, birth=date(2015, 6, 1))
        child = child_record.holder
        child.sex, child.given_name = child_sex, "Léa" if child_sex is Sex.female else "Léo"
        session.add(LegalRepresentation(minor_id=child.id, representative_id=parent.id, created_at=clock.now()))
        as_holder(session, platform, child_record).deposit(child_record.id, holder_draft("Carnet de vaccination"),
                                                            [PDF])
        session.flush()
        session.expunge(parent)
        session.expunge(child)
    return logged_in(platform, clock, parent), child


def _in(browser: Browser, language: str) -> Browser:
    browser.submit("/language", {"lang": language, "next": "/record"}, form_page="/record")
    return browser


def _switch_to(browser: Browser, child: Person) -> None:
    browser.submit("/account/act-for", {"person": str(child.id), "next": "/record"}, form_page="/record/assistants")


@pytest.mark.parametrize(("parent_sex", "child_sex", "language", "role", "representative", "the_child"), [
    (Sex.female, Sex.male, "fr", "en tant que représentante légale", "Représentante légale", "Le titulaire"),
    (Sex.male, Sex.female, "fr", "en tant que représentant légal", "Représentant légal", "La titulaire"),
    (Sex.female, Sex.male, "de", "als gesetzliche Vertreterin", "Gesetzliche Vertreterin", "Der Inhaber"),
    (Sex.male, Sex.female, "de", "als gesetzlicher Vertreter", "Gesetzlicher Vertreter", "Die Inhaberin"),
    (Sex.female, Sex.male, "pt", "como representante legal", "Representante legal", "O titular"),
    (Sex.male, Sex.female, "pt", "como representante legal", "Representante legal", "A titular"),
])
def test_the_words_follow_the_parent_and_the_child(
    platform: Platform, clock: FrozenClock, parent_sex: Sex, child_sex: Sex, language: str, role: str,
    representative: str, the_child: str,
) -> None:
    browser, child = _family(platform, clock, parent_sex, child_sex)
    _in(browser, language)
    # The switch in the record's menu and on the assistants page speak of the parent.
    page = browser.get("/record/assistants").text
    assert page.count(f"({role})") == 2 and page.count(role) == 3, page  # menu (wide and phone), switch
    _switch_to(browser, child)
    page = browser.get("/record/assistants").text
    assert f">{representative}</td>" in page  # the parent in the list of who acts for the child
    # The child's own document: "la titulaire" or "le titulaire", as the child is.
    assert the_child in browser.get("/record/documents").text
    # The trace names the parent's role in the same words.
    trace = browser.get("/record/trace?who=holder_side").text
    assert f"({representative.lower()})" in trace.lower()


def test_a_person_of_other_or_unknown_sex_reads_the_words_as_before(platform: Platform,
                                                                    clock: FrozenClock) -> None:
    browser, child = _family(platform, clock, Sex.unknown, Sex.other)
    _in(browser, "fr")
    assert "(en tant que représentant légal)" in browser.get("/record/assistants").text
    _switch_to(browser, child)
    assert "Le titulaire" in browser.get("/record/documents").text


def test_the_words_for_every_sex() -> None:
    female, male = Person(sex=Sex.female), Person(sex=Sex.male)
    assert person_words.the_holder(female) == "The holder (she)" and person_words.the_holder(male) == "The holder (he)"
    assert person_words.the_holder(Person(sex=Sex.other)) == person_words.the_holder(None) == "The holder"
    assert person_words.as_role("assistant", female) == "as assistant (she)"
    assert person_words.as_role("representative", "male") == "as legal representative (he)"
    assert person_words.legal_representative(Sex.unknown) == "Legal representative"


def test_the_professional_reads_the_holder_in_her_words(platform: Platform, clock: FrozenClock) -> None:
    from tests.web.professional import professional_with_account

    pro = professional_with_account(platform, clock)
    with platform.transaction() as session:
        record = make_record(session, platform)
        access = as_holder(session, platform, record)
        access.add_to_circle(record.id, pro.id)
        access.deposit(record.id, holder_draft("Carnet de vaccination"), [PDF])
        record_id = record.id
    pro.browser.submit("/language", {"lang": "fr", "next": "/pro"}, form_page="/pro")
    assert "La titulaire" in pro.browser.get(f"/pro/patients/{record_id}").text
    with platform.transaction() as session:
        person = session.get(Person, session.get(Record, record_id).person_id)  # type: ignore[union-attr]
        person.sex = Sex.male  # type: ignore[union-attr]
    assert "Le titulaire" in pro.browser.get(f"/pro/patients/{record_id}").text

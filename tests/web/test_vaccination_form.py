"""A vaccination recorded in the professional's portal (issue 18): one Immunization recorded by the one who gave
it, deposited through the same act as every form, read back in the holder's vaccination record (as recorded by a
professional, not declared) and in a professional's summary; bad input answered with the form and a message; no
form for a profession that may not deposit a vaccination record."""

from __future__ import annotations

import html
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from opendsp.clock import FrozenClock
from opendsp.documents.models import Document
from opendsp.documents.types import FHIR_MEDIA_TYPE, DocumentType
from opendsp.platform import Platform
from opendsp.professionals.models import OrganisationKind
from opendsp.structured.bundles import content_problems
from opendsp.structured.models import StructuredEntry
from tests.accounts.portal import Browser, settings  # noqa: F401 - the cheap-hash settings
from tests.web.professional import Pro, professional_with_account
from tests.web.test_deposit_reports import documents, holder_with_circle, main_text, stored_bundle, traced

VACCINATION = {"title": "Vaccination grippe", "care_date": "2025-03-05", "confidentiality": "normal",
               "cvx": "140", "given": "2025-03-05", "dose": "2", "lot": "FLU-2025-<77>"}


@dataclass
class World:
    record_id: uuid.UUID
    holder: Browser
    pharmacist: Pro
    gp: Pro
    physiotherapist: Pro


def build(platform: Platform, clock: FrozenClock) -> World:
    pharmacist = professional_with_account(platform, clock, kind=OrganisationKind.pharmacy, profession="pharmacist",
                                           specialties=(), name="Pharmacie du Centre", family_name="Muller")
    gp = professional_with_account(platform, clock, family_name="Hoffmann")
    physiotherapist = professional_with_account(platform, clock, profession="physiotherapist", specialties=(),
                                                name="Kiné Est", family_name="Thill")
    record_id, holder = holder_with_circle(platform, clock, pharmacist, gp, physiotherapist)
    return World(record_id, holder, pharmacist, gp, physiotherapist)


def deposit(pro: Pro, record_id: uuid.UUID, fields: dict[str, str]) -> Any:
    path = f"/pro/patients/{record_id}/deposit/vaccination"
    return pro.browser.submit(path, fields, form_page=path)


def test_a_pharmacist_records_a_vaccination_read_back_in_the_record_and_the_summary(platform: Platform,
                                                                                    clock: FrozenClock) -> None:
    world = build(platform, clock)
    base = f"/pro/patients/{world.record_id}/deposit"
    menu = world.pharmacist.browser.get(base).text
    assert f'href="{base}/vaccination"' in menu and f'href="{base}/summary"' not in menu
    world.pharmacist.browser.choose_language("fr", "/pro")
    form = world.pharmacist.browser.get(f"{base}/vaccination")
    assert form.status_code == 200 and f'action="{base}/vaccination"' in form.text
    assert '<option value="140">Grippe saisonnière</option>' in form.text  # the CVX list in the reader's words

    done = deposit(world.pharmacist, world.record_id, VACCINATION)
    assert done.status_code == 303, world.pharmacist.browser.page
    document_id = uuid.UUID(done.headers["location"].rsplit("/", 1)[1])
    with platform.sessions() as session:
        document = session.get_one(Document, document_id)
        assert (document.type, document.media_type) == (DocumentType.vaccination_record, FHIR_MEDIA_TYPE)
        kinds = list(session.scalars(select(StructuredEntry.resource_type)
                                     .where(StructuredEntry.document_id == document_id)))
    assert kinds == ["Immunization"]
    assert [(a, o) for a, o, _, _ in traced(platform, world.record_id) if a == "document.deposit"] == [
        ("document.deposit", "permitted")]
    bundle = stored_bundle(platform, world.record_id, document_id)
    assert content_problems(bundle, "vaccination_record") == []
    resources = [e["resource"] for e in bundle["entry"]]
    [immunization] = [r for r in resources if r["resourceType"] == "Immunization"]
    [practitioner] = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Practitioner"]
    assert immunization["primarySource"] is True and "reportOrigin" not in immunization
    assert immunization["performer"] == [{"actor": {"reference": practitioner["fullUrl"]}}]
    assert immunization["vaccineCode"]["coding"][0]["code"] == "140"
    assert (immunization["occurrenceDateTime"], immunization["lotNumber"]) == ("2025-03-05", "FLU-2025-<77>")
    assert immunization["protocolApplied"] == [{"doseNumberPositiveInt": 2}]

    # The holder's vaccination record: recorded by a professional, not declared.
    world.holder.choose_language("en", "/record")
    mine = world.holder.get("/record/vaccinations")
    assert mine.status_code == 200
    text = main_text(mine.text)
    assert "Seasonal influenza" in text and "FLU-2025-<77>" in text
    assert "&lt;77&gt;" in mine.text and "opendsp-declared" not in mine.text
    # The general practitioner's summary lists it among the immunisations, linked to the document.
    world.gp.browser.choose_language("en", "/pro")
    summary = world.gp.browser.get(f"/pro/patients/{world.record_id}/summary")
    assert summary.status_code == 200
    assert "Seasonal influenza" in main_text(summary.text)
    assert f"/pro/patients/{world.record_id}/documents/{document_id}" in summary.text


BAD = {
    "a date in the future": ({"given": "2099-01-01"}, "cannot be in the future"),
    "an unknown vaccine": ({"cvx": "99999"}, "Choose the vaccine from the list."),
    "no vaccine": ({"cvx": ""}, "Choose the vaccine from the list."),
    "dose 0": ({"dose": "0"}, "whole number from 1 to 20"),
    "dose 21": ({"dose": "21"}, "whole number from 1 to 20"),
    "a dose in words": ({"dose": "two"}, "whole number from 1 to 20"),
    "an over-long lot": ({"lot": "L" * 41}, "at most 40 characters"),
    "no date": ({"given": ""}, "Give the date of the vaccination."),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_answered_400_with_the_form_and_a_message(platform: Platform, clock: FrozenClock,
                                                               case: str) -> None:
    world = build(platform, clock)
    change, message = BAD[case]
    world.pharmacist.browser.choose_language("en", "/pro")
    answered = deposit(world.pharmacist, world.record_id, {**VACCINATION, **change})
    assert answered.status_code == 400
    assert message in html.unescape(answered.text)
    assert f'action="/pro/patients/{world.record_id}/deposit/vaccination"' in answered.text
    assert 'value="Vaccination grippe"' in answered.text  # what was typed is kept
    assert documents(platform, world.record_id) == 0


def test_a_profession_that_may_not_deposit_a_vaccination_record_gets_no_form(platform: Platform,
                                                                              clock: FrozenClock) -> None:
    world = build(platform, clock)
    base = f"/pro/patients/{world.record_id}/deposit"
    assert f'href="{base}/vaccination"' not in world.physiotherapist.browser.get(base).text
    world.physiotherapist.browser.choose_language("en", "/pro")
    page = world.physiotherapist.browser.get(f"{base}/vaccination")
    assert page.status_code == 403
    assert "Your profession may not deposit this type of document." in page.text
    assert f'action="{base}/vaccination"' not in page.text
    posted = deposit(world.physiotherapist, world.record_id, VACCINATION)
    assert posted.status_code == 403 and f'action="{base}/vaccination"' not in posted.text
    assert documents(platform, world.record_id) == 0

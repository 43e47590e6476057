"""Imaging and discharge reports deposited from the professional's portal (issue 18 §2, ADR 41): the same FHIR
document the ITI-65 door accepts, through the same deposit act and checks, read back section by section by the
holder and by a professional; bad input answered with the form and a message in the reader's language; the forms
offered only to the professions the rights matrix lets deposit the type."""

from __future__ import annotations

import html
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select

from opendsp.clock import FrozenClock
from opendsp.documents.models import Document
from opendsp.documents.types import FHIR_MEDIA_TYPE, DocumentType
from opendsp.platform import Platform
from opendsp.professionals.models import OrganisationKind
from opendsp.records.models import Record
from opendsp.structured.bundles import content_problems
from opendsp.structured.models import StructuredEntry
from opendsp.web.security import LANGUAGE_COOKIE
from tests.accounts.portal import Browser, settings  # noqa: F401 - the cheap-hash settings
from tests.browser import Screens, chromium, live, screens  # noqa: F401
from tests.factories import as_holder, make_record
from tests.web.holder_world import logged_in
from tests.web.indistinguishable import answer
from tests.web.professional import Pro, professional_with_account, trace
from tests.web.test_attacks import _post

STUDY_UID = "1.2.826.0.1.3680043.8.498.4242"
VIEWER = "https://pacs.example.lu/viewer?StudyInstanceUIDs={study_uid}"
IMAGING = {"title": "Scanner thoracique", "care_date": "2025-03-05", "confidentiality": "normal",
           "modality": "CT", "body_site": "51185008", "study_date": "2025-03-04", "study_uid": STUDY_UID,
           "accession_number": "ACC-2025-88", "conclusion": "Pas d'embolie <pulmonaire>.\nContrôle dans 3 mois."}
DISCHARGE = {"title": "Lettre de sortie", "care_date": "2025-03-05", "confidentiality": "normal",
             "admission_date": "2025-03-01", "discharge_date": "2025-03-04",
             "reason": "Douleurs abdominales <script>alert(1)</script> depuis 24 heures.",
             "procedures": "Appendicectomie par cœlioscopie le 1er mars.",
             "medication": "Amoxicilline 1 g trois fois par jour, 5 jours.\nParacétamol si douleur.",
             "follow_up": "Consultation de contrôle chez le chirurgien dans 3 semaines."}


@dataclass
class World:
    record_id: uuid.UUID
    holder: Browser
    radiologist: Pro
    hospital: Pro
    gp: Pro


def holder_with_circle(platform: Platform, clock: FrozenClock, *circle: Pro) -> tuple[uuid.UUID, Browser]:
    """A new record's holder, logged in, with these professionals in the trusted circle."""
    with platform.transaction() as session:
        record = make_record(session, platform, active=False)
        session.expunge(record.holder)
        session.expunge(record)
    holder = logged_in(platform, clock, record.holder)
    with platform.transaction() as session:
        access = as_holder(session, platform, session.get(Record, record.id))
        for pro in circle:
            access.add_to_circle(record.id, pro.id)
    return record.id, holder


def build(platform: Platform, clock: FrozenClock) -> World:
    """A holder logged in; a radiologist, a hospital physician and a general practitioner in the circle."""
    radiologist = professional_with_account(platform, clock, specialties=("radiology",), name="Imagerie Sud",
                                            family_name="Kremer")
    hospital = professional_with_account(platform, clock, kind=OrganisationKind.hospital, name="Hôpital Demo",
                                         specialties=("internal_medicine",), family_name="Schmit")
    gp = professional_with_account(platform, clock, family_name="Hoffmann")
    record_id, holder = holder_with_circle(platform, clock, radiologist, hospital, gp)
    return World(record_id, holder, radiologist, hospital, gp)


def deposit(pro: Pro, record_id: uuid.UUID, kind: str, fields: dict[str, str]) -> Any:
    path = f"/pro/patients/{record_id}/deposit/{kind}"
    return pro.browser.submit(path, fields, form_page=path)


def documents(platform: Platform, record_id: uuid.UUID) -> int:
    with platform.sessions() as session:
        return session.scalar(select(func.count()).select_from(Document).where(Document.record_id == record_id)) or 0


def stored_bundle(platform: Platform, record_id: uuid.UUID, document_id: uuid.UUID) -> dict[str, Any]:
    with platform.transaction() as session:
        return json.loads(as_holder(session, platform, session.get(Record, record_id)).consult(document_id).read())


def traced(platform: Platform, record_id: uuid.UUID) -> list[tuple[str, str, str | None, str | None]]:
    with platform.sessions() as session:
        record = session.get_one(Record, record_id)
        session.expunge(record)
    return trace(platform, record)


def main_text(page: str) -> str:
    main = page.split("<main", 1)[1].split("</main>", 1)[0]
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", main.split(">", 1)[1])))


def test_a_radiologist_deposits_an_imaging_report_read_back_with_its_study(platform: Platform,
                                                                          clock: FrozenClock) -> None:
    world = build(platform, clock)
    base = f"/pro/patients/{world.record_id}/deposit"
    menu = world.radiologist.browser.get(base).text
    assert f'href="{base}/imaging"' in menu and f'href="{base}/discharge"' not in menu
    world.radiologist.browser.choose_language("fr", "/pro")
    form = world.radiologist.browser.get(f"{base}/imaging")
    assert form.status_code == 200 and f'action="{base}/imaging"' in form.text
    # The modalities and body sites in the reader's language, coded underneath.
    assert '<option value="CT">Scanner (tomodensitométrie)</option>' in form.text
    assert '<option value="51185008">Thorax</option>' in form.text

    done = deposit(world.radiologist, world.record_id, "imaging", IMAGING)
    assert done.status_code == 303, world.radiologist.browser.page
    document_id = uuid.UUID(done.headers["location"].rsplit("/", 1)[1])
    with platform.sessions() as session:
        document = session.get(Document, document_id)
        assert document is not None
        assert (document.type, document.media_type) == (DocumentType.imaging_report, FHIR_MEDIA_TYPE)
        kinds = sorted(session.scalars(select(StructuredEntry.resource_type)
                                       .where(StructuredEntry.document_id == document_id)))
    assert kinds == ["DiagnosticReport", "ImagingStudy"]
    assert [(a, o) for a, o, _, _ in traced(platform, world.record_id) if a == "document.deposit"] == [
        ("document.deposit", "permitted")]
    # The same document the FHIR door accepts: the study in the Bundle, its identifiers, the study's day.
    bundle = stored_bundle(platform, world.record_id, document_id)
    assert content_problems(bundle, "imaging_report") == []
    study = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "ImagingStudy")
    assert study["identifier"][0]["value"] == f"urn:oid:{STUDY_UID}"
    assert study["identifier"][1]["value"] == "ACC-2025-88"
    assert study["started"].startswith("2025-03-04")
    assert study["series"][0]["bodySite"]["code"] == "51185008" and study["series"][0]["uid"].startswith("2.25.")

    # The general practitioner reads it in English; no viewer configured: the identifiers as text.
    page = world.gp.browser.get(f"/pro/patients/{world.record_id}/documents/{document_id}")
    assert page.status_code == 200
    text = main_text(page.text)
    for words in ("CT scan", "Chest", STUDY_UID, "ACC-2025-88", "Pas d'embolie <pulmonaire>.", "04/03/2025"):
        assert words in text, words
    assert "&lt;pulmonaire&gt;" in page.text and "<pulmonaire>" not in page.text
    assert "Open the images in the PACS" not in text
    platform.settings.pacs_viewer_url = VIEWER  # what OPENDSP_PACS_VIEWER_URL sets at start
    linked = world.gp.browser.get(f"/pro/patients/{world.record_id}/documents/{document_id}").text
    assert f'href="{VIEWER.replace("{study_uid}", STUDY_UID)}"' in linked

    # The holder reads it in German, with the link of the configured viewer.
    world.holder.choose_language("de", "/record")
    mine = world.holder.get(f"/record/documents/{document_id}")
    assert mine.status_code == 200
    text = main_text(mine.text)
    for words in ("Computertomographie", "Brustkorb", "Modalität", STUDY_UID, "Bilder im PACS öffnen", "4.3.2025"):
        assert words in text, words


def test_a_hospital_physician_deposits_a_discharge_report_read_section_by_section(platform: Platform,
                                                                                 clock: FrozenClock) -> None:
    world = build(platform, clock)
    base = f"/pro/patients/{world.record_id}/deposit"
    menu = world.hospital.browser.get(base).text
    assert f'href="{base}/discharge"' in menu and f'href="{base}/imaging"' not in menu
    done = deposit(world.hospital, world.record_id, "discharge", DISCHARGE)
    assert done.status_code == 303, world.hospital.browser.page
    document_id = uuid.UUID(done.headers["location"].rsplit("/", 1)[1])
    bundle = stored_bundle(platform, world.record_id, document_id)
    assert content_problems(bundle, "discharge_letter") == []
    composition = bundle["entry"][0]["resource"]
    assert [s["code"]["coding"][0]["code"] for s in composition["section"]] == [
        "46241-6", "10185-7", "10183-2", "18776-5"]
    # The author's words are escaped into the narrative, never markup of the document.
    assert "&lt;script&gt;" in composition["section"][0]["text"]["div"]

    titles = {"fr": ["Motif d'admission", "Actes réalisés", "Traitement de sortie", "Suivi et plan de soins"],
              "en": ["Reason for admission", "Procedures performed", "Medication on discharge",
                     "Follow-up and plan of care"]}
    world.gp.browser.choose_language("en", "/pro")
    pro_page = world.gp.browser.get(f"/pro/patients/{world.record_id}/documents/{document_id}")
    world.holder.choose_language("fr", "/record")
    holder_page = world.holder.get(f"/record/documents/{document_id}")
    for page, language in ((pro_page, "en"), (holder_page, "fr")):
        assert page.status_code == 200
        headings = [h.replace("&#39;", "'").replace("&#x27;", "'")
                    for h in re.findall(r"<h3>([^<]+)</h3>", page.text) or re.findall(r"<h2>([^<]+)</h2>", page.text)]
        assert [h for h in headings if h in titles[language]] == titles[language], headings
        text = main_text(page.text)
        for words in ("Douleurs abdominales <script>alert(1)</script> depuis 24 heures.",
                      "Amoxicilline 1 g trois fois par jour, 5 jours.", "Paracétamol si douleur.",
                      "Appendicectomie par cœlioscopie le 1er mars.", "dans 3 semaines"):
            assert words in text, (language, words)
        assert "<script>alert" not in page.text
    assert "Stay from 01/03/2025 to 04/03/2025" in main_text(pro_page.text)
    assert "Séjour du 01/03/2025 au 04/03/2025" in main_text(holder_page.text)


BAD_IMAGING = {
    "a UID with letters": ({"study_uid": "1.2.abc.4"}, "numbers separated by dots"),
    "a UID with a leading zero": ({"study_uid": "1.02.3"}, "numbers separated by dots"),
    "a UID of one number": ({"study_uid": "12345"}, "numbers separated by dots"),
    "a UID too long": ({"study_uid": "1." + "2" * 64}, "numbers separated by dots"),
    "a UID with markup": ({"study_uid": '1.2"><script>x()</script>'}, "numbers separated by dots"),
    "no UID": ({"study_uid": ""}, "Give the study instance UID."),
    "an unknown modality": ({"modality": "XX"}, "Choose the modality from the list."),
    "an unknown body site": ({"body_site": "999"}, "Choose the body site from the list."),
    "a study after the report": ({"study_date": "2025-03-06"}, "The study date cannot be after the date of care."),
    "a study date not a date": ({"study_date": "04/03/2025"}, "Give a valid date."),
    "an accession number too long": ({"accession_number": "A" * 17}, "at most 16 characters"),
    "no conclusion": ({"conclusion": "  \n "}, "Write the conclusion."),
    "a conclusion too long": ({"conclusion": "x" * 4001}, "at most 4,000 characters"),
}
BAD_DISCHARGE = {
    "discharged before admitted": ({"discharge_date": "2025-02-28"}, "cannot be before the admission date"),
    "discharged in the future": ({"discharge_date": "2026-01-02"}, "The discharge date cannot be in the future."),
    "no admission date": ({"admission_date": ""}, "Give a valid date."),
    "an empty reason": ({"reason": ""}, "Write the reason for admission."),
    "empty procedures": ({"procedures": "\t \n "}, "Write the procedures performed"),
    "empty medication": ({"medication": " "}, "Write the medication on discharge"),
    "an empty follow-up": ({"follow_up": ""}, "Write the follow-up."),
    "a follow-up too long": ({"follow_up": "y" * 4001}, "The follow-up has at most 4,000 characters."),
}


# The first bad input of each form, answered in other languages.
TRANSLATED = {"imaging": (("de", "Die Study Instance UID besteht aus Zahlen"),
                          ("pt", "O identificador do estudo é formado por números")),
              "discharge": (("fr", "La date de sortie ne peut pas précéder la date d'admission."),
                            ("de", "Das Entlassungsdatum kann nicht vor dem Aufnahmedatum liegen."),
                            ("pt", "A data de alta não pode ser anterior à data de internamento."))}


@pytest.mark.parametrize(("kind", "who", "good", "bad"), [
    ("imaging", "radiologist", IMAGING, BAD_IMAGING), ("discharge", "hospital", DISCHARGE, BAD_DISCHARGE)])
def test_bad_input_is_answered_with_the_form_and_a_clear_message_and_nothing_stored(
        platform: Platform, clock: FrozenClock, kind: str, who: str, good: dict[str, str],
        bad: dict[str, tuple[dict[str, str], str]]) -> None:
    world = build(platform, clock)
    pro: Pro = getattr(world, who)
    before, entries = documents(platform, world.record_id), traced(platform, world.record_id)
    for name, (change, message) in bad.items():
        response = deposit(pro, world.record_id, kind, {**good, **change})
        assert response.status_code == 400, name
        assert message in response.text, (name, re.findall(r'id="form-error"><p>([^<]*)', response.text))
        assert f'action="/pro/patients/{world.record_id}/deposit/{kind}"' in response.text, name
        assert "<script>x()" not in response.text and "<script>alert" not in response.text, name
    # What was typed comes back in the form (escaped), so that nothing needs typing again.
    again = deposit(pro, world.record_id, kind, {**good, "title": "Compte rendu <b>", **list(bad.values())[0][0]})
    assert 'value="Compte rendu &lt;b&gt;"' in again.text
    assert documents(platform, world.record_id) == before
    assert traced(platform, world.record_id) == entries  # refused before any act
    # In the reader's language.
    for language, words in TRANSLATED[kind]:
        pro.browser.choose_language(language, "/pro")
        response = deposit(pro, world.record_id, kind, {**good, **list(bad.values())[0][0]})
        assert response.status_code == 400 and words in response.text.replace("&#39;", "'"), language


def test_a_profession_not_allowed_gets_no_form_and_its_post_is_refused(platform: Platform,
                                                                       clock: FrozenClock) -> None:
    world = build(platform, clock)
    base = f"/pro/patients/{world.record_id}/deposit"
    refused = [(world.gp, "imaging", IMAGING), (world.gp, "discharge", DISCHARGE),
               (world.radiologist, "discharge", DISCHARGE), (world.hospital, "imaging", IMAGING)]
    menu = world.gp.browser.get(base).text
    assert f'href="{base}/imaging"' not in menu and f'href="{base}/discharge"' not in menu
    assert 'value="imaging_report"' not in menu and 'value="discharge_letter"' not in menu
    before = documents(platform, world.record_id)
    for pro, kind, fields in refused:
        page = pro.browser.get(f"{base}/{kind}")
        assert page.status_code == 403, kind
        assert "Your profession may not deposit this type of document." in page.text
        assert f'action="{base}/{kind}"' not in page.text
        posted = _post(pro.browser, f"{base}/{kind}", fields)
        assert posted.status_code == 403, (kind, posted.text)
        assert "Your profession may not deposit this type of document." in posted.text
        assert f'action="{base}/{kind}"' not in posted.text
    assert documents(platform, world.record_id) == before
    # The refused deposits are traced as refusals, as every refused act is.
    refusals = [(a, o, r) for a, o, r, _ in traced(platform, world.record_id)
                if a == "document.deposit"]
    assert refusals == [("document.deposit", "refused", "type_not_permitted")] * len(refused)


def test_a_blocked_professional_and_an_unknown_record_are_refused_alike(platform: Platform,
                                                                        clock: FrozenClock) -> None:
    world = build(platform, clock)
    with platform.transaction() as session:
        as_holder(session, platform, session.get(Record, world.record_id)).block(world.record_id, world.radiologist.id)
    before = documents(platform, world.record_id)
    blocked = world.radiologist.browser
    for kind, fields in (("imaging", IMAGING), ("discharge", DISCHARGE)):
        path = f"/pro/patients/{world.record_id}/deposit/{kind}"
        unknown = f"/pro/patients/{uuid.uuid4()}/deposit/{kind}"
        for response, of_unknown in ((blocked.get(path), blocked.get(unknown)),
                                     (_post(blocked, path, fields), _post(blocked, unknown, fields)),
                                     (_post(blocked, path, {}), _post(blocked, unknown, {}))):
            # The block is the holder's to know: the answer of an unknown record, byte for byte.
            assert response.status_code == 404, kind
            assert answer(response) == answer(of_unknown)  # ids masked
            assert '<form method="post" action="/pro/patients/' not in response.text
    assert documents(platform, world.record_id) == before


def test_both_forms_in_french_in_chromium_with_axe(platform: Platform, clock: FrozenClock,
                                                   screens: Screens) -> None:
    world = build(platform, clock)
    for pro, kind, fields, shown in ((world.radiologist, "imaging", IMAGING, "Thorax"),
                                     (world.hospital, "discharge", DISCHARGE, "Motif d'admission")):
        screens.page.context.clear_cookies()
        screens.log_in(pro.credentials)
        screens.page.context.add_cookies([{"name": LANGUAGE_COOKIE, "value": "fr", "url": screens.base_url}])
        screens.visit(f"/pro/patients/{world.record_id}/deposit/{kind}", f"the {kind} form")
        page = screens.page
        # Bad input first: the form again with its message, checked for accessibility too.
        if kind == "imaging":
            page.select_option("#modality", fields["modality"])
            page.select_option("#body_site", fields["body_site"])
            page.fill("#study_uid", "1.2.x")
        else:
            page.fill("#admission_date", fields["admission_date"])
            page.fill("#discharge_date", "2025-02-28")
        for name in ("title", "care_date", "study_date", "accession_number", "conclusion", "reason", "procedures",
                     "medication", "follow_up"):
            if name in fields and not (kind == "imaging" and name == "study_uid"):
                page.fill(f"#{name}", fields[name])
        with page.expect_navigation():
            page.locator("main form button[type=submit]").click()
        screens.seen(f"the {kind} form with an error")
        assert page.locator("#form-error").is_visible()
        if kind == "imaging":
            page.fill("#study_uid", fields["study_uid"])
        else:
            page.fill("#discharge_date", fields["discharge_date"])
        with page.expect_navigation():
            page.locator("main form button[type=submit]").click()
        with page.expect_navigation():
            page.locator("#deposited-document").click()
        screens.seen(f"the {kind} report deposited")
        assert shown in page.locator("main").inner_text()

"""Imaging and discharge reports on the document page: in the reader's language and formats, the study's
identifiers (a PACS link only from the platform's template), each discharge section with its narrative made safe."""

from __future__ import annotations

import copy
import json
import re
import uuid
from datetime import date
from typing import Any

import pytest
from pydantic import ValidationError

from opendsp.clock import FrozenClock
from opendsp.documents.services import DocumentDraft
from opendsp.documents.types import FHIR_MEDIA_TYPE, DocumentType
from opendsp.fhir.narrative import safe_narrative
from opendsp.fhir.structured import render_html, study_identifiers
from opendsp.platform import Platform
from opendsp.records.models import Record
from opendsp.settings import Settings
from opendsp.web.security import LANGUAGE_COOKIE
from tests.accounts.portal import Browser, settings  # noqa: F401 - the cheap-hash settings
from tests.browser import Screens, chromium, live, screens  # noqa: F401
from opendsp.professionals.models import OrganisationKind
from tests.factories import as_holder, as_professional, make_organisation, make_professional, make_record
from tests.fhir.test_imaging_and_discharge import STUDY_UID, discharge_bundle, imaging_bundle
from tests.web.holder_world import logged_in

VIEWER = "https://pacs.example.lu/viewer?StudyInstanceUIDs={study_uid}"
ATTACK = ('<div xmlns="http://www.w3.org/1999/xhtml"><p onmouseover="steal()">Suites <b>simples</b>.'
          '<script>steal()</script><a href="javascript:steal()">voir</a><img src="http://evil.example/t.png"/>'
          '<iframe src="https://evil.example"></iframe><span style="background:url(http://evil.example)">x</span>'
          '<table><tr><td colspan="2" onclick="steal()">ok</td></tr></table></p></div>')


def visible(page: str) -> str:
    """The text a reader sees of the page's main part."""
    main = page.split("<main", 1)[1].split("</main>", 1)[0]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", main.split(">", 1)[1]))


def entry(bundle: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind)


# -- the rendering -------------------------------------------------------------------------------


def test_the_imaging_report_in_french_and_german_with_the_study_as_text() -> None:
    bundle = imaging_bundle()
    french = render_html(bundle, "fr")
    assert "Radiographie du thorax (2 incidences)" in french and "Radiographie</span>" in french
    assert "Thorax" in french and "Pneumonie" in french
    assert "Opacité basale droite &lt;compatible&gt; avec une pneumonie." in french
    assert STUDY_UID in french and "ACC-2025-77" in french
    assert "<a " not in french  # no viewer configured: the identifiers as text
    assert "2 série(s), 4 image(s)" in french
    german = render_html(bundle, "de")
    for word in ("Modalität", "Röntgen", "Brustkorb", "Untersuchte Region", "Lungenentzündung", "Beurteilung"):
        assert word in german, word
    for html in (french, german):
        text = re.sub(r"<[^>]+>", " ", html)
        assert "2025-03-04" not in text and "51185008" not in text and "233604007" not in text
        assert not re.search(r"\bCR\b", text)


def test_the_pacs_link_comes_only_from_the_configured_template() -> None:
    bundle = imaging_bundle()
    study = entry(bundle, "ImagingStudy")
    # The document's own addresses are never links: an endpoint, a javascript: URL in any text.
    study["endpoint"] = [{"reference": "urn:uuid:endpoint"}]
    bundle["entry"].append({"fullUrl": "urn:uuid:endpoint", "resource": {
        "resourceType": "Endpoint", "status": "active", "address": "javascript:alert(1)",
        "connectionType": {"code": "dicom-wado-rs"}, "payloadType": [{"text": "DICOM"}]}})
    entry(bundle, "DiagnosticReport")["presentedForm"] = [{"contentType": "text/html", "url": "javascript:alert(2)"}]
    without = render_html(bundle, "fr")
    assert "<a " not in without and "javascript:" not in without
    linked = render_html(bundle, "fr", viewer_url=VIEWER)
    links = re.findall(r'<a [^>]*href="([^"]+)"', linked)
    assert links == [VIEWER.replace("{study_uid}", STUDY_UID)]
    assert "Ouvrir les images dans le PACS" in linked and "javascript:" not in linked

    # A study UID that is no DICOM UID is neither shown as one nor put into the viewer's address.
    forged = copy.deepcopy(imaging_bundle())
    entry(forged, "ImagingStudy")["identifier"][0]["value"] = 'urn:oid:1.2"><script>alert(1)</script>'
    assert study_identifiers(entry(forged, "ImagingStudy"))[0] is None
    rendered = render_html(forged, "fr", viewer_url=VIEWER)
    assert "<a " not in rendered and "<script>" not in rendered


def test_the_viewer_template_is_checked_at_start() -> None:
    for wrong in ("javascript:alert(1)//{study_uid}", "https://pacs.example.lu/viewer", "//pacs/{study_uid}"):
        with pytest.raises(ValidationError):
            Settings(pacs_viewer_url=wrong)
    assert Settings(pacs_viewer_url=VIEWER).pacs_viewer_url == VIEWER


def test_the_discharge_report_section_by_section_in_the_reader_s_language() -> None:
    bundle = discharge_bundle()
    french, german = render_html(bundle, "fr"), render_html(bundle, "de")
    titles = {"fr": ["Motif d'admission", "Déroulement du séjour", "Actes réalisés", "Traitement de sortie",
                     "Suivi et plan de soins"],
              "de": ["Aufnahmegrund", "Verlauf des Aufenthalts", "Durchgeführte Eingriffe", "Entlassungsmedikation",
                     "Weiteres Vorgehen"]}
    for html, language in ((french, "fr"), (german, "de")):
        found = re.findall(r"<h2>([^<]+)</h2>", html)
        assert found == [t.replace("'", "&#x27;") for t in titles[language]], found
        text = re.sub(r"<[^>]+>", " ", html)
        assert "Douleurs abdominales aiguës depuis 24 heures." in text  # the author's narrative, as written
        assert "Amoxicilline 1 g" in text or "Amoxicillin" in text
        assert "2025-03-01" not in text and "6025007" not in text and "10185-7" not in text
    assert "Appendicectomie par cœlioscopie (réalisé le 01/03/2025)" in re.sub(r"<[^>]+>", "", french)
    assert "Laparoskopische Appendektomie (durchgeführt am 1.3.2025)" in re.sub(r"<[^>]+>", "", german)
    assert re.sub(r"<[^>]+>", "", french).count("Consultation de contrôle chez le chirurgien") == 1
    # A generated narrative only repeats the entries: shown once, as entries.
    assert french.count("Laparoscopic appendectomy") <= 1


def test_a_narrative_keeps_its_text_and_loses_everything_that_acts() -> None:
    bundle = discharge_bundle()
    course = entry(bundle, "Composition")["section"][1]
    course["text"] = {"status": "additional", "div": ATTACK}
    html = render_html(bundle, "fr")
    for bad in ("<script", "steal()", "onmouseover", "onclick", "javascript:", "<img", "evil.example", "<iframe",
                "style=", "<a "):
        assert bad not in html, bad
    assert "Suites <b>simples</b>." in html and "voir" in html and '<td colspan="2">ok</td>' in html
    # Unbalanced, nested, entity-encoded: still only text and the allowed tags.
    tricky = safe_narrative('<div><p>a<scr<script>ipt>alert(1)</script>&lt;script&gt;<b><i>c</p>'
                            '<a href="  jav&#x61;script:x">d</a><svg onload="x()"><script>y()</script></svg>')
    assert "<script" not in tricky and "onload" not in tricky and "javascript" not in tricky.lower()
    assert tricky.count("<b>") == tricky.count("</b>") and "&lt;script&gt;" in tricky


# -- the pages ----------------------------------------------------------------------------------


def deposit_reports(platform: Platform, record_id: uuid.UUID) -> tuple[uuid.UUID, uuid.UUID]:
    """An imaging report by a radiologist, a discharge report by a hospital physician, both in the circle."""
    with platform.transaction() as session:
        hospital = make_organisation(session, platform, OrganisationKind.hospital, name="Hôpital Demo")
        radiologist = make_professional(session, platform, specialties=("radiology",), family_name="Kremer")
        physician = make_professional(session, platform, organisation=hospital, specialties=("internal_medicine",),
                                      family_name="Schmit")
        holder = as_holder(session, platform, session.get(Record, record_id))
        holder.add_to_circle(record_id, radiologist.id)
        holder.add_to_circle(record_id, physician.id)
        imaging = as_professional(session, platform, radiologist).deposit(record_id, DocumentDraft(
            type=DocumentType.imaging_report, title="Radiographie du thorax", care_date=date(2025, 3, 4),
            media_type=FHIR_MEDIA_TYPE), [json.dumps(imaging_bundle()).encode()]).id
        discharge = as_professional(session, platform, physician).deposit(record_id, DocumentDraft(
            type=DocumentType.discharge_letter, title="Lettre de sortie", care_date=date(2025, 3, 4),
            media_type=FHIR_MEDIA_TYPE), [json.dumps(discharge_bundle()).encode()]).id
    return imaging, discharge


def with_reports(platform: Platform, clock: FrozenClock) -> tuple[Browser, uuid.UUID, uuid.UUID]:
    """A record its holder is logged in to, with an imaging report and a discharge report."""
    with platform.transaction() as session:
        record = make_record(session, platform, active=False)
        session.expunge(record.holder)
        session.expunge(record)
    browser = logged_in(platform, clock, record.holder)
    return (browser, *deposit_reports(platform, record.id))


def test_both_document_pages_in_french_and_german(platform: Platform, clock: FrozenClock) -> None:
    browser, imaging, discharge = with_reports(platform, clock)
    for language, words in (("fr", ("Modalité", "Thorax", "Motif d'admission")),
                            ("de", ("Modalität", "Brustkorb", "Aufnahmegrund"))):
        browser.choose_language(language, "/record")
        pages = []
        for document in (imaging, discharge):
            assert browser.get(f"/record/documents/{document}").status_code == 200
            pages.append(visible(browser.page))
        text = " ".join(pages)
        for word in words:
            assert word in text.replace("&#x27;", "'").replace("&#39;", "'"), (language, word)
        assert "2025-03-04" not in text and "2025-03-01" not in text and "51185008" not in text
        assert STUDY_UID in pages[0] and "PACS" not in pages[0]  # no viewer configured here
    assert browser.get(f"/record/documents/{uuid.uuid4()}").status_code == 404


def test_both_document_pages_on_a_phone(platform: Platform, clock: FrozenClock, screens: Screens) -> None:
    with platform.transaction() as session:
        record = make_record(session, platform, active=False)
        session.expunge(record.holder)
        session.expunge(record)
    credentials = logged_in(platform, clock, record.holder).credentials  # type: ignore[attr-defined]
    imaging, discharge = deposit_reports(platform, record.id)
    screens.log_in(credentials)
    screens.page.set_viewport_size({"width": 390, "height": 844})
    screens.page.context.add_cookies([{"name": LANGUAGE_COOKIE, "value": "de", "url": screens.base_url}])
    screens.visit(f"/record/documents/{imaging}", "imaging report")
    assert "Brustkorb" in screens.page.locator("main").inner_text()
    screens.visit(f"/record/documents/{discharge}", "discharge report")
    assert "Aufnahmegrund" in screens.page.locator("main").inner_text()


def test_the_configured_viewer_links_the_study_on_the_page(platform: Platform, clock: FrozenClock) -> None:
    browser, imaging, _ = with_reports(platform, clock)
    platform.settings.pacs_viewer_url = VIEWER  # what OPENDSP_PACS_VIEWER_URL sets at start
    browser.choose_language("pt", "/record")
    assert browser.get(f"/record/documents/{imaging}").status_code == 200
    main = browser.page.split("<main", 1)[1].split("</main>", 1)[0]
    assert f'href="{VIEWER.replace("{study_uid}", STUDY_UID)}"' in main
    assert "Abrir as imagens no PACS" in main and "Tórax" in main


def test_keyword_search_reads_the_conclusion_and_the_narratives() -> None:
    from opendsp.search.index import fhir_text

    imaging = fhir_text(json.dumps(imaging_bundle()).encode())
    assert "pneumonie" in imaging and "Computed Radiography" in imaging
    discharge = fhir_text(json.dumps(discharge_bundle()).encode())
    assert "Douleurs abdominales" in discharge and "Consultation de contrôle" in discharge


def test_on_the_professional_portal_the_reports_read_alike_and_an_unconsulted_type_is_unknown(
        platform: Platform, clock: FrozenClock) -> None:
    from tests.web.indistinguishable import answer
    from tests.web.professional import professional_with_account, record_with_code

    record, _ = record_with_code(platform)
    imaging, discharge = deposit_reports(platform, record.id)
    doctor = professional_with_account(platform, clock, family_name="Hoffmann")
    pharmacist = professional_with_account(platform, clock, profession="pharmacist", specialties=(),
                                           name="Pharmacie du Centre", family_name="Apotheker")
    with platform.transaction() as session:
        holder = as_holder(session, platform, session.get(Record, record.id))
        holder.add_to_circle(record.id, doctor.id)
        holder.add_to_circle(record.id, pharmacist.id)
    platform.settings.pacs_viewer_url = VIEWER

    doctor.browser.choose_language("en", "/pro")
    page = doctor.browser.get(f"/pro/patients/{record.id}/documents/{imaging}")
    assert page.status_code == 200
    text = visible(page.text)
    assert "Chest" in text and "X-ray" in text and "Open the images in the PACS" in text
    assert f'href="{VIEWER.replace("{study_uid}", STUDY_UID)}"' in page.text
    letter = doctor.browser.get(f"/pro/patients/{record.id}/documents/{discharge}")
    assert "Reason for admission" in visible(letter.text) and "Hospital course" in visible(letter.text)

    # A pharmacist may not consult either type: the answer of an id that does not exist, byte for byte.
    unknown = answer(pharmacist.browser.get(f"/pro/patients/{record.id}/documents/{uuid.uuid4()}"))
    for document in (imaging, discharge):
        hidden = answer(pharmacist.browser.get(f"/pro/patients/{record.id}/documents/{document}"))
        assert hidden == unknown and hidden.status == 404



DAMAGE = ("s", 5, None, {"a": 1}, [1, "x", {}], True)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, inner in value.items():
            found.extend(_paths(inner, (*path, key)))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found.extend(_paths(inner, (*path, index)))
    return found


def test_any_damaged_document_still_renders_safely() -> None:
    """Every element of each kind of structured document replaced by each kind of JSON value: the rendering
    never fails (a document is shown, never a server error) and stays free of anything that acts."""
    from tests.fhir.test_structured import lab_bundle, summary_bundle

    for base in (imaging_bundle(), discharge_bundle(), lab_bundle(date(2025, 1, 1)), summary_bundle()):
        for path in [p for p in _paths(base) if p]:
            for value in DAMAGE:
                bundle = copy.deepcopy(base)
                parent = bundle
                for step in path[:-1]:
                    parent = parent[step]
                parent[path[-1]] = value
                html = render_html(bundle, "de", viewer_url=VIEWER)
                assert "<script" not in html and "javascript:" not in html, path

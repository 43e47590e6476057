"""The professional's patient summary with the structured EHDS categories (issue 18 §2): the current medication
(the medication list's rule), the vaccinations once each, the latest imaging reports with their modality and body
site, the latest discharge report by its sections — each line linked to its source, the page one traced act."""

from __future__ import annotations

import html
import re
import uuid

import pytest
from sqlalchemy import select

from opendsp.clock import FrozenClock
from opendsp.platform import Platform
from opendsp.records.models import Record
from opendsp.trace.models import TraceEntry
from tests.accounts.portal import settings  # noqa: F401 - the cheap-hash settings
from tests.factories import as_holder
from tests.web.ehds_world import EhdsWorld, build, pharmacist_browser


@pytest.fixture
def world(platform: Platform, clock: FrozenClock) -> EhdsWorld:
    return build(platform, clock)


def section(page: str, key: str) -> list[tuple[str, uuid.UUID]]:
    """A section's lines: (the line's text, the id of the document it links to)."""
    body = page.split(f'id="{key}"', 1)[1].split("</section>", 1)[0]
    lines = re.findall(r"<li[^>]*>(.*?)</li>", body, re.S)
    out = []
    for line in lines:
        link = re.search(r'/documents/([0-9a-f-]{36})"', line)
        assert link, line  # every line links to its source
        out.append((re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", line)).strip(), uuid.UUID(link.group(1))))
    return out


def last_entry_id(platform: Platform) -> int:
    with platform.sessions() as session:
        return session.scalar(select(TraceEntry.id).order_by(TraceEntry.id.desc()).limit(1)) or 0


def test_the_summary_gathers_each_category_linked_to_its_source_in_one_act(platform: Platform,
                                                                          world: EhdsWorld) -> None:
    before = last_entry_id(platform)
    response = world.gp_browser.get(f"/pro/patients/{world.record.id}/summary")
    assert response.status_code == 200
    page = response.text
    ids = world.ids

    (medicine,) = section(page, "current_medication")
    assert "Amoxicillin" in medicine[0] and "since" in medicine[0] and "last dispensed" in medicine[0]
    assert medicine[1] == ids["dispensation"]  # the newest source: what was handed over
    assert 'id="medication-list-link"' in page

    vaccinations = section(page, "immunisations")
    assert [(("Seasonal influenza" in text), source) for text, source in vaccinations] == [(True, ids["vaccination"])]

    (imaging,) = section(page, "imaging")
    assert "X-ray" in imaging[0] and "Chest" in imaging[0] and imaging[1] == ids["imaging"]

    (discharge,) = section(page, "discharge")
    assert "Lettre de sortie appendicite" in discharge[0] and "Hospital course" in discharge[0]
    assert discharge[1] == ids["discharge"]

    with platform.sessions() as session:
        entries = list(session.scalars(select(TraceEntry).where(TraceEntry.record_id == world.record.id,
                                                                TraceEntry.id > before)))
    (entry,) = entries  # the whole page: one decision, one trace entry naming its sources
    assert entry.action == "document.consult" and entry.context["purpose"] == "summary"
    assert set(entry.context["documents"]) == {str(i) for i in ids.values()}


@pytest.mark.parametrize(("language", "headings"), [
    ("fr", ("Médication en cours", "Derniers comptes rendus d'imagerie", "Dernier rapport de sortie")),
    ("de", ("Aktuelle Medikation", "Neueste Bildgebungsbefunde", "Neuester Entlassungsbericht")),
    ("pt", ("Medicação atual", "Relatórios de imagiologia mais recentes", "Relatório de alta mais recente")),
])
def test_the_new_sections_speak_the_reader_s_language(world: EhdsWorld, language: str,
                                                      headings: tuple[str, ...]) -> None:
    path = f"/pro/patients/{world.record.id}/summary"
    world.gp_browser.choose_language(language, path)
    page = html.unescape(world.gp_browser.get(path).text)
    for heading in headings:
        assert heading in page, heading
    words = {"fr": ("Radiographie", "Thorax", "Déroulement du séjour"), "de": ("Röntgen", "Brustkorb", "Verlauf"),
             "pt": ("Radiografia", "Tórax", "Evolução durante o internamento")}[language]
    for word in words:
        assert word in page, word


def test_a_pharmacist_s_summary_holds_only_what_they_may_consult(platform: Platform, clock: FrozenClock,
                                                                world: EhdsWorld) -> None:
    browser = pharmacist_browser(platform, clock, world)
    before = last_entry_id(platform)
    page = browser.get(f"/pro/patients/{world.record.id}/summary").text
    assert [source for _, source in section(page, "current_medication")] == [world.ids["dispensation"]]
    assert [source for _, source in section(page, "immunisations")] == [world.ids["vaccination"]]
    assert section(page, "imaging") == [] and section(page, "discharge") == []
    for hidden in ("imaging", "discharge"):
        assert str(world.ids[hidden]) not in page
    with platform.sessions() as session:
        (entry,) = session.scalars(select(TraceEntry).where(TraceEntry.record_id == world.record.id,
                                                            TraceEntry.id > before))
    assert str(world.ids["imaging"]) not in entry.context["documents"]


def test_a_document_the_holder_hides_leaves_the_summary(platform: Platform, world: EhdsWorld) -> None:
    with platform.transaction() as session:
        holder = as_holder(session, platform, session.get(Record, world.record.id))
        holder.hide(world.ids["imaging"])
        holder.hide(world.ids["discharge"])
    page = world.gp_browser.get(f"/pro/patients/{world.record.id}/summary").text
    assert section(page, "imaging") == [] and section(page, "discharge") == []
    assert str(world.ids["imaging"]) not in page and str(world.ids["discharge"]) not in page
    assert [source for _, source in section(page, "current_medication")] == [world.ids["dispensation"]]


def test_another_record_s_summary_is_refused_like_an_unknown_one(world: EhdsWorld) -> None:
    unknown = world.gp_browser.get(f"/pro/patients/{uuid.uuid4()}/summary")
    assert unknown.status_code == 404
    for document_id in world.ids.values():  # a document id is not a record id
        response = world.gp_browser.get(f"/pro/patients/{document_id}/summary")
        assert (response.status_code, response.text.replace(str(document_id), "X")) == (
            404, unknown.text.replace(unknown.url.path.split("/")[3], "X"))

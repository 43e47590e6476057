"""The holder restricts a document to the professionals they name, and lifts the restriction (the document's
page in the holder's portal): decided by the policy, traced, and what professionals then see — and the attacks."""

from __future__ import annotations

import uuid

import pytest

from opendsp.access.models import DocumentNamedProfessional
from opendsp.clock import FrozenClock
from opendsp.documents.models import Document
from opendsp.documents.types import ConfidentialityLevel
from opendsp.platform import Platform
from opendsp.policy.decision import AccessDenied
from opendsp.professionals.models import Professional
from opendsp.records.models import Record
from sqlalchemy import select
from tests.accounts.portal import Browser, settings  # noqa: F401 - the cheap-hash settings
from tests.factories import as_holder, as_professional, make_record
from tests.web.holder_world import World, entries, holder, logged_in, world  # noqa: F401 - fixtures
from tests.web.indistinguishable import answer
from tests.web.professional import Pro, professional_with_account


def _readers(document_id: uuid.UUID) -> str:
    return f"/record/documents/{document_id}/readers"


def _state(platform: Platform, document_id: uuid.UUID) -> tuple[str, set[uuid.UUID]]:
    with platform.sessions() as session:
        document = session.get(Document, document_id)
        assert document is not None
        named = set(session.scalars(select(DocumentNamedProfessional.professional_id)
                                    .where(DocumentNamedProfessional.document_id == document_id)))
        return document.confidentiality.value, named


@pytest.fixture
def colleagues(platform: Platform, clock: FrozenClock, world: World) -> tuple[Pro, Pro]:
    """Two doctors of the holder's circle, each with an account: Kieffer (to be named) and Reuter (not)."""
    kieffer = professional_with_account(platform, clock, name="Cabinet Kieffer", family_name="Kieffer")
    reuter = professional_with_account(platform, clock, name="Cabinet Reuter", family_name="Reuter")
    with platform.transaction() as session:
        access = as_holder(session, platform, session.get(Record, world.record_id))
        for pro in (kieffer, reuter):
            access.add_to_circle(world.record_id, pro.id)
    return kieffer, reuter


def _pro_document(pro: Pro, world: World, document_id: uuid.UUID):  # type: ignore[no-untyped-def]
    return pro.browser.get(f"/pro/patients/{world.record_id}/documents/{document_id}")


def test_the_holder_restricts_a_document_to_a_named_professional_and_lifts_it(
    platform: Platform, world: World, holder: Browser, colleagues: tuple[Pro, Pro]
) -> None:
    kieffer, reuter = colleagues
    document = world.document_id  # "Bilan lipidique", by the GP
    assert _pro_document(reuter, world, document).status_code == 200  # before: the circle reads it

    page = holder.get(f"/record/documents/{document}").text
    assert 'id="readers-link"' in page and "Restrict to the professionals I name" in page
    page = holder.get(_readers(document)).text
    assert 'data-level="normal"' in page
    assert "Kieffer" in page and "Reuter" in page and "Weber" in page  # the circle is offered
    assert "Its author, Jo Weber, always reads it." in page

    done = holder.submit(_readers(document), {"level": "restricted", "named": [str(kieffer.id)]},
                         form_page=_readers(document))
    assert done.status_code == 303 and done.headers["location"] == _readers(document) + "?done=restricted"
    page = holder.get(done.headers["location"]).text
    assert "The document is restricted: only the professionals listed read it." in page
    assert 'data-level="restricted"' in page and 'id="named"' in page
    assert _state(platform, document) == ("restricted", {kieffer.id})
    assert 'id="restricted-notice"' in holder.get(f"/record/documents/{document}").text

    # The named professional reads it; the other one is told it does not exist, like an id that is none,
    # and does not find it in the patient view.
    assert _pro_document(kieffer, world, document).status_code == 200
    hidden_from_reuter = _pro_document(reuter, world, document)
    unknown = _pro_document(reuter, world, uuid.uuid4())
    assert hidden_from_reuter.status_code == 404 and answer(hidden_from_reuter) == answer(unknown)
    assert "Bilan lipidique" not in reuter.browser.get(f"/pro/patients/{world.record_id}").text
    assert "Bilan lipidique" in kieffer.browser.get(f"/pro/patients/{world.record_id}").text

    # The trace: one entry for the change, naming the level and the reader, told in the holder's trace.
    changes = [e for e in entries(platform, world.record_id, "access.manage")
               if e.context.get("change") == "document.confidentiality"]
    assert len(changes) == 1 and changes[0].document_id == document and changes[0].basis == "holder"
    assert changes[0].context["level"] == "restricted" and changes[0].context["named"] == [str(kieffer.id)]
    trace = holder.get("/record/trace?kind=choices&who=holder_side").text
    assert "Confidentiality of a document changed" in trace and "restricted to the professionals named" in trace
    assert "Kieffer" in trace.split("Confidentiality of a document changed", 1)[1].split("</tr>", 1)[0]

    # Lifting it: everyone of the circle reads it again.
    done = holder.submit(_readers(document), {"level": "normal"}, form_page=_readers(document))
    assert done.status_code == 303 and done.headers["location"].endswith("?done=normal")
    assert _state(platform, document) == ("normal", set())
    assert _pro_document(reuter, world, document).status_code == 200
    assert "restriction lifted" in holder.get("/record/trace?kind=choices&who=holder_side").text


def test_bad_choices_change_nothing(platform: Platform, world: World, holder: Browser,
                                    colleagues: tuple[Pro, Pro]) -> None:
    kieffer, _ = colleagues
    document = world.document_id
    for data, message in [
        ({"level": "secret"}, "Choose who may read this document."),
        ({}, "Choose who may read this document."),
        ({"level": "restricted", "named": ["not-an-id"]}, "Choose among the professionals offered."),
        ({"level": "restricted", "named": [str(uuid.uuid4())]}, "Choose among the professionals offered."),
        ({"level": "normal", "named": [str(kieffer.id)]}, "Name professionals only to restrict the document"),
    ]:
        response = holder.submit(_readers(document), data, form_page=_readers(document))
        assert response.status_code == 400 and message in response.text, data
    assert _state(platform, document) == ("normal", set())
    assert not [e for e in entries(platform, world.record_id, "access.manage")
                if e.context.get("change") == "document.confidentiality"]


def test_another_holder_s_document_cannot_be_restricted_nor_its_readers_read(
    platform: Platform, clock: FrozenClock, world: World, colleagues: tuple[Pro, Pro]
) -> None:
    kieffer, _ = colleagues
    with platform.transaction() as session:
        other = make_record(session, platform, active=False).holder
    intruder = logged_in(platform, clock, other)
    document = world.document_id
    for path in (_readers(document), _readers(uuid.uuid4())):
        assert intruder.get(path).status_code == 404
    assert answer(intruder.get(_readers(document))) == answer(intruder.get(_readers(uuid.uuid4())))
    forged = intruder.submit(_readers(document), {"level": "restricted", "named": [str(kieffer.id)]},
                             form_page="/record")
    unknown = intruder.submit(_readers(uuid.uuid4()), {"level": "restricted", "named": [str(kieffer.id)]},
                              form_page="/record")
    assert forged.status_code == 404 and answer(forged) == answer(unknown)
    assert "Bilan lipidique" not in forged.text
    assert _state(platform, document) == ("normal", set())
    # A result whose release the author delayed is not the holder's to see yet: not found either.
    holder_browser = logged_in(platform, clock, world.holder)
    assert holder_browser.get(_readers(world.delayed_id)).status_code == 404


def test_a_professional_cannot_change_a_document_s_confidentiality(
    platform: Platform, world: World, colleagues: tuple[Pro, Pro]
) -> None:
    kieffer, _ = colleagues
    document = world.document_id
    # Through the holder's routes: a professional's session is not a person's; nothing changes.
    kieffer.browser.get("/pro")
    response = kieffer.browser.client.post(_readers(document), data={
        "level": "restricted", "named": [str(kieffer.id)], "csrf_token": kieffer.browser.csrf()},
        follow_redirects=False)
    assert response.status_code in (303, 403, 404) and "/record/documents" not in response.headers.get("location", "")
    assert kieffer.browser.get(_readers(document), follow_redirects=False).status_code in (303, 403, 404)
    assert _state(platform, document) == ("normal", set())
    # Through the service: the policy refuses, and the refusal is traced.
    with platform.transaction() as session:
        access = as_professional(session, platform, session.get(Professional, world.gp))  # the author itself
        with pytest.raises(AccessDenied):
            access.set_confidentiality_in(world.record_id, document, ConfidentialityLevel.restricted)
        with pytest.raises(AccessDenied):
            access.document_readers(world.record_id, document)
    refused = [e for e in entries(platform, world.record_id, "access.manage") if e.outcome.value != "permitted"]
    assert refused and refused[-1].context["change"] == "document.confidentiality"
    assert _state(platform, document) == ("normal", set())


def test_a_closed_record_keeps_its_documents_confidentiality(platform: Platform, world: World,
                                                             holder: Browser) -> None:
    with platform.transaction() as session:
        as_holder(session, platform, session.get(Record, world.record_id)).close(world.record_id)
    page = holder.get(_readers(world.document_id)).text
    assert 'id="read-only"' in page and 'id="save-readers"' not in page
    response = holder.submit(_readers(world.document_id), {"level": "restricted"}, form_page="/record")
    assert response.status_code == 403 and _state(platform, world.document_id) == ("normal", set())

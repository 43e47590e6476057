"""The professional after a refusal (issue 16): a blocked record leaves the list, a refusal shows no record menu,
an empty emergency reason keeps both ways of access on the page."""

from __future__ import annotations

import uuid

import pytest

from opendsp.clock import FrozenClock
from opendsp.platform import Platform
from opendsp.professionals.models import OrganisationKind
from tests.factories import as_holder
from tests.web.indistinguishable import answer
from tests.web.professional import professional_with_account, record_with_code


@pytest.mark.parametrize("basis", ["presence_code", "circle", "referring_doctor", "emergency"])
def test_after_a_block_the_list_no_longer_shows_the_patient(platform: Platform, clock: FrozenClock,
                                                             basis: str) -> None:
    pro = professional_with_account(platform, clock) if basis != "emergency" else professional_with_account(
        platform, clock, kind=OrganisationKind.emergency_department, specialties=("emergency_medicine",))
    record, code = record_with_code(platform)
    if basis == "emergency":
        pro.browser.submit(f"/pro/patients/{record.id}/emergency", {"reason": "Unconscious"},
                           form_page=f"/pro/patients/{record.id}")
    if basis == "presence_code":
        pro.browser.submit(f"/pro/patients/{record.id}/presence-code", {"code": code},
                           form_page=f"/pro/patients/{record.id}")
    with platform.transaction() as session:
        holder = as_holder(session, platform, record)
        if basis == "circle":
            holder.add_to_circle(record.id, pro.id)
        if basis == "referring_doctor":
            holder.set_referring_doctor(record.id, pro.id)
    assert str(record.id) in pro.browser.get("/pro").text
    with platform.transaction() as session:
        as_holder(session, platform, record).block(record.id, pro.id)
    listing = pro.browser.get("/pro")
    assert str(record.id) not in listing.text
    refused = pro.browser.get(f"/pro/patients/{record.id}")
    assert refused.status_code == 404  # as for an unknown record: the block is the holder's to know
    assert answer(refused) == answer(pro.browser.get(f"/pro/patients/{uuid.uuid4()}"))
    # No record menu: nothing of the record is shown.
    for link in ("/timeline", "/summary", "/deposit"):
        assert f'/pro/patients/{record.id}{link}"' not in refused.text
    assert 'id="pro-menu-title"' in refused.text  # the portal's own menu stays


def test_an_empty_emergency_reason_keeps_both_forms(platform: Platform, clock: FrozenClock) -> None:
    pro = professional_with_account(platform, clock, kind=OrganisationKind.emergency_department,
                                    specialties=("emergency_medicine",), name="Urgences Sud")
    record, _ = record_with_code(platform)
    page = pro.browser.get(f"/pro/patients/{record.id}")
    assert 'action="/pro/patients/%s/presence-code"' % record.id in page.text
    assert 'action="/pro/patients/%s/emergency"' % record.id in page.text
    response = pro.browser.submit(f"/pro/patients/{record.id}/emergency", {"reason": "  "})
    assert response.status_code == 400
    assert "Give the reason for the emergency access." in response.text
    assert 'action="/pro/patients/%s/presence-code"' % record.id in response.text
    assert 'action="/pro/patients/%s/emergency"' % record.id in response.text

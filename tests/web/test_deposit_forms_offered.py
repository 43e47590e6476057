"""Only the deposit forms the policy would permit are offered (issue 16); another answers its refusal at once."""

from __future__ import annotations

from opendsp.clock import FrozenClock
from opendsp.platform import Platform
from tests.factories import as_holder
from tests.web.professional import professional_with_account, record_with_code, trace


def test_a_form_the_policy_refuses_is_neither_offered_nor_shown(platform: Platform, clock: FrozenClock) -> None:
    gp = professional_with_account(platform, clock)  # general practice: no laboratory results
    record, _ = record_with_code(platform)
    with platform.transaction() as session:
        as_holder(session, platform, record).add_to_circle(record.id, gp.id)  # in the circle, not the referring doctor
    base = f"/pro/patients/{record.id}/deposit"
    page = gp.browser.get(base)
    assert page.status_code == 200
    assert f'href="{base}/summary"' not in page.text
    assert f'href="{base}/laboratory"' not in page.text
    assert 'value="patient_summary"' not in page.text  # nor among the PDF form's types
    assert 'value="consultation_report"' in page.text
    before = trace(platform, record)
    summary = gp.browser.get(f"{base}/summary")
    assert summary.status_code == 403
    assert "referring doctor deposits the patient summary." in summary.text
    assert f'action="{base}/summary"' not in summary.text
    laboratory = gp.browser.get(f"{base}/laboratory")
    assert laboratory.status_code == 403
    assert "Your profession may not deposit this type of document." in laboratory.text
    assert f'action="{base}/laboratory"' not in laboratory.text
    assert trace(platform, record) == before  # a question to the policy, not an act

    with platform.transaction() as session:
        as_holder(session, platform, record).set_referring_doctor(record.id, gp.id)
    assert f'href="{base}/summary"' in gp.browser.get(base).text
    offered = gp.browser.get(f"{base}/summary")
    assert offered.status_code == 200
    assert f'action="{base}/summary"' in offered.text

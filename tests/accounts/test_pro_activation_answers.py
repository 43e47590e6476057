"""A professional's activation tells a stranger nothing either: licence numbers are public.

The same refusal, after the same work, for a licence whose account is active,
one waiting for its code, one closed, and one that names nobody.
"""

from __future__ import annotations

import re

import pytest

from opendsp.accounts import services
from opendsp.accounts.models import AccountState
from opendsp.actors import SYSTEM
from opendsp.clock import FrozenClock
from opendsp.platform import Platform
from tests.accounts.portal import Browser
from tests.accounts.test_login_guard import CountingHasher, professional  # noqa: F401 - the fixture
from tests.factories import make_organisation, make_professional


def waiting_licence(platform: Platform, *, closed: bool = False) -> str:
    with platform.transaction() as session:
        pro = make_professional(session, platform, organisation=make_organisation(session, platform))
        account = services.account_of_professional(session=session, platform=platform, professional=pro)
        services.issue_activation_code(session=session, platform=platform, account=account, actor=SYSTEM)
        if closed:
            account.state = AccountState.closed
        return pro.licence_number


def test_pro_activation_does_not_tell_whether_a_licence_is_active(
    platform: Platform, clock: FrozenClock, professional, monkeypatch: pytest.MonkeyPatch  # type: ignore[no-untyped-def]
) -> None:
    cases = [("active", professional.identifier), ("waiting", waiting_licence(platform)),
             ("closed", waiting_licence(platform, closed=True)), ("unknown", "LIC-NOBODY-77")]
    counter = CountingHasher(monkeypatch)
    answers = {}
    for case, licence in cases:
        counter.calls = 0
        browser = Browser(platform, address="192.0.2.79")
        response = browser.submit("/pro/activate", {"identifier": licence, "code": "AAAA-BBBB-CCCC"},
                                  form_page="/pro/activate")
        error = re.search(r'id="form-error"><p>(.*?)</p>', browser.page)
        answers[case] = (response.status_code, error.group(1) if error else None, counter.calls)
    assert len(set(answers.values())) == 1, answers
    assert "already" not in str(answers) and next(iter(answers.values()))[0] == 400

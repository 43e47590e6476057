"""`make run`'s stand-in for MyGuichet.lu in a real browser: the login page's button, the stand-in's form, and back
on the holder's record, logged in (the stand-in started as the Makefile starts it)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from opendsp.clock import FrozenClock
from opendsp.demo.load import DEMO_PASSWORD
from opendsp.platform import Platform
from opendsp.settings import Settings
from tests.accounts.test_myguichet_standin import clock, demo_holder, running_standin, standin_settings  # noqa: F401
from tests.browser import Screens, chromium, screens  # noqa: F401
from tests.live import serve


@pytest.fixture
def bound() -> Iterator[socket.socket]:
    """The server's socket, bound first: the stand-in must know the callback address before it starts."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    yield sock
    sock.close()


@pytest.fixture
def identities(tmp_path: Path) -> Path:
    return tmp_path / "identities.json"


@pytest.fixture
def settings(tmp_path: Path, database_url: str, bound: socket.socket, identities: Path) -> Iterator[Settings]:
    base_url = f"http://127.0.0.1:{bound.getsockname()[1]}"
    with running_standin(identities, base_url) as variables:
        yield standin_settings(tmp_path, database_url, variables, base_url)


@pytest.fixture
def live(platform: Platform, bound: socket.socket) -> Iterator[tuple[str, Platform]]:
    with serve(platform, sock=bound) as served:
        yield served


def test_a_demo_holder_logs_in_with_the_standin_in_a_browser(
    platform: Platform, clock: FrozenClock, identities: Path, screens: Screens  # noqa: F811
) -> None:
    person = demo_holder(platform, clock, identities)
    page: Any = screens.page
    screens.visit("/login", "login with the State's portal")
    page.locator("a[href='/login/federated']").click()
    page.locator("#login").wait_for()  # the stand-in's form (not ours: not checked by axe)
    page.locator("#login").fill(person.national_number)
    page.locator("#password").fill(DEMO_PASSWORD)
    page.locator("button[type=submit]").click()
    page.wait_for_url(f"{screens.base_url}/record")
    screens.seen("the record, logged in through the stand-in")
    assert person.given_name in page.locator("header").inner_text()

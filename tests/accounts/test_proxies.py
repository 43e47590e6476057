"""X-Forwarded-For is believed only from configured proxies; the server itself believes nobody's."""

from __future__ import annotations

import re
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn

from opendsp.platform import Platform
from opendsp.settings import Settings
from opendsp.web.app import create_app
from opendsp.web.proxies import SERVER_OPTIONS, forwarded_client, trusted_networks
from tests.accounts.portal import Browser

PROXIES = trusted_networks("10.0.0.0/8, 2001:db8::1")


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("203.0.113.9", ["198.51.100.1"], "203.0.113.9"),  # not a proxy of ours: its header is its own claim
        ("127.0.0.1", ["198.51.100.1"], "127.0.0.1"),  # loopback is not trusted unless configured
        ("10.1.2.3", ["198.51.100.1"], "198.51.100.1"),  # our proxy says who it served
        ("10.1.2.3", ["6.6.6.6, 198.51.100.1"], "198.51.100.1"),  # what the client wrote in front is ignored
        ("10.1.2.3", ["198.51.100.1, 10.9.9.9"], "198.51.100.1"),  # two of our proxies in a row
        ("10.1.2.3", ["6.6.6.6", "198.51.100.1"], "198.51.100.1"),  # the header repeated
        ("10.1.2.3", ["not-an-address"], "10.1.2.3"),  # garbage: the proxy itself is as far as we see
        ("10.1.2.3", [], "10.1.2.3"),
        ("2001:db8::1", ["2001:db8:aaaa::5"], "2001:db8:aaaa::5"),
    ],
)
def test_the_client_is_the_first_address_that_is_not_a_trusted_proxy(peer: str, forwarded: list[str], client: str) -> None:
    assert forwarded_client(peer, forwarded, PROXIES) == client


def test_no_proxy_is_trusted_by_default() -> None:
    assert Settings().trusted_proxies == ""
    assert forwarded_client("127.0.0.1", ["198.51.100.1"], trusted_networks("")) == "127.0.0.1"
    with pytest.raises(ValueError, match="not an address"):
        trusted_networks("10.0.0.0/8, proxy.example")


def attempts(browser: Browser, count: int, forwarded: list[str] | None = None) -> list[int]:
    statuses = []
    for n in range(count):
        headers = {"X-Forwarded-For": forwarded[n]} if forwarded else {}
        browser.get("/login")
        statuses.append(browser.client.post("/login", data={"identifier": f"LIC-{n}", "password": "x" * 12,
                                                             "csrf_token": browser.csrf()}, headers=headers).status_code)
    return statuses


def test_a_forged_header_from_an_untrusted_address_does_not_escape_the_rate_limit(platform: Platform) -> None:
    limit = platform.settings.rate_limit_attempts
    forged = [f"198.51.100.{n}" for n in range(limit + 1)]
    statuses = attempts(Browser(platform, address="203.0.113.9"), limit + 1, forged)
    assert statuses[-1] == 429


def test_behind_a_configured_proxy_each_client_has_its_own_limit(platform: Platform) -> None:
    platform.settings.trusted_proxies = "10.0.0.0/8"
    limit = platform.settings.rate_limit_attempts
    proxy = Browser(platform, address="10.0.0.2")
    assert 429 not in attempts(proxy, limit + 1, [f"198.51.100.{n}" for n in range(limit + 1)])
    assert attempts(proxy, limit + 1, ["198.51.100.250"] * (limit + 1))[-1] == 429


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_real_server_on_loopback_believes_no_forwarded_header(platform: Platform, tmp_path: Path) -> None:
    """uvicorn's own default believes X-Forwarded-For from 127.0.0.1; `opendsp serve` runs it with SERVER_OPTIONS."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(platform=platform), host="127.0.0.1", port=port,
                                           log_level="warning", **SERVER_OPTIONS))  # type: ignore[arg-type]
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        limit = platform.settings.rate_limit_attempts
        statuses = []
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Origin": f"http://127.0.0.1:{port}"}) as web:
            for n in range(limit + 1):
                token = re.search(r'name="csrf_token" value="([^"]+)"', web.get("/login").text)
                assert token
                statuses.append(web.post("/login", data={"identifier": f"LIC-{n}", "password": "x" * 12,
                                                         "csrf_token": token.group(1)},
                                         headers={"X-Forwarded-For": f"198.51.100.{n}"}).status_code)
        assert statuses[-1] == 429, statuses
    finally:
        server.should_exit = True
        thread.join(20)

"""The demo's published logins work: a holder, a professional and the agency's staff log in."""

from __future__ import annotations

import json
from pathlib import Path

from opendsp.clock import FrozenClock
from opendsp.demo.load import load_demo
from opendsp.platform import Platform
from tests.accounts.portal import Browser, Credentials, login, settings  # noqa: F401  (the cheap-hash settings)


def test_demo_identities_log_in(platform: Platform, clock: FrozenClock, tmp_path: Path) -> None:
    identities = tmp_path / "identities.json"
    # The command's progress bar hears of every step from the start, and the steps counted fill the bar.
    stages: list[tuple[str, int | None]] = []
    counted: list[int] = []
    assert load_demo(platform, seed=20260101, identities_path=identities, progress=counted.append,
                     stage=lambda description, total: stages.append((description, total))) is not None
    assert [description for description, _ in stages] == [
        "drawing the demo documents", "writing the demo records", "registering the demo software and logins"]
    assert stages[1][1] == sum(counted) > 0
    data = json.loads(identities.read_text())
    password = data["password"]
    holder = next(p for p in data["persons"] if p["record_state"] == "active")
    professional = data["professionals"][0]
    staff = data["staff"][0]
    assert holder["presence_code"] and len(data["fhir_clients"]) == 2
    apps = {app["users"]: app for app in data["smart_apps"]}
    assert apps["professionals"]["organisation"] in [o["identifier"] for o in professional_orgs(data)]
    assert apps["persons"]["organisation"] is None and all(app["public"] for app in apps.values())
    for key in (Path(client["private_key_file"]) for client in data["fhir_clients"]):
        assert key.exists() and oct(key.stat().st_mode)[-3:] == "600"

    assert login(Browser(platform), clock, Credentials(holder["national_number"], password, holder["totp_secret"], [])) \
        .status_code == 303
    assert login(Browser(platform), clock,
                 Credentials(professional["licence_number"], password, professional["totp_secret"], [])).status_code == 303
    assert login(Browser(platform), clock, Credentials(staff["login"], password, staff["totp_secret"], []),
                 realm="/console").status_code == 303


def professional_orgs(data: dict) -> list[dict]:  # type: ignore[type-arg]
    """The organisations of the first professional: the demo's SMART app for professionals is one of theirs."""
    return data["professionals"][0]["organisations"]  # type: ignore[no-any-return]

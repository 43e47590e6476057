"""SMART Backend Services tokens: what is refused at the token endpoint, and registration."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from joserfc.jwk import ECKey
from sqlalchemy import select

from opendsp.actors import SYSTEM
from opendsp.cli import main
from opendsp.clients.models import Client
from opendsp.clients.services import (
    ClientRegistrationRefused,
    make_client_assertion,
    register_client,
    register_demo_clients,
)
from opendsp.platform import Platform
from opendsp.settings import Settings
from opendsp.trace.models import TraceEntry
from tests.fhir.conftest import TOKEN_URL, Fhir, World

FORM = {"grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "scope": "system/DocumentReference.rs"}


def ask(fhir: Fhir, assertion: str, **changes: str):  # type: ignore[no-untyped-def]
    return fhir.http.post("/auth/token", data={**FORM, "client_assertion": assertion, **changes})


def test_a_token_is_issued_bound_and_traced(platform: Platform, world: World, fhir: Fhir) -> None:
    response = fhir.token_response(world.software["hospital"], world.gp, "system/DocumentReference.rs system/Binary.r")
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 300
    assert body["scope"] == "system/DocumentReference.rs system/Binary.r"
    assert response.headers["cache-control"] == "no-store"
    with platform.sessions() as session:
        issued = session.scalars(select(TraceEntry).where(TraceEntry.action == "token.issue")).all()
    assert issued[-1].actor_id == str(world.gp.id) and "Hospital HIS" in (issued[-1].client_software or "")


def test_what_the_token_endpoint_refuses(platform: Platform, world: World, fhir: Fhir) -> None:
    software, now = world.software["hospital"], platform.clock.now()

    def assertion(**kwargs):  # type: ignore[no-untyped-def]
        values = {"private_jwk": software.key, "client_id": software.client_id, "token_url": TOKEN_URL,
                  "licence_number": world.gp.licence_number, "now": now, "jti": uuid.uuid4().hex}
        return make_client_assertion(**{**values, **kwargs})

    def error(response) -> str:  # type: ignore[no-untyped-def]
        return response.json()["error"]

    stranger = ECKey.generate_key("P-384", private=True, auto_kid=True).as_dict(private=True)
    assert error(ask(fhir, assertion(private_jwk={**stranger, "kid": software.key["kid"]}))) == "invalid_client"
    assert error(ask(fhir, assertion(client_id="nobody"))) == "invalid_client"
    assert error(ask(fhir, assertion(token_url="https://elsewhere/token"))) == "invalid_client"
    assert error(ask(fhir, assertion(now=now - timedelta(minutes=10)))) == "invalid_client"
    assert error(ask(fhir, assertion(lifetime=timedelta(hours=1)))) == "invalid_client"
    replayed = assertion(jti="once")
    assert ask(fhir, replayed).status_code == 200
    refused = ask(fhir, replayed)
    assert refused.status_code == 401 and "replayed" in refused.json()["error_description"]
    assert error(ask(fhir, assertion(licence_number=world.biologist.licence_number))) == "invalid_grant"
    assert error(ask(fhir, assertion(purpose_of_use="HMARKT"))) == "invalid_grant"
    assert error(ask(fhir, assertion(purpose_of_use="ETREAT"))) == "invalid_grant"
    assert error(ask(fhir, assertion(), scope="patient/*.read")) == "invalid_scope"
    assert error(ask(fhir, assertion(), grant_type="password")) == "unsupported_grant_type"
    assert fhir.http.post("/auth/token", json={}).status_code == 400


def test_registration_refuses_private_or_unusable_keys(platform: Platform, world: World) -> None:
    private = ECKey.generate_key("P-384", private=True, auto_kid=True).as_dict(private=True)
    with platform.transaction() as session:
        for jwks in ({"keys": [private]}, {"keys": []}, {"keys": [{"kty": "oct", "k": "x", "kid": "1"}]}, []):
            with pytest.raises(ClientRegistrationRefused):
                register_client(session=session, platform=platform, actor=SYSTEM, name="x",
                                organisation_identifier=world.hospital.identifier, jwks=jwks)
        with pytest.raises(ClientRegistrationRefused):
            register_client(session=session, platform=platform, actor=SYSTEM, name="x",
                            organisation_identifier="NOPE", jwks={"keys": []})


def test_clients_add_prints_the_client_id(platform: Platform, world: World, settings: Settings,
                                          tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    public = ECKey.generate_key("P-384", private=False, auto_kid=True).as_dict(private=False)
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [public]}))
    monkeypatch.setenv("OPENDSP_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("OPENDSP_VAR_DIR", str(settings.var_dir))
    runner = CliRunner()
    result = runner.invoke(main, ["clients", "add", "--name", "Cabinet soft", "--organisation",
                                  world.hospital.identifier, "--jwks", str(jwks)])
    assert result.exit_code == 0, result.output
    client_id = result.output.strip()
    with platform.sessions() as session:
        assert session.scalars(select(Client.name).where(Client.client_id == client_id)).one() == "Cabinet soft"
    bad = runner.invoke(main, ["clients", "add", "--name", "x", "--organisation", "NOPE", "--jwks", str(jwks)])
    assert bad.exit_code == 2 and "NOPE" in bad.output


def test_demo_clients_get_key_files_that_work(platform: Platform, world: World, fhir: Fhir, tmp_path: Path) -> None:
    with platform.transaction() as session:
        entries = register_demo_clients(
            session=session, platform=platform, actor=SYSTEM, keys_dir=tmp_path / "keys",
            organisations={world.hospital.identifier: "Demo hospital HIS", world.lab.identifier: "Demo LIS"},
        )
    assert [e["name"] for e in entries] == ["Demo hospital HIS", "Demo LIS"]
    key_file = Path(entries[1]["private_key_file"])
    assert key_file.stat().st_mode & 0o077 == 0
    assertion = make_client_assertion(private_jwk=json.loads(key_file.read_text()), client_id=entries[1]["client_id"],
                                      token_url=TOKEN_URL, licence_number=world.biologist.licence_number,
                                      now=platform.clock.now())
    assert ask(fhir, assertion).status_code == 200

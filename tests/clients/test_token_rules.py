"""What a client assertion may claim: its times, its scopes, its purpose, the professional it names."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from joserfc.jwk import ECKey
from sqlalchemy import select

from opendsp.accounts import services as accounts
from opendsp.accounts.models import AccountState
from opendsp.actors import SYSTEM
from opendsp.cli import main
from opendsp.clients.models import Client
from opendsp.clients.services import ClientRegistrationRefused, make_client_assertion, register_client
from opendsp.platform import Platform
from opendsp.professionals.models import Professional
from opendsp.settings import Settings
from tests.fhir.conftest import TOKEN_URL, Fhir, Software, World, provide_bundle

FORM = {"grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}


def ask(fhir: Fhir, software: Software, professional: Professional, scope: str = "system/DocumentReference.rs",
        **kwargs: Any):  # type: ignore[no-untyped-def]
    assertion = make_client_assertion(private_jwk=software.key, client_id=software.client_id, token_url=TOKEN_URL,
                                      licence_number=professional.licence_number, now=fhir.platform.clock.now(),
                                      jti=uuid.uuid4().hex, **kwargs)
    return fhir.http.post("/auth/token", data={**FORM, "client_assertion": assertion, "scope": scope})


def registered(platform: Platform, world: World, *, scopes: str | None = None,
               professionals: list[str] | None = None, organisation: Any = None) -> Software:
    key = ECKey.generate_key("P-384", private=True, auto_kid=True)
    organisation = organisation or world.hospital
    with platform.transaction() as session:
        client = register_client(session=session, platform=platform, actor=SYSTEM, name="Narrow HIS",
                                 organisation_identifier=organisation.identifier,
                                 jwks={"keys": [{**key.as_dict(private=False), "alg": "ES384"}]},
                                 scopes=scopes, professionals=professionals)
        client_id = client.client_id
    return Software(client_id=client_id, key=key.as_dict(private=True), organisation=organisation)


@pytest.mark.parametrize(("claim", "offset", "accepted"), [
    ("nbf", timedelta(minutes=2), False),
    ("iat", timedelta(minutes=2), False),
    ("nbf", timedelta(seconds=10), True),  # within the clock skew
    ("iat", -timedelta(seconds=30), True),
])
def test_nbf_and_iat_in_the_future_are_refused(platform: Platform, world: World, fhir: Fhir, claim: str,
                                               offset: timedelta, accepted: bool) -> None:
    when = int((platform.clock.now() + offset).timestamp())
    response = ask(fhir, world.software["hospital"], world.gp, extra_claims={claim: when})
    if accepted:
        assert response.status_code == 200, response.text
    else:
        assert response.status_code == 401 and response.json()["error"] == "invalid_client"


@pytest.mark.parametrize("claims", [{"exp": 1e300}, {"exp": "soon"}, {"nbf": float("inf")}, {"iat": True},
                                    {"nbf": -1e300}])
def test_times_that_are_not_times_are_refused_not_a_500(platform: Platform, world: World, fhir: Fhir,
                                                        claims: dict[str, Any]) -> None:
    response = ask(fhir, world.software["hospital"], world.gp, extra_claims=claims)
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_a_client_is_granted_only_its_registered_scopes(platform: Platform, world: World, fhir: Fhir) -> None:
    narrow = registered(platform, world, scopes="system/DocumentReference.rs system/Binary.r")
    everything = ask(fhir, narrow, world.gp, "system/*.cruds")
    assert everything.status_code == 200
    assert everything.json()["scope"] == "system/DocumentReference.rs system/Binary.r"
    token = everything.json()["access_token"]
    create = fhir.post("/fhir/", token, provide_bundle(world.person_id))
    assert create.status_code == 403  # the token says read and search only
    outside = ask(fhir, narrow, world.gp, "system/Encounter.cu")
    assert outside.status_code == 400 and outside.json()["error"] == "invalid_scope"


def test_software_registered_without_scopes_gets_the_default_not_everything(platform: Platform, world: World,
                                                                            fhir: Fhir) -> None:
    granted = ask(fhir, world.software["hospital"], world.gp, "system/*.cruds").json()["scope"]
    assert granted == "system/*.rs system/DocumentReference.cu system/Encounter.cu"
    assert ask(fhir, world.software["hospital"], world.gp, "system/AuditEvent.d").status_code == 400


def test_emergency_purpose_only_for_an_emergency_department_s_software(platform: Platform, world: World,
                                                                       fhir: Fhir) -> None:
    hospital = ask(fhir, world.software["hospital"], world.gp, purpose_of_use="ETREAT", reason="urgence")
    assert hospital.status_code == 400 and hospital.json()["error"] == "invalid_grant"
    emergency = ask(fhir, world.software["emergency"], world.emergency_doctor, purpose_of_use="ETREAT",
                    reason="urgence")
    assert emergency.status_code == 200, emergency.text


def test_a_client_names_only_the_professionals_it_may_act_for(platform: Platform, world: World,
                                                             fhir: Fhir) -> None:
    only_gp = registered(platform, world, professionals=[world.gp.licence_number])
    assert ask(fhir, only_gp, world.gp).status_code == 200
    other = ask(fhir, only_gp, world.outsider)  # same organisation, not registered for this client
    assert other.status_code == 400 and other.json()["error_description"] == \
        "this client may not act for the professional named"
    stranger = ask(fhir, only_gp, world.biologist)  # another organisation: the very same answer
    assert stranger.json()["error_description"] == other.json()["error_description"]
    with platform.transaction() as session:  # the agency closes the GP's account: no software may name them
        account = accounts.account_of_professional(session=session, platform=platform,
                                                   professional=session.merge(world.gp))
        account.state = AccountState.closed
    assert ask(fhir, world.software["hospital"], world.gp).status_code == 400
    with platform.transaction() as session, pytest.raises(ClientRegistrationRefused):
        register_client(session=session, platform=platform, actor=SYSTEM, name="x",
                        organisation_identifier=world.hospital.identifier,
                        jwks={"keys": [{**ECKey.generate_key("P-384", auto_kid=True).as_dict(private=False)}]},
                        professionals=[world.biologist.licence_number])


def test_error_texts_do_not_echo_the_jose_library(platform: Platform, world: World, fhir: Fhir) -> None:
    software = world.software["hospital"]
    good = make_client_assertion(private_jwk=software.key, client_id=software.client_id, token_url=TOKEN_URL,
                                 licence_number=world.gp.licence_number, now=platform.clock.now())
    header, payload, signature = good.split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    stranger = ECKey.generate_key("P-384", private=True, auto_kid=True).as_dict(private=True)
    other_key = make_client_assertion(private_jwk={**stranger, "kid": software.key["kid"]},
                                      client_id=software.client_id, token_url=TOKEN_URL,
                                      licence_number=world.gp.licence_number, now=platform.clock.now())
    answers = set()
    for assertion in (forged, other_key):
        response = fhir.http.post("/auth/token", data={**FORM, "client_assertion": assertion,
                                                       "scope": "system/DocumentReference.rs"})
        assert response.status_code == 401
        answers.add(response.json()["error_description"])
    assert answers == {"the client assertion's signature does not verify"}


def test_clients_add_takes_scopes_and_professionals(platform: Platform, world: World, settings: Settings,
                                                    tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    public = ECKey.generate_key("P-384", private=False, auto_kid=True).as_dict(private=False)
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [public]}))
    monkeypatch.setenv("OPENDSP_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("OPENDSP_VAR_DIR", str(settings.var_dir))
    runner = CliRunner()
    result = runner.invoke(main, ["clients", "add", "--name", "Labo soft", "--organisation", world.lab.identifier,
                                  "--jwks", str(jwks), "--scopes", "system/DocumentReference.c",
                                  "--professional", world.biologist.licence_number])
    assert result.exit_code == 0, result.output
    with platform.sessions() as session:
        client = session.scalars(select(Client).where(Client.client_id == result.output.strip())).one()
        assert client.allowed_scopes == "system/DocumentReference.c"
        assert client.professionals == [world.biologist.licence_number]
    bad = runner.invoke(main, ["clients", "add", "--name", "x", "--organisation", world.lab.identifier,
                               "--jwks", str(jwks), "--scopes", "system/*.everything"])
    assert bad.exit_code == 2 and "system/*.everything" in bad.output


def test_a_nul_in_a_client_id_is_a_4xx_without_the_database_s_words(platform: Platform, world: World,
                                                                    fhir: Fhir) -> None:
    import base64

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    claims = {"iss": "client\u0000id", "sub": "x"}
    assertion = f"{part({'alg': 'ES384', 'kid': 'k'})}.{part(claims)}.c2ln"
    response = fhir.http.post("/auth/token", data={**FORM, "client_assertion": assertion,
                                                   "scope": "system/DocumentReference.rs"})
    assert response.status_code in (400, 401), response.text  # PostgreSQL refuses the NUL, SQLite finds no client
    assert "SQL" not in response.text and "psycopg" not in response.text
    assert ask(fhir, world.software["hospital"], world.gp).status_code == 200


def test_every_resource_type_the_capability_statement_serves_may_be_named_in_a_scope() -> None:
    from opendsp.clients.services import parse_scopes
    from opendsp.fhir.capability import capability_statement

    statement = capability_statement("http://127.0.0.1:8000/fhir", "2026-01-01")
    served = sorted({r["type"] for rest in statement["rest"] for r in rest["resource"]})
    assert "ImagingStudy" in served and "Procedure" in served
    for kind in served:
        assert [scope.resource for scope in parse_scopes(f"system/{kind}.rs")] == [kind]

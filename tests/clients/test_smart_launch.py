"""SMART App Launch, standalone, over HTTP: a professional or a person logs in on the portal, approves the app,
and the app exchanges the code (PKCE S256) for a token the FHIR API takes like any other; and what is refused."""

from __future__ import annotations

import re
import secrets
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from joserfc.jwk import ECKey
from sqlalchemy import func, select

from opendsp.accounts import services as accounts
from opendsp.actors import SYSTEM
from opendsp.clients.models import AuthorizationCode, ClientUsers
from opendsp.clients.services import make_client_assertion, register_client, s256
from opendsp.clock import FrozenClock
from opendsp.persons.models import Person
from opendsp.platform import Platform
from opendsp.professionals.models import Organisation, Professional
from opendsp.trace.models import TraceEntry
from opendsp.settings import Settings
from tests.accounts.portal import Browser, Credentials, activate, letter_for
from tests.factories import as_holder, make_record
from tests.fhir.conftest import Fhir, World, valid
from tests.fhir.test_mhd import deposit
from tests.live import serve

FHIR_BASE = "http://127.0.0.1:8000/fhir"  # the default public address: backend assertions name its token URL
REDIRECT = "http://127.0.0.1:8765/callback"
PRO_SCOPE = "user/DocumentReference.rs user/Binary.r user/DocumentReference.c"
PERSON_SCOPE = "launch/patient patient/AuditEvent.rs patient/Consent.rs"


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(var_dir=tmp_path / "var", database_url=database_url, password_hash_profile="fast")


def register_app(platform: Platform, *, organisation: Organisation | None, users: ClientUsers = ClientUsers.professionals,
                 jwks: dict[str, Any] | None = None, name: str = "Agenda SMART") -> str:
    with platform.transaction() as session:
        return register_client(session=session, platform=platform, actor=SYSTEM, name=name, jwks=jwks,
                               organisation_identifier=organisation.identifier if organisation else None,
                               redirect_uris=[REDIRECT], users=users).client_id


def professional_credentials(platform: Platform, clock: FrozenClock, professional: Professional) -> Credentials:
    with platform.transaction() as session:
        account = accounts.account_of_professional(session=session, platform=platform,
                                                   professional=session.get(Professional, professional.id))
        code = accounts.issue_activation_code(session=session, platform=platform, account=account, actor=SYSTEM)
    return activate(Browser(platform), clock, professional.licence_number, code, realm="/pro")


def person_browser(platform: Platform, clock: FrozenClock, person: Person) -> Browser:
    browser = Browser(platform)
    browser.credentials = activate(  # type: ignore[attr-defined]
        browser, clock, person.national_number, letter_for(platform, person).activation)
    return browser


def log_in_at(browser: Browser, clock: FrozenClock, credentials: Credentials, login_url: str) -> str:
    """The portal's login reached from an authorization request: password, code, then back (the location)."""
    from opendsp.accounts import totp

    assert browser.get(login_url).status_code == 200
    response = browser.submit("/login", {"identifier": credentials.identifier, "password": credentials.password})
    assert response.status_code == 303, browser.page
    browser.get(response.headers["location"])
    clock.advance(timedelta(seconds=30))
    response = browser.submit("/login/code", {"code": totp.code_at(credentials.secret, clock.now())})
    assert response.status_code == 303, browser.page
    return response.headers["location"]


class App:
    """What a SMART app does: PKCE, the authorization request, reading the redirect, the token request."""

    def __init__(self, client_id: str, scope: str = PRO_SCOPE, *, aud: str = FHIR_BASE, **extra: str) -> None:
        self.client_id = client_id
        self.verifier = secrets.token_urlsafe(48)
        self.state = secrets.token_urlsafe(12)
        self.params = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT, "scope": scope,
                       "state": self.state, "aud": aud, "code_challenge": s256(self.verifier),
                       "code_challenge_method": "S256", **extra}

    @property
    def url(self) -> str:
        return "/auth/authorize?" + urlencode(self.params)

    def callback(self, location: str) -> dict[str, str]:
        assert location.startswith(REDIRECT + "?"), location
        answer = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        assert answer["state"] == self.state
        return answer

    def exchange(self, http: Any, code: str, **changes: str) -> Any:
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                "code_verifier": self.verifier, "client_id": self.client_id, **changes}
        return http.post("/auth/token", data={k: v for k, v in form.items() if v is not None})


def approve(browser: Browser, app: App, decision: str = "allow") -> dict[str, str]:
    page = browser.get(app.url)
    assert page.status_code == 200, page.text
    fields = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">', browser.page))
    fields.pop("csrf_token")
    response = browser.submit("/auth/authorize", {**{k: v.replace("&amp;", "&") for k, v in fields.items()},
                                                  "decision": decision})
    assert response.status_code == 303, browser.page
    return app.callback(response.headers["location"])


def trace(platform: Platform, action: str) -> list[TraceEntry]:
    with platform.sessions() as session:
        return list(session.scalars(select(TraceEntry).where(TraceEntry.action == action).order_by(TraceEntry.id)))


def test_a_professional_approves_an_app_that_then_works_like_backend_software(
    platform: Platform, clock: FrozenClock, world: World, fhir: Fhir
) -> None:
    lab = fhir.token(world.software["lab"], world.biologist, "system/DocumentReference.c")
    deposit(fhir, world, lab)
    client_id = register_app(platform, organisation=world.hospital)
    credentials = professional_credentials(platform, clock, world.gp)
    browser, app = Browser(platform), App(client_id)

    response = browser.get(app.url)
    assert response.status_code == 303 and response.headers["location"].startswith("/login?next=")
    assert log_in_at(browser, clock, credentials, response.headers["location"]) == app.url
    page = browser.get(app.url).text
    assert "Agenda SMART" in page and "Hôpital Demo" in page and "user/DocumentReference.rs" in page
    answer = approve(browser, app)
    assert answer["iss"] == FHIR_BASE

    issued = app.exchange(fhir.http, answer["code"])
    assert issued.status_code == 200, issued.text
    body = issued.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 300 and body["scope"] == PRO_SCOPE
    assert "patient" not in body and issued.headers["cache-control"] == "no-store"

    found = fhir.get(f"/fhir/DocumentReference?patient=Patient/{world.person_id}", body["access_token"])
    backend = fhir.get(f"/fhir/DocumentReference?patient=Patient/{world.person_id}",
                       fhir.token(world.software["hospital"], world.gp, "system/DocumentReference.s"))
    assert found.status_code == backend.status_code == 200
    assert valid(found.json())["total"] == valid(backend.json())["total"] == 1
    outsider = fhir.get(f"/fhir/Binary/{found.json()['entry'][0]['resource']['id']}", body["access_token"])
    assert outsider.status_code == 200  # user/Binary.r, decided for the professional in the circle
    assert fhir.get(f"/fhir/Patient?identifier=urn:oid:1.3.182.4.4|{world.national_number}",
                    body["access_token"]).status_code == 403  # no Patient scope granted

    (approval,) = trace(platform, "app.authorize")
    assert approval.actor_id == str(world.gp.id) and approval.outcome == "permitted"
    assert approval.context["scope"] == PRO_SCOPE and "Agenda SMART" in (approval.client_software or "")
    listed = [e for e in trace(platform, "documents.list") if e.record_id == world.record.id]
    assert listed[0].actor_id == str(world.gp.id) and (listed[0].client_software or "").startswith("Agenda SMART")
    assert listed[0].basis == "circle"
    with platform.sessions() as session:
        stored = session.scalars(select(AuthorizationCode)).one()
        assert stored.code_hash != answer["code"] and answer["code"] not in stored.code_hash


def test_what_the_authorization_code_flow_refuses(platform: Platform, clock: FrozenClock, world: World,
                                                  fhir: Fhir) -> None:
    client_id = register_app(platform, organisation=world.hospital)
    other_app = register_app(platform, organisation=world.hospital, name="Another app")
    credentials = professional_credentials(platform, clock, world.gp)
    browser = Browser(platform)
    log_in_at(browser, clock, credentials, "/login")

    def error(response: Any) -> str:
        assert response.headers["cache-control"] == "no-store"
        return str(response.json()["error"])

    # Wrong verifier: refused, and the code is spent.
    app = App(client_id)
    code = approve(browser, app)["code"]
    assert error(app.exchange(fhir.http, code, code_verifier=secrets.token_urlsafe(48))) == "invalid_grant"
    assert error(app.exchange(fhir.http, code)) == "invalid_grant"

    # Replayed code: the second exchange is refused and the token of the first stops working.
    app = App(client_id)
    code = approve(browser, app)["code"]
    token = app.exchange(fhir.http, code).json()["access_token"]
    assert fhir.get(f"/fhir/DocumentReference?patient={world.person_id}", token).status_code == 200
    replay = app.exchange(fhir.http, code)
    assert replay.status_code == 400 and "already used" in replay.json()["error_description"]
    revoked = fhir.get(f"/fhir/DocumentReference?patient={world.person_id}", token)
    assert revoked.status_code == 401 and "revoked" in valid(revoked.json())["issue"][0]["diagnostics"]
    assert trace(platform, "token.code_replayed")[-1].outcome == "refused"

    # Another redirect_uri at the token endpoint, another client redeeming the code, an expired code.
    app = App(client_id)
    code = approve(browser, app)["code"]
    assert error(app.exchange(fhir.http, code, redirect_uri="http://127.0.0.1:9999/callback")) == "invalid_grant"
    app = App(client_id)
    code = approve(browser, app)["code"]
    stolen = app.exchange(fhir.http, code, client_id=other_app)
    assert error(stolen) == "invalid_grant" and "another client" in stolen.json()["error_description"]
    app = App(client_id)
    code = approve(browser, app)["code"]
    clock.advance(timedelta(seconds=61))
    assert "expired" in app.exchange(fhir.http, code).json()["error_description"]
    assert error(app.exchange(fhir.http, "not-a-code")) == "invalid_grant"
    assert error(fhir.http.post("/auth/token", data={"grant_type": "authorization_code", "code": "x",
                                                     "client_id": "nobody", "redirect_uri": REDIRECT})) \
        == "invalid_grant"

    # Errors sent back to the app (with its state) at the authorization endpoint.
    for wrong, expected in (({"aud": "https://elsewhere.example/fhir"}, "invalid_request"),
                            ({"code_challenge_method": "plain"}, "invalid_request"),
                            ({"scope": "system/*.cruds"}, "invalid_scope"),
                            ({"scope": "user/DocumentReference.rs launch/patient"}, "invalid_scope"),
                            ({"response_type": "token"}, "unsupported_response_type")):
        app = App(client_id)
        app.params.update(wrong)
        response = browser.get(app.url)
        assert response.status_code == 303, wrong
        assert app.callback(response.headers["location"])["error"] == expected, wrong

    # A client or redirect URI that is not registered: shown to the person, never redirected.
    for wrong in ({"redirect_uri": "https://attacker.example/cb"}, {"client_id": "nobody"}):
        app = App(client_id)
        app.params.update(wrong)
        response = browser.get(app.url)
        assert response.status_code == 400 and "location" not in response.headers
        assert "Nothing was shared" in response.text

    # The confirmation form needs its CSRF token; without it nothing is granted.
    app = App(client_id)
    browser.get(app.url)
    with platform.sessions() as session:
        before = session.scalar(select(func.count()).select_from(AuthorizationCode))
    forged = browser.client.post("/auth/authorize", data={**app.params, "decision": "allow"})
    assert forged.status_code == 403
    with platform.sessions() as session:
        assert session.scalar(select(func.count()).select_from(AuthorizationCode)) == before

    # The professional refuses: the app is told, and the refusal is traced.
    assert approve(browser, App(client_id), decision="refuse")["error"] == "access_denied"
    assert trace(platform, "app.authorize")[-1].reason == "refused_by_user"

    # A public SMART app cannot use client_credentials: it holds no key to sign an assertion with.
    assertion = make_client_assertion(private_jwk=world.software["hospital"].key, client_id=client_id,
                                      token_url="http://127.0.0.1:8000/auth/token",
                                      licence_number=world.gp.licence_number, now=clock.now())
    refused = fhir.http.post("/auth/token", data={
        "grant_type": "client_credentials", "scope": "system/DocumentReference.rs", "client_assertion": assertion,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"})
    assert error(refused) == "invalid_client" and "public" in refused.json()["error_description"]


def test_an_app_is_for_its_organisation_s_professionals_only(platform: Platform, clock: FrozenClock,
                                                             world: World) -> None:
    lab_app = register_app(platform, organisation=world.lab)
    browser = Browser(platform)
    log_in_at(browser, clock, professional_credentials(platform, clock, world.gp), "/login")
    response = browser.get(App(lab_app).url)
    assert response.status_code == 403 and "another organisation" in response.text
    person_app = register_app(platform, organisation=None, users=ClientUsers.persons)
    response = browser.get(App(person_app, PERSON_SCOPE).url)
    assert response.status_code == 403 and "for patients" in response.text


def test_a_confidential_app_proves_itself_with_private_key_jwt(platform: Platform, clock: FrozenClock, world: World,
                                                               fhir: Fhir) -> None:
    key = ECKey.generate_key("P-384", private=True, auto_kid=True)
    client_id = register_app(platform, organisation=world.hospital,
                             jwks={"keys": [{**key.as_dict(private=False), "alg": "ES384"}]})
    browser = Browser(platform)
    log_in_at(browser, clock, professional_credentials(platform, clock, world.gp), "/login")
    app = App(client_id)
    code = approve(browser, app)["code"]
    bare = app.exchange(fhir.http, code)
    assert bare.status_code == 401 and bare.json()["error"] == "invalid_client"
    app = App(client_id)
    code = approve(browser, app)["code"]
    assertion = make_client_assertion(private_jwk=key.as_dict(private=True), client_id=client_id,
                                      token_url="http://127.0.0.1:8000/auth/token", licence_number="-",
                                      now=clock.now())
    issued = app.exchange(fhir.http, code, client_id=None, client_assertion=assertion,
                          client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    assert issued.status_code == 200, issued.text


@pytest.fixture
def holder_and_assistant(platform: Platform) -> tuple[Person, Person, Person]:
    with platform.transaction() as session:
        record = make_record(session, platform, active=False)
        assistant = make_record(session, platform, active=False).holder
        stranger = make_record(session, platform).holder
        return record.holder, assistant, stranger


def test_a_holder_s_app_reads_their_own_trace_and_choices_and_nothing_else(
    platform: Platform, clock: FrozenClock, fhir: Fhir, holder_and_assistant: tuple[Person, Person, Person]
) -> None:
    holder, assistant, stranger = holder_and_assistant
    client_id = register_app(platform, organisation=None, users=ClientUsers.persons, name="Mon DSP")
    browser = person_browser(platform, clock, holder)
    app = App(client_id, PERSON_SCOPE + " openid fhirUser")
    assert "Record: your own" in browser.get(app.url).text
    issued = app.exchange(fhir.http, approve(browser, app)["code"]).json()
    assert issued["patient"] == str(holder.id) and issued["scope"] == PERSON_SCOPE.split(" ", 1)[1] + " launch/patient"
    token = issued["access_token"]
    events = fhir.get(f"/fhir/AuditEvent?patient=Patient/{holder.id}", token)
    assert events.status_code == 200 and valid(events.json())["total"] > 0
    assert valid(fhir.get(f"/fhir/Consent?patient={holder.id}", token).json())["resourceType"] == "Bundle"
    other = fhir.get(f"/fhir/AuditEvent?patient={stranger.id}", token)
    unknown = fhir.get(f"/fhir/AuditEvent?patient={uuid.uuid4()}", token)
    # Bound to the holder's record: another person does not exist for the app (as an unknown id).
    assert (other.status_code, other.content) == (unknown.status_code, unknown.content) == (
        404, b'{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-found",'
        b'"diagnostics":"no such patient"}]}')
    assert fhir.get(f"/fhir/DocumentReference?patient={holder.id}", token).status_code == 403  # no such scope
    read = [e for e in trace(platform, "trace.read") if e.actor_id == str(holder.id)]
    assert read and read[-1].basis == "holder" and (read[-1].client_software or "").startswith("Mon DSP")

    # An assistant approves the app for the record they act for; the trace shows them acting for the holder.
    with platform.transaction() as session:
        record_id = session.scalars(select(Person).where(Person.id == holder.id)).one().id
        from opendsp.records.services import record_of

        record = record_of(session, record_id)
        assert record is not None
        as_holder(session, platform, record).designate_assistant(record.id, assistant.id)
    helper = person_browser(platform, clock, assistant)
    assert helper.submit("/account/act-for", {"person": str(holder.id)}, form_page="/account").status_code == 303
    app = App(client_id, PERSON_SCOPE)
    assert f"Record: {holder.display_name}" in helper.get(app.url).text
    issued = app.exchange(fhir.http, approve(helper, app)["code"]).json()
    assert issued["patient"] == str(holder.id)
    assert fhir.get(f"/fhir/AuditEvent?patient={holder.id}", issued["access_token"]).status_code == 200
    entry = [e for e in trace(platform, "trace.read") if e.actor_id == str(assistant.id)][-1]
    assert entry.basis == "assistant" and entry.on_behalf_of == str(holder.id)
    own = fhir.get(f"/fhir/Consent?patient={assistant.id}", issued["access_token"])
    assert own.status_code == 404  # bound to the record approved: the assistant's own does not exist for it


def test_fhirclient_from_pypi_drives_the_standalone_launch(platform: Platform, clock: FrozenClock,
                                                           holder_and_assistant: tuple[Person, Person, Person]) -> None:
    """The SMART on FHIR project's Python client: discovery, PKCE, the callback and the exchange, on a live server."""
    from fhirclient import client
    from fhirclient.models.auditevent import AuditEvent
    from fhirclient.models.consent import Consent

    holder, _assistant, _stranger = holder_and_assistant
    with serve(platform) as (url, served):
        client_id = register_app(served, organisation=None, users=ClientUsers.persons, name="Mon DSP")
        browser = person_browser(platform, clock, holder)  # activates the account (any app instance shares the DB)
        live = Browser(served)
        live.client = httpx.Client(base_url=url, follow_redirects=False, headers={"Accept-Language": "en"})
        smart = client.FHIRClient(settings={"app_id": client_id, "api_base": f"{url}/fhir", "redirect_uri": REDIRECT,
                                            "scope": "patient/AuditEvent.rs patient/Consent.rs"})
        authorize = smart.authorize_url
        assert authorize.startswith(f"{url}/auth/authorize?") and "code_challenge_method=S256" in authorize
        path = authorize.removeprefix(url)
        response = live.get(path)
        assert response.status_code == 303
        credentials = browser_credentials(browser)
        back = log_in_at(live, clock, credentials, response.headers["location"])
        assert back == path
        fields = approve_page(live, path)
        response = live.submit("/auth/authorize", {**fields, "decision": "allow"})
        smart.handle_callback(response.headers["location"])
        assert smart.ready and smart.patient_id == str(holder.id)
        # Every page (fhirclient follows the next links), each resource parsed with its FHIR R4 models. Each page
        # is a search that adds to the trace: the pages stay those of the first page's instant (_snapshot).
        events = []
        for page in AuditEvent.where({"patient": smart.patient_id, "_count": "5"}).perform_iter(smart.server):
            events += [entry.resource for entry in page.entry or []]
            clock.advance(timedelta(seconds=1))
        assert len(events) > 5 and all(event.resource_type == "AuditEvent" for event in events)
        assert len({event.id for event in events}) == len(events) == page.total
        consents = list(Consent.where({"patient": smart.patient_id}).perform_iter(smart.server))
        assert consents and consents[0].resource_type == "Bundle"


def browser_credentials(browser: Browser) -> Credentials:
    return browser.credentials  # type: ignore[attr-defined, no-any-return]


def approve_page(browser: Browser, path: str) -> dict[str, str]:
    assert browser.get(path).status_code == 200
    fields = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">', browser.page))
    fields.pop("csrf_token")
    return {k: v.replace("&amp;", "&") for k, v in fields.items()}


__all__ = ["App", "uuid"]


def test_an_assistant_s_app_learns_nothing_once_the_delegation_ended(
    platform: Platform, clock: FrozenClock, fhir: Fhir, holder_and_assistant: tuple[Person, Person, Person]
) -> None:
    """The withdrawn assistant over FHIR (issue 12's attack callers). The token an assistant's app obtained for a
    holder's record outlives the delegation, but once it ended: a wish's Consent answers as an unknown id, and a
    search naming the holder gets the record-level refusal (the person is known to a former assistant, ADR 12),
    byte for byte the answer for a record that holds nothing; each attempt is refused in the holder's trace."""
    from opendsp.access.wishes import WishKind, WishValue
    from opendsp.records.services import record_of
    from tests.fhir.test_attacks import answer

    holder, assistant, _stranger = holder_and_assistant
    with platform.transaction() as session:
        twin = make_record(session, platform, active=False).holder  # assisted too; nothing in the record
    client_id = register_app(platform, organisation=None, users=ClientUsers.persons, name="Mon DSP")
    helper = person_browser(platform, clock, assistant)
    tokens, wishes = {}, {}
    for person in (holder, twin):
        with platform.transaction() as session:
            record = record_of(session, person.id)
            assert record is not None
            as_holder(session, platform, record).designate_assistant(record.id, assistant.id)
            if person is holder:
                wishes[person.id] = as_holder(session, platform, record).set_wish(
                    record.id, WishKind.organ_donation, WishValue.yes).id
        assert helper.submit("/account/act-for", {"person": str(person.id)}, form_page="/account").status_code == 303
        app = App(client_id, PERSON_SCOPE)
        tokens[person.id] = app.exchange(fhir.http, approve(helper, app)["code"]).json()["access_token"]
    token = tokens[holder.id]
    assert fhir.get(f"/fhir/Consent/{wishes[holder.id]}", token).status_code == 200  # while the delegation lasts
    for person in (holder, twin):
        with platform.transaction() as session:
            record = record_of(session, person.id)
            assert record is not None
            as_holder(session, platform, record).end_assistant(record.id, assistant.id)
    before = len([e for e in trace(platform, "trace.read") if e.actor_id == str(assistant.id)])

    read = answer(fhir.get(f"/fhir/Consent/{wishes[holder.id]}", token))
    assert read == answer(fhir.get(f"/fhir/Consent/{uuid.uuid4()}", token)) and read[0] == 404
    differences = []
    for route in ("AuditEvent", "Consent"):
        attacked = answer(fhir.get(f"/fhir/{route}?patient={holder.id}", token))
        empty = answer(fhir.get(f"/fhir/{route}?patient={twin.id}", tokens[twin.id]))
        if attacked != empty or attacked[0] != 403:
            differences.append(f"{route}: {attacked[:2]} != {empty[:2]}")
    assert differences == []
    refused = [e for e in trace(platform, "trace.read") if e.actor_id == str(assistant.id)][before:]
    assert refused and all(e.outcome.value == "refused" for e in refused)

"""A small world for the FHIR API: a record, professionals of several organisations, their software."""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from joserfc.jwk import ECKey

from opendsp.actors import SYSTEM
from opendsp.clients.services import make_client_assertion, register_client
from opendsp.fhir.validation import validate
from opendsp.platform import Platform
from opendsp.professionals.models import Organisation, OrganisationKind, Professional
from opendsp.records.models import Record
from opendsp.web.app import create_app
from tests.factories import (
    PDF,
    as_holder,
    holder_of,
    make_organisation,
    make_professional,
    make_record,
)
from tests.live import serve

TOKEN_URL = "http://127.0.0.1:8000/auth/token"
BASE = "http://127.0.0.1:8000/fhir"
LAB_REPORT = {"system": "http://loinc.org", "code": "11502-2"}
CONSULT_NOTE = {"system": "http://loinc.org", "code": "11488-4"}


@dataclass
class Software:
    client_id: str
    key: dict[str, Any]
    organisation: Organisation


@dataclass
class World:
    record: Record
    person_id: uuid.UUID
    national_number: str
    hospital: Organisation
    lab: Organisation
    emergency: Organisation
    gp: Professional
    outsider: Professional
    biologist: Professional
    emergency_doctor: Professional
    software: dict[str, Software] = field(default_factory=dict)


def register(platform: Platform, organisation: Organisation, name: str) -> Software:
    key = ECKey.generate_key("P-384", private=True, auto_kid=True)
    public = {**key.as_dict(private=False), "alg": "ES384"}
    with platform.transaction() as session:
        client = register_client(session=session, platform=platform, actor=SYSTEM, name=name,
                                 organisation_identifier=organisation.identifier, jwks={"keys": [public]})
        client_id = client.client_id
    return Software(client_id=client_id, key=key.as_dict(private=True), organisation=organisation)


@pytest.fixture
def world(platform: Platform) -> World:
    with platform.transaction() as session:
        record = make_record(session, platform)
        holder = holder_of(session, record)
        hospital = make_organisation(session, platform, OrganisationKind.hospital, name="Hôpital Demo")
        lab = make_organisation(session, platform, OrganisationKind.laboratory, name="Labo Demo")
        emergency = make_organisation(session, platform, OrganisationKind.emergency_department, name="Urgences")
        gp = make_professional(session, platform, organisation=hospital, family_name="Hoffmann")
        outsider = make_professional(session, platform, organisation=hospital, specialties=("cardiology",),
                                     family_name="Reuter")
        biologist = make_professional(session, platform, profession="laboratory_biologist", specialties=(),
                                      organisation=lab, family_name="Muller")
        emergency_doctor = make_professional(session, platform, specialties=("emergency_medicine",),
                                             organisation=emergency, family_name="Urbany")
        as_holder(session, platform, record).add_to_circle(record.id, gp.id)
        world = World(record=record, person_id=holder.id, national_number=holder.national_number, hospital=hospital,
                      lab=lab, emergency=emergency, gp=gp, outsider=outsider, biologist=biologist,
                      emergency_doctor=emergency_doctor)
    world.software = {
        "hospital": register(platform, hospital, "Hospital HIS"),
        "lab": register(platform, lab, "Lab LIS"),
        "emergency": register(platform, emergency, "ED system"),
    }
    return world


class Fhir:
    """An HTTP client for the API that fetches tokens the way client software does."""

    def __init__(self, http: TestClient, platform: Platform) -> None:
        self.http = http
        self.platform = platform

    def assertion(self, software: Software, professional: Professional, **kwargs: Any) -> str:
        return make_client_assertion(private_jwk=software.key, client_id=software.client_id, token_url=TOKEN_URL,
                                     licence_number=professional.licence_number, now=self.platform.clock.now(),
                                     jti=uuid.uuid4().hex, **kwargs)

    def token_response(self, software: Software, professional: Professional, scope: str = "system/*.cruds",
                       **kwargs: Any) -> Any:
        return self.http.post("/auth/token", data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": self.assertion(software, professional, **kwargs),
            "scope": scope,
        })

    def token(self, software: Software, professional: Professional, scope: str = "system/*.cruds",
              **kwargs: Any) -> str:
        response = self.token_response(software, professional, scope, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def get(self, path: str, token: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/fhir+json", **kwargs.pop("headers", {})}
        if path.startswith(BASE):
            path = "/fhir" + path.removeprefix(BASE)
        return self.http.get(path, headers=headers, **kwargs)

    def post(self, path: str, token: str, body: Any, content_type: str = "application/fhir+json") -> Any:
        import json

        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return self.http.post(path, content=data, headers={"Authorization": f"Bearer {token}",
                                                           "Content-Type": content_type})


@pytest.fixture
def fhir(platform: Platform) -> Iterator[Fhir]:
    with TestClient(create_app(platform=platform)) as http:
        yield Fhir(http, platform)


def valid(resource: dict[str, Any]) -> dict[str, Any]:
    """Every resource the server returns validates against the FHIR definitions."""
    return validate(resource)


def provide_bundle(
    person_id: uuid.UUID,
    *,
    content: bytes = PDF,
    type_coding: dict[str, str] | None = None,
    title: str = "Bilan sanguin",
    replaces: str | None = None,
    size: int | None = None,
    sha1: str | None = None,
    binary_url: str | None = None,
    media_type: str = "application/pdf",
    confidentiality: str = "N",
    master: str | None = None,
) -> dict[str, Any]:
    """An ITI-65 Provide Document Bundle: SubmissionSet List, one DocumentReference, one Binary."""
    doc_url, bin_url, list_url = (f"urn:uuid:{uuid.uuid4()}" for _ in range(3))
    reference: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "masterIdentifier": {"system": "urn:ietf:rfc:3986", "value": master or f"urn:oid:1.2.3.{uuid.uuid4().int}"},
        "status": "current",
        "type": {"coding": [type_coding or LAB_REPORT]},
        "subject": {"reference": f"Patient/{person_id}"},
        "description": title,
        "securityLabel": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
                                       "code": confidentiality}]}],
        "content": [{"attachment": {
            "contentType": media_type,
            "url": binary_url or bin_url,
            "size": len(content) if size is None else size,
            "hash": sha1 or base64.b64encode(hashlib.sha1(content).digest()).decode(),
        }}],
        "context": {"period": {"start": "2025-03-01"}},
    }
    if replaces:
        reference["relatesTo"] = [{"code": "replaces", "target": {"reference": f"DocumentReference/{replaces}"}}]
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": list_url, "request": {"method": "POST", "url": "List"}, "resource": {
                "resourceType": "List",
                "identifier": [{"use": "usual", "system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{uuid.uuid4()}"}],
                "status": "current", "mode": "working", "title": "Envoi",
                "code": {"coding": [{"system": "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes",
                                     "code": "submissionset"}]},
                "subject": {"reference": f"Patient/{person_id}"},
                "date": "2026-01-01T09:00:00Z",
                "entry": [{"item": {"reference": doc_url}}],
            }},
            {"fullUrl": doc_url, "request": {"method": "POST", "url": "DocumentReference"}, "resource": reference},
            {"fullUrl": bin_url, "request": {"method": "POST", "url": "Binary"}, "resource": {
                "resourceType": "Binary", "contentType": media_type, "data": base64.b64encode(content).decode(),
            }},
        ],
    }


__all__ = ["BASE", "CONSULT_NOTE", "LAB_REPORT", "PDF", "Fhir", "World", "provide_bundle", "valid"]


@pytest.fixture
def server(platform: Platform) -> Iterator[tuple[str, Platform]]:
    with serve(platform) as served:
        yield served


def live_token(url: str, served: Platform, world: World, software: str, professional: Professional, scope: str) -> str:
    """SMART Backend Services against the live server's token endpoint."""
    chosen = world.software[software]
    assertion = make_client_assertion(private_jwk=chosen.key, client_id=chosen.client_id, token_url=f"{url}/auth/token",
                                      licence_number=professional.licence_number, now=served.clock.now())
    response = httpx.post(f"{url}/auth/token", data={
        "grant_type": "client_credentials", "client_assertion": assertion, "scope": scope,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    })
    assert response.status_code == 200, response.text
    return response.json()["access_token"]

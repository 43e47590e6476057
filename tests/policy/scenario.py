"""Named people and settings for the policy tables: one record, its holder, and professionals."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from opendsp.actors import Actor, ActorKind
from opendsp.documents.types import ConfidentialityLevel, DocumentStatus, DocumentType
from opendsp.policy import AccessRequest, Action, DocumentFacts, Grants, RecordFacts
from opendsp.records.models import RecordState

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _id(name: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"opendsp-policy-table/{name}")


HOLDER_ID = _id("holder")
RECORD = RecordFacts(id=_id("record"), state=RecordState.active, holder_id=HOLDER_ID, holder_birth_date=date(1980, 5, 17))
MINOR_RECORD = replace(RECORD, holder_birth_date=date(2015, 6, 1))


def professional(name: str, profession: str, *specialties: str, organisation: str = "practice") -> Actor:
    return Actor(
        kind=ActorKind.professional,
        id=str(_id(name)),
        display=name,
        profession=profession,
        specialties=frozenset(specialties),
        organisation_id=_id(f"org-{organisation}"),
        organisation_kind=organisation,
    )


HOLDER = Actor(kind=ActorKind.holder, id=str(HOLDER_ID), display="holder")
OTHER_PERSON = Actor(kind=ActorKind.holder, id=str(_id("someone else")), display="someone else")
ASSISTANT = Actor(kind=ActorKind.assistant, id=str(_id("assistant")), display="assistant", on_behalf_of=HOLDER_ID)
PARENT = Actor(kind=ActorKind.representative, id=str(_id("parent")), display="parent", on_behalf_of=HOLDER_ID)
AGENCY = Actor(kind=ActorKind.agency, id="helpdesk-1", display="helpdesk", agency_roles=frozenset({"helpdesk"}))
JOB = Actor(kind=ActorKind.system, id="opendsp", display="platform job")

GP = professional("gp", "physician", "general_practice")
GP_SAME_PRACTICE = professional("gp-colleague", "physician", "general_practice")
CARDIOLOGIST = professional("cardiologist", "physician", "cardiology", organisation="hospital")
ER_DOCTOR = professional("er-doctor", "physician", "emergency_medicine", organisation="emergency_department")
NURSE = professional("nurse", "nurse", organisation="home_care_provider")
PHARMACIST = professional("pharmacist", "pharmacist", organisation="pharmacy")
BIOLOGIST = professional("biologist", "laboratory_biologist", organisation="laboratory")
DENTIST = professional("dentist", "dentist")
HEALER = professional("healer", "shaman")
RADIOLOGIST = professional("radiologist", "physician", "radiology", organisation="imaging_centre")
RADIOGRAPHER = professional("radiographer", "radiographer", organisation="imaging_centre")
MIDWIFE = professional("midwife", "midwife")
HOME_CARE_NURSE = professional("home-care-nurse", "home_care_nurse", organisation="home_care_provider")
PHYSIOTHERAPIST = professional("physiotherapist", "physiotherapist")
WARD_NURSE = professional("ward-nurse", "nurse", organisation="hospital")
HOSPITAL_ID = _id("hospital")
WARD_NURSE = replace(WARD_NURSE, organisation_id=_id("cardiology-unit"))


def pid(actor: Actor) -> uuid.UUID:
    return uuid.UUID(actor.id)


IN_CIRCLE = Grants(circle={pid(GP): None}, referring_doctor=pid(GP))


def document(
    kind: DocumentType = DocumentType.laboratory_report,
    *,
    author: Actor | None = BIOLOGIST,
    status: DocumentStatus = DocumentStatus.current,
    confidentiality: ConfidentialityLevel = ConfidentialityLevel.normal,
    hidden: bool = False,
    named: tuple[Actor, ...] = (),
    holder_from: datetime | None = None,
    by_holder: bool = False,
) -> DocumentFacts:
    return DocumentFacts(
        id=_id(f"document-{kind.value}-{status.value}-{confidentiality.value}-{hidden}-{by_holder}"),
        type=kind,
        status=status,
        confidentiality=confidentiality,
        author_id=pid(author) if author and not by_holder else None,
        authored_by_holder=by_holder,
        hidden=hidden,
        named_professionals=frozenset(pid(a) for a in named),
        visible_to_holder_from=holder_from,
    )


def request(actor: Actor, action: Action, **changes: object) -> AccessRequest:
    base = AccessRequest(actor=actor, action=action, record=RECORD, now=NOW, grants=Grants())
    return replace(base, **changes)  # type: ignore[arg-type]

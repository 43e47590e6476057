"""Who acts: the authenticated party behind every request, job or command."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opendsp.persons.models import Person
    from opendsp.professionals.models import Organisation, Professional


class ActorKind(str, enum.Enum):
    holder = "holder"
    assistant = "assistant"
    representative = "representative"
    professional = "professional"
    agency = "agency"
    institution = "institution"  # a hospital's own system, reporting its stays
    system = "system"


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    id: str
    display: str
    # The person whose rights an assistant or a legal representative uses.
    on_behalf_of: uuid.UUID | None = None
    profession: str | None = None
    specialties: frozenset[str] = field(default_factory=frozenset)
    organisation_id: uuid.UUID | None = None
    organisation_kind: str | None = None
    agency_roles: frozenset[str] = field(default_factory=frozenset)


SYSTEM = Actor(kind=ActorKind.system, id="opendsp", display="OpenDSP platform")
# The platform reading its published figures for an anonymous visitor (the public statistics page).
PUBLIC_FIGURES = Actor(kind=ActorKind.system, id="opendsp-public-figures", display="OpenDSP published figures")


def holder(person: Person) -> Actor:
    return Actor(kind=ActorKind.holder, id=str(person.id), display=person.display_name)


def assistant(person: Person, *, acting_for: Person) -> Actor:
    return Actor(kind=ActorKind.assistant, id=str(person.id), display=person.display_name, on_behalf_of=acting_for.id)


def representative(person: Person, *, acting_for: Person) -> Actor:
    return Actor(
        kind=ActorKind.representative, id=str(person.id), display=person.display_name, on_behalf_of=acting_for.id
    )


def professional(person: Professional, *, organisation: Organisation | None) -> Actor:
    """A professional acting for one of their organisations (they choose which)."""
    if organisation is not None and organisation not in person.organisations:
        raise ValueError(f"{person.display_name} does not belong to {organisation.name}")
    return Actor(
        kind=ActorKind.professional,
        id=str(person.id),
        display=person.display_name,
        profession=person.profession,
        specialties=frozenset(person.specialties),
        organisation_id=organisation.id if organisation else None,
        organisation_kind=organisation.kind.value if organisation else None,
    )


def agency(staff_id: str, display: str, roles: frozenset[str] = frozenset({"helpdesk"})) -> Actor:
    return Actor(kind=ActorKind.agency, id=staff_id, display=display, agency_roles=roles)


def institution(organisation: Organisation, *, software: str) -> Actor:
    return Actor(
        kind=ActorKind.institution,
        id=str(organisation.id),
        display=f"{organisation.name} ({software})",
        organisation_id=organisation.id,
        organisation_kind=organisation.kind.value,
    )

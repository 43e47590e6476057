"""Who acts: the authenticated party behind every request, job or command."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field


class ActorKind(str, enum.Enum):
    holder = "holder"
    assistant = "assistant"
    representative = "representative"
    professional = "professional"
    agency = "agency"
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

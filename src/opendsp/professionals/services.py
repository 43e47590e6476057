"""Registering organisations and professionals, each act traced.

Codes are checked against ``opendsp.professionals.vocabulary`` here, so the
rights matrix never meets a profession or specialty it does not know.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from opendsp.actors import Actor
from opendsp.platform import Platform
from opendsp.professionals.models import Organisation, OrganisationKind, Professional
from opendsp.professionals.vocabulary import PROFESSIONS, SPECIALTIES
from opendsp.records.services import trace_event


class RegistrationRefused(ValueError):
    """The organisation or professional cannot be registered as given; the message says why."""


def _required(value: str, what: str, max_length: int) -> str:
    value = (value or "").strip()
    if not value:
        raise RegistrationRefused(f"the {what} is missing")
    if len(value) > max_length:
        raise RegistrationRefused(f"the {what} has at most {max_length} characters")
    return value


def _organisation_kind(kind: OrganisationKind | str) -> OrganisationKind:
    try:
        return OrganisationKind(kind)
    except ValueError:
        known = ", ".join(k.value for k in OrganisationKind)
        raise RegistrationRefused(f"unknown organisation kind {kind!r}; use one of {known}") from None


def _profession(code: str) -> str:
    if code not in PROFESSIONS:
        raise RegistrationRefused(f"unknown profession code {code!r}; use one of {', '.join(PROFESSIONS)}")
    return code


def _specialties(codes: Sequence[str]) -> list[str]:
    if isinstance(codes, str):
        # A bare string would otherwise be read as a list of one-letter codes.
        raise RegistrationRefused("specialties are a list of codes, not a single string")
    unknown = [code for code in codes if code not in SPECIALTIES]
    if unknown:
        raise RegistrationRefused(
            f"unknown specialty code(s) {', '.join(map(repr, unknown))}; use codes of {', '.join(SPECIALTIES)}"
        )
    return list(dict.fromkeys(codes))  # drop repeats, keep the order given


def register_organisation(
    *,
    session: Session,
    platform: Platform,
    actor: Actor,
    identifier: str,
    name: str,
    kind: OrganisationKind | str,
    city: str | None = None,
) -> Organisation:
    identifier = _required(identifier, "organisation identifier", 64)
    name = _required(name, "organisation name", 300)
    organisation_kind = _organisation_kind(kind)
    city = (city or "").strip() or None
    if session.scalars(select(Organisation.id).where(Organisation.identifier == identifier)).first() is not None:
        raise RegistrationRefused(f"an organisation with identifier {identifier} is already registered")
    organisation = Organisation(
        identifier=identifier, name=name, kind=organisation_kind, city=city, created_at=platform.clock.now()
    )
    session.add(organisation)
    session.flush()
    platform.trace.append(
        session,
        trace_event(
            actor,
            "organisation.register",
            record_id=None,
            context={"organisation": str(organisation.id), "identifier": identifier, "kind": organisation_kind.value},
        ),
    )
    return organisation


def register_professional(
    *,
    session: Session,
    platform: Platform,
    actor: Actor,
    licence_number: str,
    family_name: str,
    given_name: str,
    profession: str,
    specialties: Sequence[str],
    organisations: Sequence[Organisation],
) -> Professional:
    licence_number = _required(licence_number, "licence number", 32)
    family_name = _required(family_name, "family name", 200)
    given_name = _required(given_name, "given name", 200)
    profession = _profession(profession)
    specialty_codes = _specialties(specialties)
    members_of = list(dict.fromkeys(organisations))  # each organisation once, in the order given
    taken = session.scalars(select(Professional.id).where(Professional.licence_number == licence_number)).first()
    if taken is not None:
        raise RegistrationRefused(f"a professional with licence number {licence_number} is already registered")
    professional = Professional(
        licence_number=licence_number,
        family_name=family_name,
        given_name=given_name,
        profession=profession,
        specialties=specialty_codes,
        created_at=platform.clock.now(),
        organisations=members_of,
    )
    session.add(professional)
    session.flush()
    platform.trace.append(
        session,
        trace_event(
            actor,
            "professional.register",
            record_id=None,
            context={
                "professional": str(professional.id),
                "licence_number": licence_number,
                "profession": profession,
                "specialties": specialty_codes,
                "organisations": [organisation.identifier for organisation in members_of],
            },
        ),
    )
    return professional


def search_directory(session: Session, text: str, *, limit: int = 20) -> list[Professional]:
    """Professionals whose name or licence number holds every word of ``text`` (case does not matter).

    The directory is what the holder searches to add a professional to the
    trusted circle or to block one; ``RecordAccess.search_directory`` decides
    and traces the search before calling this.
    """
    words = [word for word in text.split() if word][:5]
    if not words:
        return []
    conditions = []
    for word in words:
        pattern = "%" + word.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conditions.append(or_(
            func.lower(Professional.family_name).like(pattern, escape="\\"),
            func.lower(Professional.given_name).like(pattern, escape="\\"),
            func.lower(Professional.licence_number).like(pattern, escape="\\"),
        ))
    query = (
        select(Professional)
        .where(and_(*conditions))
        .order_by(Professional.family_name, Professional.given_name, Professional.licence_number)
        .limit(limit)
    )
    return list(session.scalars(query))


def hospitals(session: Session) -> list[Organisation]:
    """The organisations whose stays open a record (hospitals, not their care units), by name."""
    kinds = [OrganisationKind.hospital, OrganisationKind.emergency_department]
    return list(session.scalars(
        select(Organisation)
        .where(Organisation.kind.in_(kinds), Organisation.parent_id.is_(None))
        .order_by(Organisation.name)
    ))

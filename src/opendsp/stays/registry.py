"""The agency registers hospitals' care units and the systems that report their stays."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from opendsp.actors import Actor
from opendsp.platform import Platform
from opendsp.professionals.models import Organisation, OrganisationKind
from opendsp.records.services import trace_event
from opendsp.stays.models import AdtSender
from opendsp.stays.services import care_unit_identifier


class RegistryError(ValueError):
    """The registration is refused; the message says why."""


def _hospital(session: Session, identifier: str) -> Organisation:
    hospital = session.scalars(select(Organisation).where(Organisation.identifier == identifier)).first()
    if hospital is None:
        raise RegistryError(f"no organisation {identifier!r}")
    if hospital.kind not in (OrganisationKind.hospital, OrganisationKind.emergency_department):
        raise RegistryError(f"{hospital.name} is a {hospital.kind.value}, not a hospital")
    return hospital


def register_care_unit(
    *, session: Session, platform: Platform, actor: Actor, hospital: str, code: str, name: str
) -> Organisation:
    parent = _hospital(session, hospital)
    identifier = care_unit_identifier(parent, code.strip())
    if session.scalars(select(Organisation).where(Organisation.identifier == identifier)).first():
        raise RegistryError(f"care unit {identifier} exists already")
    unit = Organisation(
        identifier=identifier, name=name.strip(), kind=parent.kind, city=parent.city, parent_id=parent.id,
        created_at=platform.clock.now(),
    )
    session.add(unit)
    session.flush()
    platform.trace.append(
        session, trace_event(actor, "organisation.register", record_id=None, context={"care_unit": identifier})
    )
    return unit


def register_adt_sender(
    *, session: Session, platform: Platform, actor: Actor, hospital: str, application: str, facility: str
) -> AdtSender:
    parent = _hospital(session, hospital)
    if session.scalars(
        select(AdtSender).where(AdtSender.sending_application == application, AdtSender.sending_facility == facility)
    ).first():
        raise RegistryError(f"sender {application}/{facility} is registered already")
    sender = AdtSender(
        organisation_id=parent.id, sending_application=application, sending_facility=facility,
        created_at=platform.clock.now(),
    )
    session.add(sender)
    session.flush()
    platform.trace.append(
        session,
        trace_event(actor, "adt_sender.register", record_id=None,
                    context={"hospital": hospital, "sender": f"{application}/{facility}"}),
    )
    return sender

"""The agency registers hospitals' care units and the systems that report their stays."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from opendsp.actors import Actor
from opendsp.platform import Platform
from opendsp.professionals.models import Organisation, OrganisationKind
from opendsp.records.services import trace_event
from opendsp.stays.certificates import CertificateIdentity
from opendsp.stays.models import AdtSender, AdtSenderCertificate
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
    *, session: Session, platform: Platform, actor: Actor, hospital: str, application: str, facility: str,
    certificate: CertificateIdentity | None = None,
) -> AdtSender:
    """Allow a hospital's system to report stays, bound to the client certificate it presents over TLS.

    Without a certificate the sender can report only to a listener on plain TCP (development mode).
    """
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
    if certificate is not None:
        bind_certificate(session=session, platform=platform, actor=actor, application=application, facility=facility,
                         certificate=certificate)
    return sender


def bind_certificate(
    *, session: Session, platform: Platform, actor: Actor, application: str, facility: str,
    certificate: CertificateIdentity,
) -> AdtSenderCertificate:
    """Bind one more client certificate to a sender (a renewed one, say); the others stay bound."""
    sender = _sender(session, application, facility)
    if certificate.not_after <= platform.clock.now():
        raise RegistryError(f"the certificate {certificate.subject} expired on {certificate.not_after:%Y-%m-%d}")
    bound = session.scalars(
        select(AdtSenderCertificate).where(AdtSenderCertificate.sha256 == certificate.sha256)
    ).all()
    if any(row.sender_id == sender.id for row in bound):
        raise RegistryError(f"this certificate is bound to {application}/{facility} already")
    # One certificate speaks for one hospital: it may serve several of its senders, never another's.
    if any(row.sender.organisation_id != sender.organisation_id for row in bound):
        raise RegistryError("this certificate is bound to a sender of another organisation")
    binding = AdtSenderCertificate(
        sender_id=sender.id, sha256=certificate.sha256, subject=certificate.subject,
        not_after=certificate.not_after, added_at=platform.clock.now(),
    )
    session.add(binding)
    session.flush()
    platform.trace.append(
        session,
        trace_event(actor, "adt_sender.certificate.bind", record_id=None,
                    context={"sender": f"{application}/{facility}", "certificate_sha256": certificate.sha256,
                             "subject": certificate.subject}),
    )
    return binding


def unbind_certificate(
    *, session: Session, platform: Platform, actor: Actor, application: str, facility: str, sha256: str
) -> None:
    """Stop believing a certificate for this sender (lost, compromised, replaced)."""
    sender = _sender(session, application, facility)
    binding = session.scalars(
        select(AdtSenderCertificate).where(
            AdtSenderCertificate.sender_id == sender.id, AdtSenderCertificate.sha256 == sha256.strip().lower()
        )
    ).first()
    if binding is None:
        raise RegistryError(f"no certificate {sha256} is bound to {application}/{facility}")
    session.delete(binding)
    session.flush()
    platform.trace.append(
        session,
        trace_event(actor, "adt_sender.certificate.unbind", record_id=None,
                    context={"sender": f"{application}/{facility}", "certificate_sha256": binding.sha256}),
    )


def _sender(session: Session, application: str, facility: str) -> AdtSender:
    sender = session.scalars(
        select(AdtSender).where(AdtSender.sending_application == application, AdtSender.sending_facility == facility)
    ).first()
    if sender is None:
        raise RegistryError(f"no sender {application}/{facility}")
    return sender

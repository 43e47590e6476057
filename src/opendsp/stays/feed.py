"""One message from a hospital's feed in, one acknowledgement out.

First who sent it: over mutual TLS the sender named in MSH-3/MSH-4 must be one
bound to the client certificate the handshake verified; over plain TCP
(development only) the names are taken as they come. Then what it says
(``adt``), applied by ``services.apply_report``.

What the peer learns depends on whether it is proven: a certificate bound to
a sender gets the precise answer (which field, which HL7 error code); anyone
else gets one and the same AR whatever went wrong, so it cannot tell an
unknown sender from an unknown patient. Every refusal is traced; those of
peers not proven are traced once per peer and claimed sender per window
(``RefusalThrottle``), so that a stranger cannot fill the trace.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from opendsp.actors import SYSTEM
from opendsp.platform import Platform
from opendsp.records.services import trace_event
from opendsp.stays.adt import (
    Header,
    MessageRefused,
    acknowledgement,
    header_of_head,
    parse_message,
    refusal_revealing_nothing,
    to_report,
)
from opendsp.stays.models import AdtSender, AdtSenderCertificate, ReceivedMessage
from opendsp.stays.perimeter import Peer, RefusalThrottle
from opendsp.stays.services import StayReportRefused, apply_report
from opendsp.trace.models import Outcome
from opendsp.trace.service import RequestContext

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sender:
    id: uuid.UUID
    organisation_id: uuid.UUID
    application: str
    facility: str

    @property
    def name(self) -> str:
        return f"{self.application}/{self.facility}"


def _claimed(header: Header | None) -> str:
    return f"{header.sending_application}/{header.sending_facility}" if header else "?"


class Feed:
    """The hospitals' feed as one listener receives it (the throttle lives as long as the listener)."""

    def __init__(self, platform: Platform, *, throttle: RefusalThrottle) -> None:
        self.platform = platform
        self.throttle = throttle

    def handle(self, raw: str, *, peer: Peer) -> str:
        """Apply one ADT message and return the ACK to send back."""
        at = self.platform.clock.now()
        bound = self._senders_bound_to(peer)
        try:
            message, header = parse_message(raw)
        except MessageRefused as refused:
            return self._refuse(None, refused, peer=peer, bound=bound, sender=None, at=at)
        try:
            sender = self._sender_of(header, peer, bound)
        except MessageRefused as refused:
            return self._refuse(header, refused, peer=peer, bound=bound, sender=None, at=at)

        with self.platform.sessions() as session:
            seen = _answer_given(session, sender.id, header.control_id)
        if seen is not None:
            return seen
        software = f"HL7 {header.sending_application}"
        try:
            with self.platform.transaction() as session:
                sender_row = session.get(AdtSender, sender.id)
                assert sender_row is not None
                report = to_report(message, header, at)
                try:
                    apply_report(
                        session=session, platform=self.platform, hospital=sender_row.organisation, report=report,
                        software=software, request=RequestContext(request_id=header.control_id, client_software=software),
                    )
                except StayReportRefused as refused:
                    raise MessageRefused("AE", refused.code, refused.field, str(refused)) from None
                ack = acknowledgement(header, "AA", at=at)
                session.add(
                    ReceivedMessage(sender_id=sender.id, control_id=header.control_id, event=header.event,
                                    received_at=at, ack=ack)
                )
                session.flush()
        except MessageRefused as refused:
            return self._refuse(header, refused, peer=peer, bound=bound, sender=sender, at=at)
        except IntegrityError:
            # The same message arrived twice at once: the other copy was applied; answer as it did.
            with self.platform.sessions() as session:
                seen = _answer_given(session, sender.id, header.control_id)
            if seen is None:
                raise
            return seen
        return ack

    def handle_too_large(self, head: bytes, *, limit: int, peer: Peer) -> str:
        """The AR for a message over the size limit, known by its first bytes only; nothing is applied."""
        at = self.platform.clock.now()
        bound = self._senders_bound_to(peer)
        header = header_of_head(head)
        refused = MessageRefused("AR", "207", "MSH", f"the message is larger than {limit} bytes")
        sender = None
        if header is not None:
            try:
                sender = self._sender_of(header, peer, bound)
            except MessageRefused:
                sender = None
        return self._refuse(header, refused, peer=peer, bound=bound, sender=sender, at=at)

    # -- who sent it --

    def _senders_bound_to(self, peer: Peer) -> list[Sender]:
        if peer.certificate_sha256 is None:
            return []
        with self.platform.sessions() as session:
            rows = session.execute(
                select(AdtSender.id, AdtSender.organisation_id, AdtSender.sending_application, AdtSender.sending_facility)
                .join(AdtSenderCertificate, AdtSenderCertificate.sender_id == AdtSender.id)
                .where(AdtSenderCertificate.sha256 == peer.certificate_sha256)
            ).all()
        return [Sender(*row) for row in rows]

    def _sender_of(self, header: Header, peer: Peer, bound: list[Sender]) -> Sender:
        claimed = (header.sending_application, header.sending_facility)
        if peer.certificate_sha256 is not None:
            for sender in bound:
                if (sender.application, sender.facility) == claimed:
                    return sender
            if not bound:
                raise MessageRefused("AR", "103", "MSH-4", "the client certificate is not bound to any sender")
            raise MessageRefused(
                "AR", "103", "MSH-4",
                f"{_claimed(header)} is not the sender bound to this certificate ({', '.join(s.name for s in bound)})",
            )
        # Plain TCP, development only: the sender is whoever the message says.
        with self.platform.sessions() as session:
            row = session.execute(
                select(AdtSender.id, AdtSender.organisation_id, AdtSender.sending_application, AdtSender.sending_facility)
                .where(AdtSender.sending_application == claimed[0], AdtSender.sending_facility == claimed[1])
            ).first()
        if row is None:
            raise MessageRefused("AR", "103", "MSH-4", f"unknown sender {_claimed(header)}")
        return Sender(*row)

    # -- refusals --

    def _refuse(
        self, header: Header | None, refused: MessageRefused, *, peer: Peer, bound: list[Sender],
        sender: Sender | None, at: datetime,
    ) -> str:
        proven = sender is not None and peer.certificate_sha256 is not None
        # The reason stays in the trace: it may name a national number, which no log line may carry.
        log.info("MLLP: refused %s from %s (%s): HL7 %s at %s", header.control_id if header else "?", peer.key,
                 _claimed(header), refused.error_code, refused.location)
        allowance = None if proven else self.throttle.allow(peer, _claimed(header))
        if allowance is None or allowance.trace:
            self._trace(header, refused, peer, sender, untraced=allowance.untraced if allowance else 0)
        if bound:  # the certificate belongs to a registered hospital system: it may know what went wrong
            return acknowledgement(header, refused.ack_code, at=at, error=refused)
        return refusal_revealing_nothing(header, at=at)

    def _trace(self, header: Header | None, refused: MessageRefused, peer: Peer, sender: Sender | None,
               *, untraced: int) -> None:
        """A refused message changes nothing but is traced, on the platform's chain."""
        context: dict[str, object] = {
            "sender": _claimed(header),
            "control_id": header.control_id if header else None,
            "event": header.event if header else None,
            "location": refused.location,
            "hospital": str(sender.organisation_id) if sender else None,
            **peer.context(),
        }
        if untraced:
            context["refusals_not_traced_before"] = untraced
        with self.platform.transaction() as session:
            self.platform.trace.append(
                session,
                trace_event(
                    SYSTEM, "stay.report", record_id=None, outcome=Outcome.refused,
                    reason=f"HL7 {refused.error_code}: {refused}"[:500], context=context,
                    request=RequestContext(request_id=header.control_id if header else None,
                                           client_software="HL7 v2 MLLP"),
                ),
            )


def _answer_given(session: Session, sender_id: uuid.UUID, control_id: str) -> str | None:
    return session.scalars(
        select(ReceivedMessage.ack).where(ReceivedMessage.sender_id == sender_id, ReceivedMessage.control_id == control_id)
    ).first()

"""Hospitals report stays over HL7 v2 MLLP; a stay opens the record to its care team.

The messages are framed by python-hl7 and sent over a real mutual-TLS
connection to the listener OpenDSP runs, with the certificate bound to the
sender the message names: such a peer gets precise answers.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import hl7
import pytest
from sqlalchemy import func, select

from opendsp.platform import Platform
from opendsp.policy.vocabulary import Reason
from opendsp.stays.models import ReceivedMessage, Stay, StayState
from opendsp.trace.models import TraceEntry
from tests.access.test_record_access import refused
from tests.factories import PDF, as_holder, as_professional, holder_draft
from tests.stays.hl7_clients import ack_code, adt, error_of, send_tls
from tests.stays.pki import Issued, Pki

Send = Callable[..., hl7.Message]


@pytest.fixture
def send(tls_port: int, pki: Pki) -> Send:
    """Send over mutual TLS with the certificate of the facility the message names (CHL's by default)."""

    def send(message: str, *, client: Issued | None = None) -> hl7.Message:
        return send_tls(tls_port, message, pki=pki, client=client or (pki.sud if "|HIS|SUD|" in message else pki.chl))

    return send


def stay_of(platform: Platform, visit: str = "V100") -> Stay:
    with platform.sessions() as session:
        return session.scalars(select(Stay).where(Stay.visit_number == visit)).one()


def test_each_event_moves_the_stay(platform: Platform, hospital, send: Send, clock) -> None:  # type: ignore[no-untyped-def]
    number = hospital["number"]
    assert ack_code(send(adt("A01", number))) == "AA"
    stay = stay_of(platform)
    assert stay.state is StayState.in_progress and stay.care_unit_id == hospital["cardio"].id
    assert ack_code(send(adt("A02", number, unit=""))) == "AA"
    assert stay_of(platform).care_unit_id is None
    assert ack_code(send(adt("A08", number, unit="CARDIO", patient_class="E"))) == "AA"
    assert stay_of(platform).patient_class.value == "emergency"
    assert ack_code(send(adt("A03", number, when="20260105120000"))) == "AA"
    assert stay_of(platform).state is StayState.finished
    assert ack_code(send(adt("A13", number))) == "AA"
    assert stay_of(platform).state is StayState.in_progress and stay_of(platform).discharged_at is None
    assert ack_code(send(adt("A11", number))) == "AA"
    assert stay_of(platform).state is StayState.cancelled
    assert ack_code(send(adt("A04", number, visit="OUT7", patient_class="O"))) == "AA"
    assert stay_of(platform, "OUT7").patient_class.value == "outpatient"


def test_the_same_message_twice_changes_nothing_the_second_time(platform: Platform, hospital, send: Send) -> None:  # type: ignore[no-untyped-def]
    message = adt("A01", hospital["number"], control="DUP1")
    first = send(message)
    with platform.sessions() as session:
        entries = session.scalar(select(func.count()).select_from(TraceEntry))
    second = send(message)
    assert str(first) == str(second) and ack_code(second) == "AA"
    with platform.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Stay)) == 1
        assert session.scalar(select(func.count()).select_from(ReceivedMessage)) == 1
        assert session.scalar(select(func.count()).select_from(TraceEntry)) == entries


@pytest.mark.parametrize(
    ("message", "code", "where", "ack"),
    [
        ("this is not HL7", "100", "MSH", "AR"),
        ("MSH|^~\\&|HIS|CHL|OPENDSP|DSP|20260101||ORU^R01|X1|P|2.5", "200", "MSH^1^9", "AR"),
        ("MSH|^~\\&|HIS|CHL|OPENDSP|DSP|20260101||ADT^A99|X2|P|2.5", "201", "MSH^1^9", "AR"),
        ("MSH|^~\\&|HIS|CHL|OPENDSP|DSP|20260101||ADT^A01|X3|P|2.5\rEVN|A01\rPV1|1|I", "100", "PID", "AE"),
        ("MSH|^~\\&|HIS|CHL|OPENDSP|DSP|20260101||ADT^A01|X4|P|2.5\rEVN|A01\rPID|1||1893120105731\rPV1|1|I|||||||||||||||||V1",
         "102", "PID^1^3", "AE"),
        ("MSH|^~\\&|HIS|CHL|OPENDSP|DSP|20260101||ADT^A01|X5|P|2.5\rEVN|A01|2026-01-01\rPID|1||1893120105732\rPV1|1|I|||||||||||||||||V1",
         "102", "EVN^1^2", "AE"),
    ],
    ids=["not HL7", "not ADT", "unknown event", "no PID", "bad national number", "bad date"],
)
def test_a_malformed_message_is_refused_precisely_and_changes_nothing(
    platform: Platform, hospital, send: Send, message: str, code: str, where: str, ack: str  # type: ignore[no-untyped-def]
) -> None:
    answer = send(message)
    assert ack_code(answer) == ack
    assert error_of(answer) == (where, code)
    with platform.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Stay)) == 0


def test_an_unknown_patient_or_unit_or_a_sender_not_of_the_certificate_is_named(platform: Platform, hospital, send: Send) -> None:  # type: ignore[no-untyped-def]
    unknown_patient = send(adt("A01", "1893120105732"))
    assert (ack_code(unknown_patient), error_of(unknown_patient)) == ("AE", ("PID^1^3", "204"))
    unknown_unit = send(adt("A01", hospital["number"], unit="ICU"))
    assert (ack_code(unknown_unit), error_of(unknown_unit)) == ("AE", ("PV1^1^3", "103"))
    unknown_sender = send(adt("A01", hospital["number"], facility="NOWHERE"))
    assert (ack_code(unknown_sender), error_of(unknown_sender)) == ("AR", ("MSH^1^4", "103"))
    with platform.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Stay)) == 0
        refusals = session.scalars(select(TraceEntry).where(TraceEntry.action == "stay.report",
                                                            TraceEntry.outcome == "refused")).all()
    assert len(refusals) == 3


def test_a_hospital_reports_only_its_own_stays(platform: Platform, hospital, send: Send) -> None:  # type: ignore[no-untyped-def]
    assert ack_code(send(adt("A01", hospital["number"]))) == "AA"
    answer = send(adt("A03", hospital["number"], facility="SUD", unit=""))
    assert (ack_code(answer), error_of(answer)) == ("AE", ("PV1^1^19", "204"))
    assert stay_of(platform).state is StayState.in_progress


def test_the_care_team_sees_the_record_during_the_stay_and_not_a_week_after(
    platform: Platform, hospital, send: Send, clock  # type: ignore[no-untyped-def]
) -> None:
    record, nurse, elsewhere = hospital["record"], hospital["nurse"], hospital["elsewhere"]
    with platform.transaction() as session:
        as_holder(session, platform, record).deposit(record.id, holder_draft("Mes notes"), [PDF])
    with refused(Reason.no_access), platform.transaction() as session:
        as_professional(session, platform, nurse).list_documents(record.id)
    send(adt("A01", hospital["number"]))
    with platform.transaction() as session:
        assert as_professional(session, platform, nurse).list_documents(record.id).total == 1
    with platform.sessions() as session:
        entry = session.scalars(select(TraceEntry).where(TraceEntry.actor_id == str(nurse.id),
                                                         TraceEntry.outcome == "permitted")).one()
    assert entry.basis == "stay" and entry.context["stay"]["organisation"] == "Centre Hospitalier"
    assert entry.context["stay"]["care_unit"] == "Cardiologie"
    with refused(Reason.no_access), platform.transaction() as session:
        as_professional(session, platform, elsewhere).list_documents(record.id)

    send(adt("A03", hospital["number"], when=clock.now().strftime("%Y%m%d%H%M%S+0000")))
    clock.advance(timedelta(days=7) - timedelta(seconds=1))
    with platform.transaction() as session:
        assert as_professional(session, platform, nurse).list_documents(record.id).total == 1
    clock.advance(timedelta(seconds=1))
    with refused(Reason.no_access), platform.transaction() as session:
        as_professional(session, platform, nurse).list_documents(record.id)


def test_a_cancelled_admission_removes_access_at_once(platform: Platform, hospital, send: Send) -> None:  # type: ignore[no-untyped-def]
    record, nurse = hospital["record"], hospital["nurse"]
    send(adt("A01", hospital["number"]))
    send(adt("A11", hospital["number"]))
    with refused(Reason.no_access), platform.transaction() as session:
        as_professional(session, platform, nurse).list_documents(record.id)


def test_the_holder_may_refuse_institutional_access(platform: Platform, hospital, send: Send) -> None:  # type: ignore[no-untyped-def]
    record, nurse, chl = hospital["record"], hospital["nurse"], hospital["chl"]
    send(adt("A01", hospital["number"]))
    with platform.transaction() as session:
        as_holder(session, platform, record).refuse_institution(record.id, chl.id)
    with refused(Reason.no_access), platform.transaction() as session:
        as_professional(session, platform, nurse).list_documents(record.id)
    with platform.transaction() as session:
        holder = as_holder(session, platform, record)
        holder.refuse_institution(record.id, chl.id, refused=False)
        assert as_professional(session, platform, nurse).list_documents(record.id).total == 0
        holder.set_institutional_access(record.id, False)
    with refused(Reason.no_access), platform.transaction() as session:
        as_professional(session, platform, nurse).list_documents(record.id)
    with platform.transaction() as session:
        assert [s.visit_number for s in as_holder(session, platform, record).list_stays(record.id)] == ["V100"]

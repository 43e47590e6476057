"""Hospitals report stays over HL7 v2 MLLP; a stay opens the record to its care team.

The messages are sent by python-hl7's MLLP client over a real TCP connection
to the listener OpenDSP runs.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Iterator
from datetime import timedelta

import hl7
import pytest
from hl7.client import MLLPClient
from sqlalchemy import func, select

from opendsp.actors import SYSTEM
from opendsp.persons.models import Person
from opendsp.platform import Platform
from opendsp.policy.vocabulary import Reason
from opendsp.professionals.models import OrganisationKind
from opendsp.stays.models import ReceivedMessage, Stay, StayState
from opendsp.stays.mllp import serve_mllp
from opendsp.stays.registry import register_adt_sender, register_care_unit
from opendsp.trace.models import TraceEntry
from tests.access.test_record_access import refused
from tests.factories import (
    PDF,
    as_holder,
    as_professional,
    make_organisation,
    make_professional,
    make_record,
    holder_draft,
)

_control = itertools.count(1)


@pytest.fixture
def mllp_port(platform: Platform) -> Iterator[int]:
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(serve_mllp(platform, "127.0.0.1", 0))
    port = server.sockets[0].getsockname()[1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield port

    async def shutdown() -> None:
        server.close()
        connections = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in connections:
            task.cancel()
        await asyncio.gather(*connections, return_exceptions=True)

    asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=10)
    loop.close()


@pytest.fixture
def hospital(platform: Platform):  # type: ignore[no-untyped-def]
    """Two hospitals with a cardiology unit each, a nurse in each, and a patient."""
    with platform.transaction() as session:
        record = make_record(session, platform)
        national_number = session.get(Person, record.person_id).national_number  # type: ignore[union-attr]
        chl = make_organisation(session, platform, OrganisationKind.hospital, name="Centre Hospitalier")
        other = make_organisation(session, platform, OrganisationKind.hospital, name="Hôpital Sud")
        cardio = register_care_unit(session=session, platform=platform, actor=SYSTEM, hospital=chl.identifier,
                                    code="CARDIO", name="Cardiologie")
        register_care_unit(session=session, platform=platform, actor=SYSTEM, hospital=other.identifier,
                           code="CARDIO", name="Cardiologie Sud")
        register_adt_sender(session=session, platform=platform, actor=SYSTEM, hospital=chl.identifier,
                            application="HIS", facility="CHL")
        register_adt_sender(session=session, platform=platform, actor=SYSTEM, hospital=other.identifier,
                            application="HIS", facility="SUD")
        nurse = make_professional(session, platform, profession="nurse", specialties=(), organisation=cardio)
        elsewhere = make_professional(session, platform, profession="nurse", specialties=(), organisation=other)
        hospital_doctor = make_professional(session, platform, specialties=("cardiology",), organisation=chl)
    return {"record": record, "number": national_number, "chl": chl, "other": other, "cardio": cardio,
            "nurse": nurse, "elsewhere": elsewhere, "doctor": hospital_doctor}


def adt(event: str, number: str, *, visit: str = "V100", unit: str = "CARDIO", facility: str = "CHL",
        control: str | None = None, when: str = "20260101100000", patient_class: str = "I") -> str:
    control = control or f"MSG{next(_control)}"
    return "\r".join([
        f"MSH|^~\\&|HIS|{facility}|OPENDSP|DSP|{when}||ADT^{event}^ADT_A01|{control}|P|2.5",
        f"EVN|{event}|{when}",
        f"PID|1||{number}^^^LUXNAT^NI||Muller^Jean||19800517|M",
        f"PV1|1|{patient_class}|{unit}^101^1||||||||||||||||{visit}",
    ])


def send(port: int, message: str) -> hl7.Message:
    with MLLPClient("127.0.0.1", port) as client:
        answer = client.send_message(message)
    return hl7.parse(answer.decode() if isinstance(answer, bytes) else answer)


def ack_code(answer: hl7.Message) -> str:
    return str(answer.segment("MSA")[1])


def error_of(answer: hl7.Message) -> tuple[str, str]:
    err = answer.segment("ERR")
    return str(err[2]), str(err[3]).split("^")[0]


def stay_of(platform: Platform, visit: str = "V100") -> Stay:
    with platform.sessions() as session:
        return session.scalars(select(Stay).where(Stay.visit_number == visit)).one()


def test_each_event_moves_the_stay(platform: Platform, hospital, mllp_port: int, clock) -> None:  # type: ignore[no-untyped-def]
    number = hospital["number"]
    assert ack_code(send(mllp_port, adt("A01", number))) == "AA"
    stay = stay_of(platform)
    assert stay.state is StayState.in_progress and stay.care_unit_id == hospital["cardio"].id
    assert ack_code(send(mllp_port, adt("A02", number, unit=""))) == "AA"
    assert stay_of(platform).care_unit_id is None
    assert ack_code(send(mllp_port, adt("A08", number, unit="CARDIO", patient_class="E"))) == "AA"
    assert stay_of(platform).patient_class.value == "emergency"
    assert ack_code(send(mllp_port, adt("A03", number, when="20260105120000"))) == "AA"
    assert stay_of(platform).state is StayState.finished
    assert ack_code(send(mllp_port, adt("A13", number))) == "AA"
    assert stay_of(platform).state is StayState.in_progress and stay_of(platform).discharged_at is None
    assert ack_code(send(mllp_port, adt("A11", number))) == "AA"
    assert stay_of(platform).state is StayState.cancelled
    assert ack_code(send(mllp_port, adt("A04", number, visit="OUT7", patient_class="O"))) == "AA"
    assert stay_of(platform, "OUT7").patient_class.value == "outpatient"


def test_the_same_message_twice_changes_nothing_the_second_time(platform: Platform, hospital, mllp_port: int) -> None:  # type: ignore[no-untyped-def]
    message = adt("A01", hospital["number"], control="DUP1")
    first = send(mllp_port, message)
    with platform.sessions() as session:
        entries = session.scalar(select(func.count()).select_from(TraceEntry))
    second = send(mllp_port, message)
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
    platform: Platform, hospital, mllp_port: int, message: str, code: str, where: str, ack: str  # type: ignore[no-untyped-def]
) -> None:
    answer = send(mllp_port, message)
    assert ack_code(answer) == ack
    assert error_of(answer) == (where, code)
    with platform.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Stay)) == 0


def test_an_unknown_patient_unit_or_sender_is_named(platform: Platform, hospital, mllp_port: int) -> None:  # type: ignore[no-untyped-def]
    unknown_patient = send(mllp_port, adt("A01", "1893120105732"))
    assert (ack_code(unknown_patient), error_of(unknown_patient)) == ("AE", ("PID^1^3", "204"))
    unknown_unit = send(mllp_port, adt("A01", hospital["number"], unit="ICU"))
    assert (ack_code(unknown_unit), error_of(unknown_unit)) == ("AE", ("PV1^1^3", "103"))
    unknown_sender = send(mllp_port, adt("A01", hospital["number"], facility="NOWHERE"))
    assert (ack_code(unknown_sender), error_of(unknown_sender)) == ("AR", ("MSH^1^4", "103"))
    with platform.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Stay)) == 0
        refusals = session.scalars(select(TraceEntry).where(TraceEntry.action == "stay.report",
                                                            TraceEntry.outcome == "refused")).all()
    assert len(refusals) == 3


def test_a_hospital_reports_only_its_own_stays(platform: Platform, hospital, mllp_port: int) -> None:  # type: ignore[no-untyped-def]
    assert ack_code(send(mllp_port, adt("A01", hospital["number"]))) == "AA"
    answer = send(mllp_port, adt("A03", hospital["number"], facility="SUD", unit=""))
    assert (ack_code(answer), error_of(answer)) == ("AE", ("PV1^1^19", "204"))
    assert stay_of(platform).state is StayState.in_progress


def test_the_care_team_sees_the_record_during_the_stay_and_not_a_week_after(
    platform: Platform, hospital, mllp_port: int, clock  # type: ignore[no-untyped-def]
) -> None:
    record, nurse, elsewhere = hospital["record"], hospital["nurse"], hospital["elsewhere"]
    with platform.transaction() as session:
        as_holder(session, platform, record).deposit(record.id, holder_draft("Mes notes"), [PDF])
    with refused(Reason.no_access), platform.transaction() as session:
        as_professional(session, platform, nurse).list_documents(record.id)
    send(mllp_port, adt("A01", hospital["number"]))
    with platform.transaction() as session:
        assert as_professional(session, platform, nurse).list_documents(record.id).total == 1
    with platform.sessions() as session:
        entry = session.scalars(select(TraceEntry).where(TraceEntry.actor_id == str(nurse.id),
                                                         TraceEntry.outcome == "permitted")).one()
    assert entry.basis == "stay" and entry.context["stay"]["organisation"] == "Centre Hospitalier"
    assert entry.context["stay"]["care_unit"] == "Cardiologie"
    with refused(Reason.no_access), platform.transaction() as session:
        as_professional(session, platform, elsewhere).list_documents(record.id)

    send(mllp_port, adt("A03", hospital["number"], when=clock.now().strftime("%Y%m%d%H%M%S+0000")))
    clock.advance(timedelta(days=7) - timedelta(seconds=1))
    with platform.transaction() as session:
        assert as_professional(session, platform, nurse).list_documents(record.id).total == 1
    clock.advance(timedelta(seconds=1))
    with refused(Reason.no_access), platform.transaction() as session:
        as_professional(session, platform, nurse).list_documents(record.id)


def test_a_cancelled_admission_removes_access_at_once(platform: Platform, hospital, mllp_port: int) -> None:  # type: ignore[no-untyped-def]
    record, nurse = hospital["record"], hospital["nurse"]
    send(mllp_port, adt("A01", hospital["number"]))
    send(mllp_port, adt("A11", hospital["number"]))
    with refused(Reason.no_access), platform.transaction() as session:
        as_professional(session, platform, nurse).list_documents(record.id)


def test_the_holder_may_refuse_institutional_access(platform: Platform, hospital, mllp_port: int) -> None:  # type: ignore[no-untyped-def]
    record, nurse, chl = hospital["record"], hospital["nurse"], hospital["chl"]
    send(mllp_port, adt("A01", hospital["number"]))
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

"""HL7 v2 ADT messages in, acknowledgements out.

Parsing is python-hl7's; this module maps the fields OpenDSP needs (MSH, EVN,
PID-3, PV1) to a ``StayReport`` and builds the ACK: AA when applied, AE or AR
with an ERR segment naming the segment, field and HL7 error code (table 0357)
otherwise. A message seen before (same sender, same MSH-10) gets its first
answer again and changes nothing; a message refused changes nothing.
Who may send what, and what a refusal tells the peer, is ``feed``'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import hl7

from opendsp.persons.national_number import InvalidNationalNumber, parse_national_number
from opendsp.stays.models import PatientClass
from opendsp.stays.services import StayEvent, StayReport

EVENTS = {
    "A01": StayEvent.admit,
    "A02": StayEvent.transfer,
    "A03": StayEvent.discharge,
    "A04": StayEvent.register_outpatient,
    "A08": StayEvent.update,
    "A11": StayEvent.cancel_admit,
    "A13": StayEvent.cancel_discharge,
}
PATIENT_CLASSES = {"I": PatientClass.inpatient, "O": PatientClass.outpatient, "E": PatientClass.emergency}
ERROR_TEXT = {
    "100": "Segment sequence error",
    "101": "Required field missing",
    "102": "Data type error",
    "103": "Table value not found",
    "200": "Unsupported message type",
    "201": "Unsupported event code",
    "204": "Unknown key identifier",
    "205": "Duplicate key identifier",
    "207": "Application internal error",
}
OUR_APPLICATION = "OPENDSP"
OUR_FACILITY = "DSP"


class MessageRefused(Exception):
    def __init__(self, ack_code: str, error_code: str, location: str, message: str) -> None:
        super().__init__(message)
        self.ack_code = ack_code
        self.error_code = error_code
        self.location = location  # "PV1-19" style


@dataclass(frozen=True)
class Header:
    sending_application: str
    sending_facility: str
    message_type: str
    event: str
    control_id: str
    version: str


def _field(message: hl7.Message, segment: str, index: int, component: int = 1) -> str:
    try:
        value = message.segment(segment)[index]
    except (KeyError, IndexError):
        return ""
    text = str(value)
    if component and hasattr(value, "__getitem__") and not isinstance(value, str):
        parts = text.split("^")
        return parts[component - 1].strip() if len(parts) >= component else ""
    return text.strip()


def _parse_time(raw: str, location: str) -> datetime | None:
    """HL7 DTM: YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ]; without an offset it is Luxembourg time."""
    if not raw:
        return None
    text, offset = raw, None
    for sign in ("+", "-"):
        if sign in raw[8:]:
            cut = raw.rindex(sign)
            text, zone = raw[:cut], raw[cut + 1 :]
            try:
                minutes = int(zone[:2]) * 60 + int(zone[2:4])
            except ValueError:
                raise MessageRefused("AE", "102", location, f"{raw!r} has a bad time zone") from None
            offset = timezone(timedelta(minutes=minutes if sign == "+" else -minutes))
    text = text.split(".")[0]
    formats = {14: "%Y%m%d%H%M%S", 12: "%Y%m%d%H%M", 10: "%Y%m%d%H", 8: "%Y%m%d"}
    try:
        moment = datetime.strptime(text, formats[len(text)])
    except (KeyError, ValueError):
        raise MessageRefused("AE", "102", location, f"{raw!r} is not an HL7 date and time") from None
    if offset is None:
        from zoneinfo import ZoneInfo

        return moment.replace(tzinfo=ZoneInfo("Europe/Luxembourg")).astimezone(UTC)
    return moment.replace(tzinfo=offset).astimezone(UTC)


def _header(message: hl7.Message) -> Header:
    return Header(
        sending_application=_field(message, "MSH", 3),
        sending_facility=_field(message, "MSH", 4),
        message_type=_field(message, "MSH", 9, 1),
        event=_field(message, "MSH", 9, 2),
        control_id=_field(message, "MSH", 10),
        version=_field(message, "MSH", 12),
    )


def _national_number(message: hl7.Message) -> str:
    try:
        pid = message.segment("PID")
    except KeyError:
        raise MessageRefused("AE", "100", "PID", "the message has no PID segment") from None
    repetitions = str(pid[3]).split("~") if len(pid) > 3 else []
    for repetition in repetitions:
        number = repetition.split("^")[0].strip()
        if number:
            try:
                return parse_national_number(number).value
            except InvalidNationalNumber as error:
                raise MessageRefused("AE", "102", "PID-3", f"{number}: {error}") from None
    raise MessageRefused("AE", "101", "PID-3", "the patient's national number is missing")


def to_report(message: hl7.Message, header: Header, at: datetime) -> StayReport:
    if header.message_type != "ADT":
        raise MessageRefused("AR", "200", "MSH-9", f"message type {header.message_type!r} is not ADT")
    if header.event not in EVENTS:
        raise MessageRefused("AR", "201", "MSH-9", f"event {header.event!r} is not one of {', '.join(EVENTS)}")
    national_number = _national_number(message)
    try:
        message.segment("PV1")
    except KeyError:
        raise MessageRefused("AE", "100", "PV1", "the message has no PV1 segment") from None
    visit = _field(message, "PV1", 19)
    if not visit:
        raise MessageRefused("AE", "101", "PV1-19", "the visit number is missing")
    patient_class = _field(message, "PV1", 2) or "I"
    if patient_class not in PATIENT_CLASSES:
        raise MessageRefused("AE", "103", "PV1-2", f"patient class {patient_class!r} is not I, O or E")
    occurred = _parse_time(_field(message, "EVN", 2), "EVN-2") or _parse_time(_field(message, "MSH", 7), "MSH-7") or at
    return StayReport(
        event=EVENTS[header.event],
        national_number=national_number,
        visit_number=visit,
        occurred_at=occurred,
        patient_class=PATIENT_CLASSES[patient_class],
        care_unit_code=_field(message, "PV1", 3, 1) or None,
        admitted_at=_parse_time(_field(message, "PV1", 44), "PV1-44"),
        discharged_at=_parse_time(_field(message, "PV1", 45), "PV1-45"),
    )


def acknowledgement(header: Header | None, ack_code: str, *, at: datetime, error: MessageRefused | None = None) -> str:
    received = header or Header("", "", "", "", "", "2.5")
    segments = [
        _ack_header(received, at),
        f"MSA|{ack_code}|{received.control_id}" + (f"|{_escape(str(error))}" if error else ""),
    ]
    if error is not None:
        segment, _, field = error.location.partition("-")
        location = f"{segment}^1^{field}" if field else segment
        segments.append(
            f"ERR||{location}|{error.error_code}^{ERROR_TEXT[error.error_code]}^HL70357|E||||{_escape(str(error))}"
        )
    return "\r".join(segments)


def refusal_revealing_nothing(header: Header | None, *, at: datetime) -> str:
    """The AR for a peer not proven to be a registered sender: the same whatever went wrong.

    It echoes only what the peer sent (its names, its control id) and says no more
    than "refused": no ERR segment, so nothing tells an unknown sender from an
    unknown patient.
    """
    received = header or Header("", "", "", "", "", "2.5")
    return "\r".join([_ack_header(received, at), f"MSA|AR|{received.control_id}|message refused"])


def _ack_header(received: Header, at: datetime) -> str:
    return "|".join(
        [
            "MSH",
            "^~\\&",
            OUR_APPLICATION,
            OUR_FACILITY,
            received.sending_application,
            received.sending_facility,
            at.strftime("%Y%m%d%H%M%S+0000"),
            "",
            f"ACK^{received.event}^ACK" if received.event else "ACK",
            f"ACK{received.control_id}"[:20] if received.control_id else "ACK",
            "P",
            received.version or "2.5",
        ]
    )


def parse_message(raw: str) -> tuple[hl7.Message, Header]:
    """The parsed message and its header; MessageRefused (AR) if it is not HL7 v2 with a control id."""
    try:
        message = hl7.parse(raw.replace("\n", "\r").strip("\r"))
        header = _header(message)
    except Exception:  # noqa: BLE001 - whatever the parser chokes on, the answer is a clear reject
        raise MessageRefused("AR", "100", "MSH", "the message cannot be parsed as HL7 v2") from None
    if not header.control_id:
        raise MessageRefused("AR", "101", "MSH-10", "the message control id is missing")
    return message, header


def header_of_head(head: bytes) -> Header | None:
    """The header of a message known only by its first bytes (one too large to read whole)."""
    first_segment = head.replace(b"\n", b"\r").lstrip(b"\r").split(b"\r", 1)[0]
    try:
        return parse_message(first_segment.decode("utf-8", errors="replace"))[1]
    except MessageRefused:
        return None


def _escape(text: str) -> str:
    return (
        text.replace("\\", "\\E\\").replace("|", "\\F\\").replace("^", "\\S\\").replace("&", "\\T\\").replace("~", "\\R\\")
    )

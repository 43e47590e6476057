"""The MLLP listener attacked from outside: forged senders, strangers, huge messages, idle and surplus connections.

Each test runs a real listener (mutual TLS with certificates made for the test,
or plain TCP in development mode) and talks to it with python-hl7's framing
over Python's ``ssl``, or with raw sockets where the attack is below HL7.
"""

from __future__ import annotations

import logging
import socket
import ssl
import time
from datetime import timedelta

import hl7
import pytest
from sqlalchemy import func, select

from opendsp.platform import Platform
from opendsp.policy.vocabulary import Reason
from opendsp.settings import InsecureSettings, Mode, Settings
from opendsp.stays.certificates import read_certificate
from opendsp.stays.mllp import PLAIN_TCP_WARNING, ListenerConfig
from opendsp.stays.models import Stay
from opendsp.stays.tls import ListenerSettingsError
from opendsp.trace.models import TraceEntry
from tests.access.test_record_access import refused
from tests.factories import as_professional
from tests.stays.conftest import Listen, tls_config
from tests.stays.hl7_clients import ack_code, adt, client_context, error_of, exchange_tls, send_plain, send_tls
from tests.stays.pki import Pki

pytestmark = pytest.mark.usefixtures("hospital")


def stays(platform: Platform) -> int:
    with platform.sessions() as session:
        return session.scalar(select(func.count()).select_from(Stay)) or 0


def refusals(platform: Platform) -> list[TraceEntry]:
    with platform.sessions() as session:
        return list(session.scalars(
            select(TraceEntry).where(TraceEntry.action == "stay.report", TraceEntry.outcome == "refused")
            .order_by(TraceEntry.recorded_at, TraceEntry.id)
        ))


def fingerprint_of(path) -> str:  # type: ignore[no-untyped-def]
    return read_certificate(path.read_bytes()).sha256


def closed_by_the_listener(connection: socket.socket, *, within: float = 10.0) -> bool:
    """True when the listener ends the connection (end of stream or reset) before ``within`` seconds."""
    connection.settimeout(within)
    try:
        return connection.recv(1024) == b""
    except (ConnectionError, ssl.SSLError):
        return True
    except TimeoutError:
        return False


def tls_connection(port: int, pki: Pki, client) -> ssl.SSLSocket:  # type: ignore[no-untyped-def]
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    return client_context(pki, client).wrap_socket(raw, server_hostname="localhost")


# -- who may send --


def test_a_forged_admission_over_plain_tcp_opens_nothing(platform: Platform, hospital, tls_port: int) -> None:  # type: ignore[no-untyped-def]
    # Today's listener applied this A01 and opened the record to the hospital's staff.
    with socket.create_connection(("127.0.0.1", tls_port), timeout=10) as connection:
        connection.sendall(b"\x0b" + adt("A01", hospital["number"]).encode() + b"\x1c\r")
        assert closed_by_the_listener(connection)  # and not one byte of answer
    assert stays(platform) == 0
    with refused(Reason.no_access), platform.transaction() as session:
        as_professional(session, platform, hospital["nurse"]).list_documents(hospital["record"].id)


@pytest.mark.parametrize("who", ["no certificate", "a certificate from another CA"])
def test_a_peer_without_a_hospital_certificate_is_refused_at_the_handshake(
    platform: Platform, hospital, tls_port: int, pki: Pki, who: str  # type: ignore[no-untyped-def]
) -> None:
    client = None if who == "no certificate" else pki.stranger
    with pytest.raises((ssl.SSLError, ConnectionError, EOFError, OSError)):
        send_tls(tls_port, adt("A01", hospital["number"]), pki=pki, client=client)
    assert stays(platform) == 0


@pytest.mark.parametrize("claimed", ["SUD", "NOWHERE"], ids=["another hospital's sender", "an unknown sender"])
def test_hospital_a_certificate_naming_another_sender_gets_AR_and_is_traced(
    platform: Platform, hospital, tls_port: int, pki: Pki, claimed: str  # type: ignore[no-untyped-def]
) -> None:
    answer = send_tls(tls_port, adt("A01", hospital["number"], facility=claimed, control="FORGED1"),
                      pki=pki, client=pki.chl)
    assert (ack_code(answer), error_of(answer)) == ("AR", ("MSH^1^4", "103"))
    # The answer names only the certificate's own sender: whether the claimed one exists is not said.
    assert str(answer.segment("MSA")[3]) == f"HIS/{claimed} is not the sender bound to this certificate (HIS/CHL)"
    assert stays(platform) == 0
    [entry] = refusals(platform)
    assert entry.context["sender"] == f"HIS/{claimed}" and entry.context["control_id"] == "FORGED1"
    assert entry.context["certificate_sha256"] == fingerprint_of(pki.chl.certificate)
    assert entry.context["certificate_subject"] == "HIS CHL"


def test_each_hospital_reports_with_its_own_certificate(platform: Platform, hospital, tls_port: int, pki: Pki) -> None:  # type: ignore[no-untyped-def]
    assert ack_code(send_tls(tls_port, adt("A01", hospital["number"], facility="SUD", unit="", visit="S1"),
                             pki=pki, client=pki.sud)) == "AA"
    assert ack_code(send_tls(tls_port, adt("A01", hospital["number"], visit="C1"), pki=pki, client=pki.chl)) == "AA"
    assert stays(platform) == 2


# -- what a peer not proven learns --


def _strangers_messages(number: str) -> dict[str, str]:
    """Messages that fail for different reasons, all with the same control id."""
    return {
        "an unknown sender": adt("A01", number, facility="NOWHERE", control="Q1"),
        "an unknown patient": adt("A01", "1893120105732", control="Q1"),
        "an unknown care unit": adt("A01", number, unit="ICU", control="Q1"),
        "an event for no stay": adt("A03", number, control="Q1"),
        "a bad national number": adt("A01", "1893120105731", control="Q1"),
    }


def _shown(answer: hl7.Message) -> list[str]:
    """What an ACK tells, less the echo of the peer's own MSH-3/MSH-4 and event."""
    segments = str(answer).strip("\r").split("\r")
    return [segments[0].replace("|HIS|NOWHERE|", "|HIS|CHL|").replace("|ACK^A03^", "|ACK^A01^"), *segments[1:]]


def test_a_certificate_bound_to_no_sender_learns_nothing(platform: Platform, hospital, tls_port: int, pki: Pki) -> None:  # type: ignore[no-untyped-def]
    messages = _strangers_messages(hospital["number"])
    # Even the message a registered hospital would have applied is refused to it.
    messages["a good admission"] = adt("A01", hospital["number"], control="Q1")
    answers = {why: send_tls(tls_port, message, pki=pki, client=pki.unbound) for why, message in messages.items()}
    first = _shown(answers["a good admission"])
    assert first[1] == "MSA|AR|Q1|message refused" and len(first) == 2  # no ERR segment
    assert {why: _shown(answer) for why, answer in answers.items()} == dict.fromkeys(messages, first)
    assert stays(platform) == 0


def test_a_peer_on_plain_tcp_in_development_learns_nothing_from_a_refusal(
    platform: Platform, hospital, listen: Listen  # type: ignore[no-untyped-def]
) -> None:
    port = listen(ListenerConfig(tls=None))
    answers = {why: send_plain(port, message) for why, message in _strangers_messages(hospital["number"]).items()}
    shown = {_shown(answer)[1] for answer in answers.values()}
    assert shown == {"MSA|AR|Q1|message refused"}
    assert all(len(_shown(answer)) == 2 for answer in answers.values())  # no ERR segment


# -- bounded trace --


def test_a_stranger_s_refusals_are_traced_once_per_window_with_the_count_of_the_others(
    platform: Platform, hospital, tls_port: int, pki: Pki, clock  # type: ignore[no-untyped-def]
) -> None:
    messages = [adt("A01", hospital["number"], control=f"S{n}") for n in range(5)]
    exchange_tls(tls_port, messages, pki=pki, client=pki.unbound)
    [first] = refusals(platform)
    assert first.context["control_id"] == "S0" and first.context["certificate_subject"] == "Some Lab"
    clock.advance(timedelta(hours=1))
    exchange_tls(tls_port, [adt("A01", hospital["number"], control="S5")], pki=pki, client=pki.unbound)
    entries = refusals(platform)
    assert len(entries) == 2
    assert entries[1].context["control_id"] == "S5" and entries[1].context["refusals_not_traced_before"] == 4


def test_a_proven_sender_s_refusals_are_each_traced(platform: Platform, hospital, tls_port: int, pki: Pki) -> None:  # type: ignore[no-untyped-def]
    messages = [adt("A01", "1893120105732", control=f"P{n}") for n in range(3)]
    answers = exchange_tls(tls_port, messages, pki=pki, client=pki.chl)
    assert [error_of(answer) for answer in answers] == [("PID^1^3", "204")] * 3
    assert [entry.context["control_id"] for entry in refusals(platform)] == ["P0", "P1", "P2"]


# -- size, silence, number of connections --


def big_admission(number: str, size: int, *, control: str) -> str:
    return adt("A01", number, control=control) + "\rNTE|1||" + "x" * size


def test_a_message_over_64_kib_is_applied_and_one_over_the_limit_gets_AR(
    platform: Platform, hospital, listen: Listen, pki: Pki  # type: ignore[no-untyped-def]
) -> None:
    # Today's listener answers neither (an uncaught ValueError past 64 KiB): the sender retries forever.
    port = listen(tls_config(pki, max_message_bytes=200 * 1024))
    number = hospital["number"]
    over, under, after = exchange_tls(
        port,
        [big_admission(number, 300 * 1024, control="BIG1"), big_admission(number, 70 * 1024, control="BIG2"),
         adt("A08", number, control="AFTER")],
        pki=pki, client=pki.chl,
    )
    assert (ack_code(over), error_of(over)) == ("AR", ("MSH", "207"))
    assert str(over.segment("MSA")[2]) == "BIG1"  # the sender can tell which message was refused
    assert "larger than 204800 bytes" in str(over.segment("MSA")[3])
    # The connection goes on: the next messages are read whole and applied.
    assert (ack_code(under), ack_code(after)) == ("AA", "AA")
    assert stays(platform) == 1
    [entry] = refusals(platform)
    assert entry.context["control_id"] == "BIG1" and entry.context["hospital"] == str(hospital["chl"].id)


def test_the_default_size_limit_is_one_mebibyte() -> None:
    assert Settings().mllp_max_message_bytes == 1024 * 1024 == ListenerConfig(tls=None).max_message_bytes


def test_an_oversized_message_from_a_stranger_gets_the_neutral_AR(
    platform: Platform, hospital, listen: Listen  # type: ignore[no-untyped-def]
) -> None:
    port = listen(ListenerConfig(tls=None, max_message_bytes=2048))
    answer = send_plain(port, big_admission(hospital["number"], 4096, control="Q1"))
    assert _shown(answer)[1:] == ["MSA|AR|Q1|message refused"]


def test_a_connection_silent_in_the_middle_of_a_message_is_closed(
    platform: Platform, hospital, listen: Listen, pki: Pki  # type: ignore[no-untyped-def]
) -> None:
    port = listen(tls_config(pki, idle_timeout=0.3, max_connections=1))
    with tls_connection(port, pki, pki.chl) as connection:
        connection.sendall(b"\x0b" + adt("A01", hospital["number"]).encode()[:40])
        assert closed_by_the_listener(connection)
    # Its place is free again.
    assert _served_within(port, pki, hospital, seconds=10)
    assert stays(platform) == 1


def test_a_connection_silent_between_messages_is_closed_after_the_keepalive(
    platform: Platform, hospital, listen: Listen, pki: Pki  # type: ignore[no-untyped-def]
) -> None:
    port = listen(tls_config(pki, keepalive=0.3))
    with tls_connection(port, pki, pki.chl) as connection:
        connection.sendall(b"\x0b" + adt("A01", hospital["number"]).encode() + b"\x1c\r")
        connection.settimeout(10)
        assert b"MSA|AA|" in connection.recv(4096)
        assert closed_by_the_listener(connection)


def test_a_connection_that_never_finishes_its_handshake_is_closed(
    platform: Platform, listen: Listen, pki: Pki  # type: ignore[no-untyped-def]
) -> None:
    port = listen(tls_config(pki, idle_timeout=0.3))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(b"\x16\x03\x01")  # the first bytes of a ClientHello, and no more
        assert closed_by_the_listener(connection)


def test_a_connection_over_the_limit_is_refused_and_the_others_are_served(
    platform: Platform, hospital, listen: Listen, pki: Pki  # type: ignore[no-untyped-def]
) -> None:
    port = listen(tls_config(pki, max_connections=2))
    first, second = tls_connection(port, pki, pki.chl), tls_connection(port, pki, pki.chl)
    try:
        with pytest.raises(OSError):  # closed before any TLS: the handshake fails
            with tls_connection(port, pki, pki.chl) as third:
                third.recv(1)
        first.sendall(b"\x0b" + adt("A01", hospital["number"]).encode() + b"\x1c\r")
        first.settimeout(10)
        assert b"MSA|AA|" in first.recv(4096)
    finally:
        first.close()
        second.close()
    assert _served_within(port, pki, hospital, seconds=10, visit="V2")


def test_one_address_cannot_take_every_slot_with_handshakes_it_never_finishes(
    platform: Platform, hospital, listen: Listen, pki: Pki  # type: ignore[no-untyped-def]
) -> None:
    port = listen(tls_config(pki, max_connections=50, max_connections_per_peer=3))
    stranger = "127.0.0.3"  # the whole of 127/8 is this machine: a second peer address without a network
    pending = [socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(stranger, 0))
               for _ in range(3)]
    try:
        for connection in pending:
            connection.sendall(b"\x16\x03\x01")  # the first bytes of a ClientHello, and no more
        one_more = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(stranger, 0))
        with one_more:
            assert closed_by_the_listener(one_more, within=5)  # closed at once, not after the idle timeout
        assert not any(closed_by_the_listener(connection, within=0.2) for connection in pending)
        # The hospital, from its own address, is served while the stranger's handshakes still hang.
        assert _answer_from("127.0.0.2", port, pki, hospital, visit="V1") == "AA"
    finally:
        for connection in pending:
            connection.close()
    # Once its connections end, the address is served again (the listener notices the ends asynchronously).
    deadline = time.monotonic() + 10
    while (answer := _answer_from(stranger, port, pki, hospital, visit="V2")) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert answer == "AA" and stays(platform) == 2


def _answer_from(address: str, port: int, pki: Pki, hospital, *, visit: str) -> str | None:  # type: ignore[no-untyped-def]
    """The ACK code of an admission sent with the hospital's certificate from ``address``; None if cut off."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(address, 0)) as raw, \
                client_context(pki, pki.chl).wrap_socket(raw, server_hostname="localhost") as link:
            link.sendall(b"\x0b" + adt("A01", hospital["number"], visit=visit).encode() + b"\x1c\r")
            answer = link.recv(4096)
    except OSError:
        return None
    return "AA" if b"MSA|AA|" in answer else answer.decode(errors="replace")


def test_the_default_per_address_limit_is_five() -> None:
    assert Settings().mllp_max_connections_per_peer == 5 == ListenerConfig(tls=None).max_connections_per_peer


def _served_within(port: int, pki: Pki, hospital, *, seconds: float, visit: str = "V1") -> bool:  # type: ignore[no-untyped-def]
    """The listener serves a new connection within ``seconds`` (it notices a closed one asynchronously)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            answer = send_tls(port, adt("A01", hospital["number"], visit=visit), pki=pki, client=pki.chl)
        except OSError:
            time.sleep(0.05)
            continue
        return ack_code(answer) == "AA"
    return False


# -- how it starts --


@pytest.mark.parametrize(
    ("mode", "tls_files", "refusal"),
    [
        (Mode.production, (), InsecureSettings),
        (Mode.production, ("certificate", "key"), ListenerSettingsError),
        (Mode.development, ("certificate",), ListenerSettingsError),
    ],
    ids=["production without TLS", "production without client CA", "development with half a TLS setup"],
)
def test_the_listener_refuses_to_start_without_complete_tls_where_required(
    tmp_path, pki: Pki, mode: Mode, tls_files: tuple[str, ...], refusal: type[Exception]  # type: ignore[no-untyped-def]
) -> None:
    files = {"certificate": pki.server.certificate, "key": pki.server.key, "client_ca": pki.hospitals_ca.certificate}
    settings = Settings(var_dir=tmp_path, mode=mode, **{f"mllp_tls_{name}": files[name] for name in tls_files})
    with pytest.raises(refusal):
        ListenerConfig.from_settings(settings)


def test_production_refuses_to_serve_the_listener_beside_the_web_without_tls(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(var_dir=tmp_path, mode=Mode.production, database_url="postgresql://db/x", mllp_port=2575)
    with pytest.raises(InsecureSettings, match="MLLP"):
        settings.check_production()


def test_plain_tcp_in_development_says_so_at_start_up(
    platform: Platform, listen: Listen, pki: Pki, caplog: pytest.LogCaptureFixture  # type: ignore[no-untyped-def]
) -> None:
    with caplog.at_level(logging.INFO, logger="opendsp.stays.mllp"):
        listen(ListenerConfig(tls=None))
        listen(tls_config(pki))
    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert [record.msg for record in warnings] == [PLAIN_TCP_WARNING]
    assert any("client certificates required" in record.getMessage() for record in caplog.records)


def test_the_web_server_no_longer_listens_for_mllp_the_listener_is_its_own_process(
    platform: Platform, hospital  # type: ignore[no-untyped-def]
) -> None:
    """`opendsp serve --workers N` would bind the port N times: `opendsp mllp` listens (tests/test_processes.py)."""
    from fastapi.testclient import TestClient

    from opendsp.web.app import create_app

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        platform.settings.mllp_port = probe.getsockname()[1]
    with TestClient(create_app(platform=platform)), pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", platform.settings.mllp_port), timeout=5).close()


def test_the_handshake_succeeds_where_python_ignores_a_pause_made_as_the_connection_opens(
        platform: Platform, hospital, listen: Listen, pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """Python before 3.11.4 (Debian 12's 3.11.2, the image's) starts reading a new connection after
    connection_made even when it was paused there (CPython gh-103607): every handshake then timed out in the
    image's listener. The transport's method is given that behaviour here, so that this interpreter shows it."""
    from asyncio import selector_events

    def add_reader_ignoring_pause(self, fd, callback, *args) -> None:  # type: ignore[no-untyped-def]
        if not self._closing:
            self._loop._add_reader(fd, callback, *args)

    monkeypatch.setattr(selector_events._SelectorTransport, "_add_reader", add_reader_ignoring_pause)
    port = listen(tls_config(pki))
    for visit in ("P1", "P2", "P3"):
        assert ack_code(send_tls(port, adt("A01", hospital["number"], visit=visit), pki=pki, client=pki.chl)) == "AA"
    assert stays(platform) == 3

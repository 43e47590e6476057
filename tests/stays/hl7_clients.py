"""Hospitals' side of the feed: ADT messages, sent with python-hl7's MLLP framing over TLS or plain TCP."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
import itertools
import ssl

import hl7
from hl7.client import MLLPClient
from hl7.mllp import open_hl7_connection

from tests.stays.pki import Issued, Pki

_control = itertools.count(1)


def adt(event: str, number: str, *, visit: str = "V100", unit: str = "CARDIO", facility: str = "CHL",
        control: str | None = None, when: str = "20260101100000", patient_class: str = "I") -> str:
    control = control or f"MSG{next(_control)}"
    return "\r".join([
        f"MSH|^~\\&|HIS|{facility}|OPENDSP|DSP|{when}||ADT^{event}^ADT_A01|{control}|P|2.5",
        f"EVN|{event}|{when}",
        f"PID|1||{number}^^^LUXNAT^NI||Muller^Jean||19800517|M",
        f"PV1|1|{patient_class}|{unit}^101^1||||||||||||||||{visit}",
    ])


def client_context(pki: Pki, client: Issued | None) -> ssl.SSLContext:
    """A hospital's TLS client: it verifies the listener, and presents ``client``'s certificate if any."""
    context = ssl.create_default_context(cafile=str(pki.hospitals_ca.certificate))
    if client is not None:
        context.load_cert_chain(str(client.certificate), str(client.key))
    return context


def send_tls(port: int, message: str | bytes, *, pki: Pki, client: Issued | None) -> hl7.Message:
    """One message over TLS, framed by python-hl7; its ACK parsed."""
    return exchange_tls(port, [message], pki=pki, client=client)[0]


def exchange_tls(port: int, messages: list[str | bytes], *, pki: Pki, client: Issued | None) -> list[hl7.Message]:
    """Several messages one after the other on one TLS connection, each ACK read before the next is sent."""
    # In a thread of its own: a browser test earlier in this process leaves Playwright's event loop running in
    # the main thread, where asyncio.run() refuses to start another.
    with ThreadPoolExecutor(1) as thread:
        acks = thread.submit(asyncio.run, _exchange(port, messages, client_context(pki, client))).result()
    return [hl7.parse(ack) for ack in acks]


async def _exchange(port: int, messages: list[str | bytes], context: ssl.SSLContext) -> list[str]:
    # The ACK is small, but the reader's limit must hold it: python-hl7's default (64 KiB) does.
    reader, writer = await open_hl7_connection("127.0.0.1", port, ssl=context, encoding="utf-8")
    answers = []
    try:
        for message in messages:
            writer.writeblock(message.encode() if isinstance(message, str) else message)
            await writer.drain()
            answers.append((await asyncio.wait_for(reader.readblock(), 20)).decode())
    finally:
        writer.close()
    return answers


def send_plain(port: int, message: str) -> hl7.Message:
    with MLLPClient("127.0.0.1", port) as client:
        answer = client.send_message(message)
    return hl7.parse(answer.decode() if isinstance(answer, bytes) else answer)


def ack_code(answer: hl7.Message) -> str:
    return str(answer.segment("MSA")[1])


def error_of(answer: hl7.Message) -> tuple[str, str]:
    err = answer.segment("ERR")
    return str(err[2]), str(err[3]).split("^")[0]

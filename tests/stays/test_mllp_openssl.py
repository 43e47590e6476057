"""The listener with a TLS client this project did not write: Debian's ``openssl s_client``.

The MLLP frame is written by hand around the message, as an interface engine
would send it; the test certificates are the same real ones as elsewhere.
"""

from __future__ import annotations

import selectors
import shutil
import subprocess
import time

import pytest

from opendsp.platform import Platform
from tests.stays.hl7_clients import adt
from tests.stays.pki import Issued, Pki
from tests.stays.test_mllp_perimeter import stays

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed (apt-get install openssl)")


def s_client(port: int, pki: Pki, client: Issued | None, message: str, *, wait: float = 15.0) -> bytes:
    """Send one framed message through ``openssl s_client`` and return what came back (up to the frame's end)."""
    command = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost",
               "-CAfile", str(pki.hospitals_ca.certificate), "-verify_return_error", "-quiet", "-nocommands"]
    if client is not None:
        command += ["-cert", str(client.certificate), "-key", str(client.key)]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdin is not None and process.stdout is not None
    received = b""
    try:
        process.stdin.write(b"\x0b" + message.encode() + b"\x1c\r")
        process.stdin.flush()
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            deadline = time.monotonic() + wait
            while b"\x1c\r" not in received and (left := deadline - time.monotonic()) > 0:
                if not selector.select(left):
                    break
                chunk = process.stdout.read1(4096)  # type: ignore[attr-defined]
                if not chunk:
                    break  # s_client ended: the listener closed the connection
                received += chunk
    finally:
        process.kill()
        process.wait(10)
        process.stdin.close()
        process.stdout.close()
        process.stderr.close()  # type: ignore[union-attr]
    return received


def test_openssl_s_client_with_a_hospital_certificate_reports_an_admission(
    platform: Platform, hospital, tls_port: int, pki: Pki  # type: ignore[no-untyped-def]
) -> None:
    answer = s_client(tls_port, pki, pki.chl, adt("A01", hospital["number"], control="OSSL1"))
    assert answer.startswith(b"\x0bMSH|") and b"\rMSA|AA|OSSL1" in answer and answer.endswith(b"\x1c\r")
    assert stays(platform) == 1


def test_openssl_s_client_without_a_certificate_gets_no_answer(
    platform: Platform, hospital, tls_port: int, pki: Pki  # type: ignore[no-untyped-def]
) -> None:
    assert s_client(tls_port, pki, None, adt("A01", hospital["number"])) == b""
    assert stays(platform) == 0


def test_openssl_s_client_with_an_unbound_certificate_gets_the_neutral_AR(
    platform: Platform, hospital, tls_port: int, pki: Pki  # type: ignore[no-untyped-def]
) -> None:
    answer = s_client(tls_port, pki, pki.unbound, adt("A01", hospital["number"], control="OSSL2"))
    assert answer.endswith(b"\rMSA|AR|OSSL2|message refused\x1c\r")
    assert stays(platform) == 0

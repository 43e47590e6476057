"""The MLLP listener counts each message it answers by acknowledgement code (opendsp_mllp_messages_total)."""

from __future__ import annotations

from prometheus_client import REGISTRY

from opendsp.platform import Platform
from tests.stays.hl7_clients import ack_code, adt, send_tls
from tests.stays.pki import Pki


def answered(code: str) -> float:
    return REGISTRY.get_sample_value("opendsp_mllp_messages_total", {"code": code}) or 0.0


def test_each_acknowledgement_is_counted_by_its_code(platform: Platform, hospital, tls_port: int, pki: Pki) -> None:  # type: ignore[no-untyped-def]
    accepted, rejected = answered("AA"), answered("AR")
    assert ack_code(send_tls(tls_port, adt("A01", hospital["number"], visit="C1"), pki=pki, client=pki.chl)) == "AA"
    # A certificate of one hospital claiming to be the other: refused with AR.
    assert ack_code(send_tls(tls_port, adt("A01", hospital["number"], facility="SUD", control="FORGED1"),
                             pki=pki, client=pki.chl)) == "AR"
    assert (answered("AA"), answered("AR")) == (accepted + 1, rejected + 1)

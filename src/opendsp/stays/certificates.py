"""Hospitals' client certificates: what the registry stores and what the listener compares.

A certificate is pinned by the SHA-256 of its DER encoding, the value a TLS
stack hands over for the peer (``getpeercert(binary_form=True)``), so the
comparison needs no parsing on the hot path.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding


class CertificateError(ValueError):
    """The file is not a certificate; the message says why."""


@dataclass(frozen=True)
class CertificateIdentity:
    sha256: str
    subject: str
    not_after: datetime


def fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def read_certificate(data: bytes) -> CertificateIdentity:
    """The identity of one certificate, PEM (the first one in the file) or DER."""
    try:
        certificate = (
            x509.load_pem_x509_certificate(data) if b"-----BEGIN" in data else x509.load_der_x509_certificate(data)
        )
    except ValueError as error:
        raise CertificateError(f"not an X.509 certificate in PEM or DER ({error})") from None
    return CertificateIdentity(
        sha256=fingerprint(certificate.public_bytes(Encoding.DER)),
        subject=certificate.subject.rfc4514_string()[:500],
        not_after=certificate.not_valid_after_utc.astimezone(UTC),
    )

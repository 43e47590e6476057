"""A small PKI made for the tests: a CA for hospitals, the listener's certificate, clients' certificates.

Real X.509 certificates (the ``cryptography`` package), written as PEM files so
that Python's ``ssl`` and ``openssl s_client`` load them as they would in
production.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Issued:
    certificate: Path
    key: Path


@dataclass(frozen=True)
class Authority:
    name: str
    certificate: Path
    _cert: x509.Certificate
    _key: ec.EllipticCurvePrivateKey

    def issue(self, folder: Path, common_name: str, *, server: bool = False,
              not_after: datetime | None = None) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "OpenDSP tests"),
                                     x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(not_after or now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            )
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            )
        certificate = builder.sign(self._key, hashes.SHA256())
        stem = folder / common_name.replace(" ", "-").lower()
        return Issued(certificate=_write(stem.with_suffix(".pem"), certificate.public_bytes(serialization.Encoding.PEM)),
                      key=_write(stem.with_suffix(".key"), _pem_key(key)))


def authority(folder: Path, name: str) -> Authority:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .sign(key, hashes.SHA256())
    )
    path = _write(folder / f"{name.replace(' ', '-').lower()}.pem", certificate.public_bytes(serialization.Encoding.PEM))
    return Authority(name=name, certificate=path, _cert=certificate, _key=key)


@dataclass(frozen=True)
class Pki:
    """The hospitals' CA (trusted by the listener), a stranger's CA (trusted by nobody), and what they issued."""

    hospitals_ca: Authority
    server: Issued
    chl: Issued  # bound to the sender HIS/CHL
    sud: Issued  # bound to the sender HIS/SUD
    unbound: Issued  # signed by the hospitals' CA, bound to no sender
    stranger: Issued  # signed by a CA the listener does not trust


def make_pki(folder: Path) -> Pki:
    folder.mkdir(parents=True, exist_ok=True)
    hospitals = authority(folder, "Hospitals CA")
    other = authority(folder, "Stranger CA")
    return Pki(
        hospitals_ca=hospitals,
        server=hospitals.issue(folder, "mllp.opendsp.test", server=True),
        chl=hospitals.issue(folder, "HIS CHL"),
        sud=hospitals.issue(folder, "HIS SUD"),
        unbound=hospitals.issue(folder, "Some Lab"),
        stranger=other.issue(folder, "HIS CHL forged"),
    )


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path

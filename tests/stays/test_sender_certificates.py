"""Binding hospitals' senders to their client certificates: the registry and the ``opendsp stays`` commands."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from opendsp.actors import SYSTEM
from opendsp.cli import main
from opendsp.platform import Platform
from opendsp.stays.certificates import read_certificate
from opendsp.stays.models import AdtSender, AdtSenderCertificate
from opendsp.stays.registry import RegistryError, bind_certificate, unbind_certificate
from opendsp.trace.models import TraceEntry
from tests.stays.hl7_clients import ack_code, adt, send_tls
from tests.stays.pki import Pki


@pytest.fixture
def cli_env(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENDSP_DATABASE_URL", platform.settings.database_url)
    monkeypatch.setenv("OPENDSP_VAR_DIR", str(platform.settings.var_dir))


def identity(path: Path):  # type: ignore[no-untyped-def]
    return read_certificate(path.read_bytes())


def test_add_sender_binds_the_certificate_and_its_messages_are_applied(
    platform: Platform, hospital, cli_env: None, tls_port: int, pki: Pki  # type: ignore[no-untyped-def]
) -> None:
    result = CliRunner().invoke(main, ["stays", "add-sender", "--hospital", hospital["chl"].identifier,
                                       "--application", "ADT", "--facility", "CHL-2",
                                       "--certificate", str(pki.unbound.certificate)])
    assert result.exit_code == 0, result.output
    sha256 = identity(pki.unbound.certificate).sha256
    assert f"SHA-256 {sha256}" in result.output
    message = adt("A01", hospital["number"]).replace("|HIS|CHL|", "|ADT|CHL-2|")
    assert ack_code(send_tls(tls_port, message, pki=pki, client=pki.unbound)) == "AA"


@pytest.mark.parametrize(
    ("content", "said"),
    [(b"not a certificate", "not an X.509 certificate"), (None, "cannot read")],
    ids=["not a certificate", "no such file"],
)
def test_add_sender_refuses_what_is_not_a_certificate(
    platform: Platform, hospital, cli_env: None, tmp_path: Path, content: bytes | None, said: str  # type: ignore[no-untyped-def]
) -> None:
    path = tmp_path / "cert.pem"
    if content is not None:
        path.write_bytes(content)
    result = CliRunner().invoke(main, ["stays", "add-sender", "--hospital", hospital["chl"].identifier,
                                       "--application", "ADT", "--facility", "X", "--certificate", str(path)])
    assert result.exit_code == 2 and said in result.output
    assert "Traceback" not in result.output
    with platform.sessions() as session:
        assert session.scalars(select(AdtSender).where(AdtSender.sending_application == "ADT")).first() is None


def test_a_renewed_certificate_is_bound_beside_the_old_and_an_unbound_one_is_refused(
    platform: Platform, hospital, cli_env: None, tls_port: int, pki: Pki  # type: ignore[no-untyped-def]
) -> None:
    bind = CliRunner().invoke(main, ["stays", "bind-certificate", "--application", "HIS", "--facility", "CHL",
                                     "--certificate", str(pki.unbound.certificate)])
    assert bind.exit_code == 0, bind.output
    for client in (pki.chl, pki.unbound):
        admission = adt("A01", hospital["number"], visit=f"R-{client.certificate.stem}")
        assert ack_code(send_tls(tls_port, admission, pki=pki, client=client)) == "AA"
    old = identity(pki.chl.certificate).sha256
    unbind = CliRunner().invoke(main, ["stays", "unbind-certificate", "--application", "HIS", "--facility", "CHL",
                                       "--sha256", old])
    assert unbind.exit_code == 0, unbind.output
    answer = send_tls(tls_port, adt("A01", hospital["number"], visit="R3"), pki=pki, client=pki.chl)
    assert str(answer).strip("\r").split("\r")[1:] == [f"MSA|AR|{answer.segment('MSA')[2]}|message refused"]
    with platform.sessions() as session:
        actions = session.scalars(select(TraceEntry.action).where(TraceEntry.action.like("adt_sender.certificate.%"))
                                  .order_by(TraceEntry.recorded_at, TraceEntry.id)).all()
    assert actions == ["adt_sender.certificate.bind"] * 3 + ["adt_sender.certificate.unbind"]


def test_a_certificate_speaks_for_one_hospital_only(platform: Platform, hospital, pki: Pki) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RegistryError, match="another organisation"), platform.transaction() as session:
        bind_certificate(session=session, platform=platform, actor=SYSTEM, application="HIS", facility="SUD",
                         certificate=identity(pki.chl.certificate))
    with pytest.raises(RegistryError, match="already"), platform.transaction() as session:
        bind_certificate(session=session, platform=platform, actor=SYSTEM, application="HIS", facility="CHL",
                         certificate=identity(pki.chl.certificate))
    with pytest.raises(RegistryError, match="no sender"), platform.transaction() as session:
        unbind_certificate(session=session, platform=platform, actor=SYSTEM, application="HIS", facility="NONE",
                           sha256="00")


def test_an_expired_certificate_is_not_bound(platform: Platform, hospital, pki: Pki, clock) -> None:  # type: ignore[no-untyped-def]
    clock.current = datetime.now(UTC) + timedelta(days=31)
    with pytest.raises(RegistryError, match="expired"), platform.transaction() as session:
        bind_certificate(session=session, platform=platform, actor=SYSTEM, application="HIS", facility="SUD",
                         certificate=identity(pki.unbound.certificate))
    with platform.sessions() as session:
        assert len(session.scalars(select(AdtSenderCertificate)).all()) == 2


def test_the_mllp_command_refuses_plain_tcp_in_production(cli_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENDSP_MODE", "production")
    result = CliRunner().invoke(main, ["mllp", "--port", "0"])
    assert result.exit_code == 2 and "refuses the MLLP listener over plain TCP" in result.output

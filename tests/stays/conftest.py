"""The MLLP listener run for real in a thread, the test PKI, two hospitals and a patient."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from opendsp.actors import SYSTEM
from opendsp.persons.models import Person
from opendsp.platform import Platform
from opendsp.professionals.models import OrganisationKind
from opendsp.stays.certificates import read_certificate
from opendsp.stays.mllp import ListenerConfig, serve_mllp
from opendsp.stays.registry import register_adt_sender, register_care_unit
from opendsp.stays.tls import server_context
from tests.factories import make_organisation, make_professional, make_record
from tests.stays.pki import Pki, make_pki

Listen = Callable[..., int]


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def tls_config(pki: Pki, **limits: object) -> ListenerConfig:
    context = server_context(certificate=str(pki.server.certificate), key=str(pki.server.key),
                             client_ca=str(pki.hospitals_ca.certificate))
    return ListenerConfig(tls=context, **limits)  # type: ignore[arg-type]


@pytest.fixture
def listen(platform: Platform) -> Iterator[Listen]:
    """Start a listener with the given config on a free port of 127.0.0.1; it stops after the test."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    servers: list[asyncio.AbstractServer] = []

    def start(config: ListenerConfig) -> int:
        server = asyncio.run_coroutine_threadsafe(serve_mllp(platform, "127.0.0.1", 0, config=config), loop).result(10)
        servers.append(server)
        return server.sockets[0].getsockname()[1]

    yield start

    async def shutdown() -> None:
        for server in servers:
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
def tls_port(listen: Listen, pki: Pki) -> int:
    return listen(tls_config(pki))


@pytest.fixture
def hospital(platform: Platform, pki: Pki):  # type: ignore[no-untyped-def]
    """Two hospitals with a cardiology unit each, each sender bound to its certificate, a nurse in each, a patient."""
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
                            application="HIS", facility="CHL", certificate=_identity(pki.chl.certificate))
        register_adt_sender(session=session, platform=platform, actor=SYSTEM, hospital=other.identifier,
                            application="HIS", facility="SUD", certificate=_identity(pki.sud.certificate))
        nurse = make_professional(session, platform, profession="nurse", specialties=(), organisation=cardio)
        elsewhere = make_professional(session, platform, profession="nurse", specialties=(), organisation=other)
        hospital_doctor = make_professional(session, platform, specialties=("cardiology",), organisation=chl)
    return {"record": record, "number": national_number, "chl": chl, "other": other, "cardio": cardio,
            "nurse": nurse, "elsewhere": elsewhere, "doctor": hospital_doctor}


def _identity(path: Path):  # type: ignore[no-untyped-def]
    return read_certificate(path.read_bytes())

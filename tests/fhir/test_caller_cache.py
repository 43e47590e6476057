"""Verified callers kept for their token's life (``Tokens.verify``, docs/adr/0031-request-caches.md).

A token used again is not checked against the clients and professionals again; but whatever withdraws a caller
(the client disabled, the professional gone from the organisation, their account closed) moves the credential
epoch, and the very next request with that token is refused, whichever process made the change. A token past its
expiry is refused even while its caller is cached.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, event, select, update
from sqlalchemy.orm import Session

from opendsp.accounts.models import Account, AccountKind, AccountState
from opendsp.clients.models import Client
from opendsp.clock import FrozenClock
from opendsp.platform import Platform
from opendsp.professionals.models import membership
from opendsp.settings import Settings
from tests.fhir.conftest import Fhir, World


@pytest.fixture
def other(settings: Settings, clock: FrozenClock, platform: Platform) -> Iterator[Platform]:
    other = Platform(settings=settings, clock=clock)
    yield other
    assert other.engine is not None
    other.engine.dispose()


def statements(platform: Platform, act: Callable[[], Any]) -> list[str]:
    seen: list[str] = []

    def note(_connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(" ".join(statement.split()))

    assert platform.engine is not None
    event.listen(platform.engine, "before_cursor_execute", note)
    try:
        act()
    finally:
        event.remove(platform.engine, "before_cursor_execute", note)
    return seen


def _disable_client(session: Session, world: World) -> None:
    session.execute(update(Client).where(Client.client_id == world.software["hospital"].client_id)
                    .values(disabled_at=world.record.created_at))


def _leave_organisation(session: Session, world: World) -> None:
    session.execute(delete(membership).where(membership.c.professional_id == world.gp.id,
                                             membership.c.organisation_id == world.hospital.id))


def _close_account(session: Session, world: World) -> None:
    session.add(Account(kind=AccountKind.professional, login=world.gp.licence_number, professional_id=world.gp.id,
                        display_name="Dr Hoffmann", state=AccountState.active, created_at=world.record.created_at))
    session.flush()
    session.execute(update(Account).where(Account.professional_id == world.gp.id).values(state=AccountState.closed))


def _open_then_close_account(session: Session, world: World) -> None:
    session.add(Account(kind=AccountKind.professional, login=world.gp.licence_number, professional_id=world.gp.id,
                        display_name="Dr Hoffmann", state=AccountState.closed, created_at=world.record.created_at))


WITHDRAWALS = {
    "client disabled": _disable_client,
    "professional left the organisation": _leave_organisation,
    "account closed": _close_account,
    "account created closed": _open_then_close_account,
}


def search(fhir: Fhir, world: World, token: str) -> Any:
    return fhir.get(f"/fhir/DocumentReference?patient={world.person_id}", token)


def test_a_token_used_again_is_not_checked_against_clients_and_professionals(
        platform: Platform, world: World, fhir: Fhir) -> None:
    token = fhir.token(world.software["hospital"], world.gp, "system/DocumentReference.s")
    first = statements(platform, lambda: search(fhir, world, token))
    again = statements(platform, lambda: search(fhir, world, token))
    assert any("FROM clients" in s for s in first) and any("FROM professionals" in s for s in first)
    assert not any("FROM clients" in s or "FROM professionals" in s for s in again), again
    assert len(again) < len(first)
    assert search(fhir, world, token).status_code == 200


@pytest.mark.parametrize("where", ["this process", "another process"])
@pytest.mark.parametrize("withdrawal", list(WITHDRAWALS), ids=list(WITHDRAWALS))
def test_a_withdrawn_caller_is_refused_at_the_next_request(platform: Platform, other: Platform, world: World,
                                                           fhir: Fhir, withdrawal: str, where: str) -> None:
    token = fhir.token(world.software["hospital"], world.gp, "system/DocumentReference.s")
    assert search(fhir, world, token).status_code == 200
    assert search(fhir, world, token).status_code == 200  # served from the cache
    with (platform if where == "this process" else other).transaction() as session:
        WITHDRAWALS[withdrawal](session, world)
    refused = search(fhir, world, token)
    assert refused.status_code == 401, refused.text
    assert refused.json()["resourceType"] == "OperationOutcome"
    assert search(fhir, world, token).status_code == 401  # and stays refused


def test_an_expired_token_is_refused_though_its_caller_is_cached(platform: Platform, clock: FrozenClock,
                                                                  world: World, fhir: Fhir) -> None:
    token = fhir.token(world.software["hospital"], world.gp, "system/DocumentReference.s")
    assert search(fhir, world, token).status_code == 200
    clock.advance(timedelta(minutes=5))
    refused = search(fhir, world, token)
    assert refused.status_code == 401 and "expired" in refused.text


def test_another_token_is_another_caller(platform: Platform, world: World, fhir: Fhir) -> None:
    gp = fhir.token(world.software["hospital"], world.gp, "system/DocumentReference.s")
    outsider = fhir.token(world.software["hospital"], world.outsider, "system/DocumentReference.s")
    assert search(fhir, world, gp).status_code == 200
    assert search(fhir, world, outsider).status_code != 200  # not in the circle: the cached gp is not them
    forged = gp[:-4] + ("AAAA" if not gp.endswith("AAAA") else "BBBB")
    assert search(fhir, world, forged).status_code == 401
    assert search(fhir, world, str(uuid.uuid4())).status_code == 401


def _as_psql_would(platform: Platform, statement: str, parameters: tuple[Any, ...]) -> None:
    """One statement on a connection of the driver's own, past SQLAlchemy and every listener of opendsp's."""
    from sqlalchemy.engine import make_url

    url = make_url(platform.settings.database_url)
    if url.get_backend_name() == "sqlite":
        import sqlite3

        assert url.database is not None
        connection = sqlite3.connect(url.database)
        try:
            connection.execute(statement.replace("%s", "?"), parameters)
            connection.commit()
        finally:
            connection.close()
        return
    import psycopg

    with psycopg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False)) as connection:
        connection.execute(statement, parameters)  # committed when the block ends


def _search_in_a_new_process(settings: Settings, clock: FrozenClock, world: World, token: str) -> Any:
    """A restarted process: a new platform, with empty caches, over the same database and folder."""
    from fastapi.testclient import TestClient

    from opendsp.web.app import create_app

    restarted = Platform(settings=settings, clock=clock)
    try:
        with TestClient(create_app(platform=restarted)) as http:
            return search(Fhir(http, restarted), world, token)
    finally:
        assert restarted.engine is not None
        restarted.engine.dispose()


def test_an_account_closed_outside_opendsp_is_served_until_the_process_restarts(
        platform: Platform, settings: Settings, clock: FrozenClock, world: World, fhir: Fhir) -> None:
    """The documented limit, exactly: nothing moved the credential epoch, so only a new process sees the change."""
    with platform.transaction() as session:
        session.add(Account(kind=AccountKind.professional, login=world.gp.licence_number,
                            professional_id=world.gp.id, display_name="Dr Hoffmann", state=AccountState.active,
                            created_at=world.record.created_at))
    token = fhir.token(world.software["hospital"], world.gp, "system/DocumentReference.s")
    assert search(fhir, world, token).status_code == 200
    assert search(fhir, world, token).status_code == 200  # served from the cache
    assert _search_in_a_new_process(settings, clock, world, token).status_code == 200  # the token is good anywhere
    _as_psql_would(platform, "UPDATE accounts SET state = %s WHERE login = %s", ("closed", world.gp.licence_number))
    with platform.sessions() as session:  # the change is there for anyone who reads the table
        closed = session.scalars(select(Account.state).where(Account.login == world.gp.licence_number)).one()
    assert closed is AccountState.closed
    assert search(fhir, world, token).status_code == 200  # the limit: this process still serves its cached caller

    refused = _search_in_a_new_process(settings, clock, world, token)
    assert refused.status_code == 401, refused.text
    assert refused.json()["resourceType"] == "OperationOutcome"

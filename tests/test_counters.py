"""The caches' counters moved by the application (opendsp.counters, docs/adr/0045-counters-in-the-application.md).

Every kind of change that moved a counter by a trigger before migration 0026 moves it now, in the transaction of
the change (a rollback moves nothing), whichever way the change is written: an attribute flushed by the ORM, a
row added or deleted, a bulk ``update()``/``delete()``, a relationship's collection. Changes that did not count
do not move it. A statement the counters cannot follow is refused before it changes anything, and no SQL text in
the source changes a followed table.
"""

from __future__ import annotations

import ast
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.orm import Session

from opendsp.accounts.models import Account, AccountKind, AccountState
from opendsp.clients.models import AuthorizationCode, Client, CredentialEpoch
from opendsp.counters import CREDENTIAL_SOURCES, FOLLOWED, UncountedChange
from opendsp.db import Base
from opendsp.persons.models import LegalRepresentation, Person
from opendsp.platform import Platform
from opendsp.professionals.models import Organisation, Professional, membership
from opendsp.records.models import Record
from tests.factories import make_organisation, make_person, make_professional, make_record


@dataclass
class Scene:
    record_id: uuid.UUID  # the minor's record
    minor_id: uuid.UUID
    parent_id: uuid.UUID  # represents the minor
    other_id: uuid.UUID  # a person with a record of their own
    other_record_id: uuid.UUID
    professional_id: uuid.UUID
    organisation_id: uuid.UUID
    account_id: uuid.UUID  # the professional's, active
    client_id: uuid.UUID
    code_id: uuid.UUID  # an authorization code of the client


@pytest.fixture
def scene(platform: Platform) -> Scene:
    with platform.transaction() as session:
        record = make_record(session, platform, birth=date(2014, 3, 1))
        other = make_record(session, platform)
        parent = make_person(session, platform, given_name="Paul")
        session.add(LegalRepresentation(minor_id=record.person_id, representative_id=parent.id,
                                        created_at=platform.clock.now()))
        organisation = make_organisation(session, platform)
        professional = make_professional(session, platform, organisation=organisation)
        account = Account(kind=AccountKind.professional, login=professional.licence_number,
                          professional_id=professional.id, display_name="Dr Weber", state=AccountState.active,
                          created_at=platform.clock.now())
        client = Client(client_id="app", name="App", redirect_uris=["https://app.example/cb"],
                        created_at=platform.clock.now())
        session.add_all([account, client])
        session.flush()
        code = AuthorizationCode(code_hash="0" * 64, client_id="app", redirect_uri="https://app.example/cb",
                                 code_challenge="x" * 43, scope="openid", account_id=account.id,
                                 created_at=platform.clock.now(),
                                 expires_at=platform.clock.now() + timedelta(minutes=1))
        session.add(code)
        session.flush()
        return Scene(record.id, record.person_id, parent.id, other.person_id, other.id, professional.id,
                     organisation.id, account.id, client.id, code.id)


Change = Callable[[Session, Platform, Scene], object]


def _close_account(session: Session, _platform: Platform, scene: Scene) -> None:
    session.get(Account, scene.account_id).state = AccountState.closed  # type: ignore[union-attr]


def _close_accounts_in_bulk(session: Session, _platform: Platform, scene: Scene) -> None:
    session.execute(update(Account).where(Account.professional_id == scene.professional_id)
                    .values(state=AccountState.closed))


def _account_unlinked(session: Session, _platform: Platform, scene: Scene) -> None:
    session.get(Account, scene.account_id).professional_id = None  # type: ignore[union-attr]


def _account_created(session: Session, platform: Platform, scene: Scene) -> None:
    session.add(Account(kind=AccountKind.person, login="x", person_id=scene.other_id, display_name="X",
                        state=AccountState.closed, created_at=platform.clock.now()))


def _account_renamed(session: Session, _platform: Platform, scene: Scene) -> None:
    session.get(Account, scene.account_id).display_name = "Dr W."  # type: ignore[union-attr]


def _totp_step_claimed(session: Session, _platform: Platform, scene: Scene) -> None:
    session.execute(update(Account).where(Account.id == scene.account_id).values(totp_last_step=7)
                    .execution_options(synchronize_session=False))


def _account_deleted(session: Session, _platform: Platform, scene: Scene) -> None:
    session.execute(delete(AuthorizationCode))
    session.delete(session.get(Account, scene.account_id))


def _professional_renamed(session: Session, _platform: Platform, scene: Scene) -> None:
    session.get(Professional, scene.professional_id).family_name = "Weber-Muller"  # type: ignore[union-attr]


def _professional_registered(session: Session, platform: Platform, _scene: Scene) -> None:
    make_professional(session, platform)


def _left_organisation(session: Session, _platform: Platform, scene: Scene) -> None:
    professional = session.get(Professional, scene.professional_id)
    assert professional is not None
    professional.organisations.remove(session.get(Organisation, scene.organisation_id))


def _left_organisation_in_bulk(session: Session, _platform: Platform, scene: Scene) -> None:
    session.execute(delete(membership).where(membership.c.professional_id == scene.professional_id))


def _joined_organisation(session: Session, platform: Platform, scene: Scene) -> None:
    professional = session.get(Professional, scene.professional_id)
    assert professional is not None
    professional.organisations.append(make_organisation(session, platform))


def _client_disabled(session: Session, platform: Platform, scene: Scene) -> None:
    session.get(Client, scene.client_id).disabled_at = platform.clock.now()  # type: ignore[union-attr]


def _client_registered(session: Session, platform: Platform, _scene: Scene) -> None:
    session.add(Client(client_id="other", name="Other", created_at=platform.clock.now()))


def _code_revoked(session: Session, platform: Platform, scene: Scene) -> None:
    session.execute(update(AuthorizationCode).where(AuthorizationCode.id == scene.code_id)
                    .values(revoked_at=platform.clock.now()).execution_options(synchronize_session=False))


def _code_used(session: Session, platform: Platform, scene: Scene) -> None:
    session.execute(update(AuthorizationCode).where(AuthorizationCode.id == scene.code_id)
                    .values(used_at=platform.clock.now()).execution_options(synchronize_session=False))


def _birth_date(session: Session, _platform: Platform, scene: Scene) -> None:
    session.get(Person, scene.minor_id).birth_date = date(2014, 3, 2)  # type: ignore[union-attr]


def _birth_date_in_bulk(session: Session, _platform: Platform, scene: Scene) -> None:
    session.execute(update(Person).where(Person.id == scene.minor_id).values(birth_date=date(2014, 3, 2)))


def _birth_date_by_primary_key(session: Session, _platform: Platform, scene: Scene) -> None:
    session.execute(update(Person), [{"id": scene.minor_id, "birth_date": date(2014, 3, 2)}])


def _address(session: Session, _platform: Platform, scene: Scene) -> None:
    session.get(Person, scene.minor_id).city = "Esch-sur-Alzette"  # type: ignore[union-attr]


def _representation_added(session: Session, platform: Platform, scene: Scene) -> None:
    session.add(LegalRepresentation(minor_id=scene.minor_id, representative_id=scene.other_id,
                                    created_at=platform.clock.now()))


def _representation_inserted(session: Session, platform: Platform, scene: Scene) -> None:
    session.execute(insert(LegalRepresentation).values(id=uuid.uuid4(), minor_id=scene.minor_id,
                                                       representative_id=scene.other_id,
                                                       created_at=platform.clock.now()))


def _representation_changed(session: Session, _platform: Platform, scene: Scene) -> None:
    row = session.scalars(select(LegalRepresentation).where(LegalRepresentation.minor_id == scene.minor_id)).one()
    row.relationship_kind = "guardian"


def _representations_inserted_in_bulk(session: Session, platform: Platform, scene: Scene) -> None:
    session.execute(insert(LegalRepresentation), [{"minor_id": scene.minor_id, "representative_id": scene.other_id,
                                                   "created_at": platform.clock.now()}])


def _representations_inserted_as_values(session: Session, platform: Platform, scene: Scene) -> None:
    session.execute(insert(LegalRepresentation.__table__).values([
        (uuid.uuid4(), scene.minor_id, scene.other_id, "guardian", platform.clock.now())]))


def _representation_removed(session: Session, _platform: Platform, scene: Scene) -> None:
    session.delete(session.scalars(select(LegalRepresentation)
                                   .where(LegalRepresentation.minor_id == scene.minor_id)).one())


def _representation_removed_in_bulk(session: Session, _platform: Platform, scene: Scene) -> None:
    session.execute(delete(LegalRepresentation).where(LegalRepresentation.representative_id == scene.parent_id))


def _representative_deleted(session: Session, _platform: Platform, scene: Scene) -> None:
    """The database's cascade removes the representation: the minor's record moves."""
    session.execute(delete(Person).where(Person.id == scene.parent_id))


# (name, the change, the counter it must move: "credentials", "minor" (the minor's record's policy version), or
# None when it need not move any)
CASES: list[tuple[str, Change, str | None]] = [
    ("account closed", _close_account, "credentials"),
    ("accounts closed in bulk", _close_accounts_in_bulk, "credentials"),
    ("account's professional unlinked", _account_unlinked, "credentials"),
    ("account created", _account_created, "credentials"),
    ("account deleted", _account_deleted, "credentials"),
    ("professional changed", _professional_renamed, "credentials"),
    ("professional left an organisation", _left_organisation, "credentials"),
    ("professional left in bulk", _left_organisation_in_bulk, "credentials"),
    ("client disabled", _client_disabled, "credentials"),
    ("authorization code revoked", _code_revoked, "credentials"),
    ("birth date corrected", _birth_date, "minor"),
    ("birth date corrected in bulk", _birth_date_in_bulk, "minor"),
    ("birth date corrected by primary key", _birth_date_by_primary_key, "minor"),
    ("legal representation added", _representation_added, "minor"),
    ("legal representation inserted", _representation_inserted, "minor"),
    ("legal representations inserted in bulk", _representations_inserted_in_bulk, "minor"),
    ("legal representations inserted as values of many rows", _representations_inserted_as_values, "minor"),
    ("legal representation changed", _representation_changed, "minor"),
    ("legal representation removed", _representation_removed, "minor"),
    ("legal representations removed in bulk", _representation_removed_in_bulk, "minor"),
    ("representative deleted", _representative_deleted, "minor"),
    # Changes that take nothing from a cached caller or grant: they need not move anything.
    ("account renamed", _account_renamed, None),
    ("second factor step claimed", _totp_step_claimed, None),
    ("professional registered", _professional_registered, None),
    ("professional joined an organisation", _joined_organisation, None),
    ("client registered", _client_registered, None),
    ("authorization code used", _code_used, None),
    ("address changed", _address, None),
]


def counters(platform: Platform, scene: Scene) -> dict[str, int]:
    with platform.sessions() as session:
        rows = session.execute(select(Record.id, Record.policy_version)
                               .where(Record.id.in_([scene.record_id, scene.other_record_id])))
        versions = {record_id: version for record_id, version in rows}
        epoch = session.scalars(select(CredentialEpoch.epoch).where(CredentialEpoch.id == 1)).one()
    return {"credentials": epoch, "minor": versions[scene.record_id], "other": versions[scene.other_record_id]}


class Undone(Exception):
    pass


@pytest.mark.parametrize(("name", "change", "moved"), CASES, ids=[case[0] for case in CASES])
def test_each_change_moves_its_counter_in_its_transaction(platform: Platform, scene: Scene, name: str,
                                                          change: Change, moved: str | None) -> None:
    before = counters(platform, scene)
    with pytest.raises(Undone), platform.transaction() as session:
        change(session, platform, scene)
        session.flush()
        raise Undone
    assert counters(platform, scene) == before, "rolled back with the change"

    with platform.transaction() as session:
        change(session, platform, scene)
    after = counters(platform, scene)
    expected = {counter: value + (1 if counter == moved else 0) for counter, value in before.items()}
    if moved is None:
        assert after == before, name
    else:
        assert after[moved] > before[moved], name
        # Nothing else moves: another record's version, or the other counter.
        assert {key: value for key, value in after.items() if key != moved} == \
               {key: value for key, value in expected.items() if key != moved}


def test_a_representation_moved_to_another_minor_moves_both_records(platform: Platform, scene: Scene) -> None:
    before = counters(platform, scene)
    with platform.transaction() as session:
        session.execute(update(LegalRepresentation).where(LegalRepresentation.minor_id == scene.minor_id)
                        .values(minor_id=scene.other_id))
    after = counters(platform, scene)
    assert after["minor"] > before["minor"] and after["other"] > before["other"]
    assert after["credentials"] == before["credentials"]


@pytest.mark.parametrize("sql", [
    "UPDATE persons SET birth_date = '2014-03-02'",
    "DELETE FROM persons WHERE given_name = 'Nobody'",
    "DELETE FROM legal_representations",
    "insert into legal_representations (id, minor_id, representative_id) select id, id, id from persons",
])
def test_sql_text_the_counters_cannot_follow_is_refused_before_it_runs(platform: Platform, scene: Scene,
                                                                       sql: str) -> None:
    before = counters(platform, scene)
    with pytest.raises(UncountedChange), platform.transaction() as session:
        session.execute(text(sql))
    assert counters(platform, scene) == before
    with platform.sessions() as session:
        assert session.get(Person, scene.minor_id).birth_date == date(2014, 3, 1)  # type: ignore[union-attr]
        assert session.scalars(select(LegalRepresentation.id)).all()


def test_an_insertion_whose_minor_the_database_computes_is_refused(platform: Platform, scene: Scene) -> None:
    chosen = select(Person.id, Person.id, Person.id).where(Person.id == scene.minor_id)
    with pytest.raises(UncountedChange), platform.transaction() as session:
        session.execute(insert(LegalRepresentation).from_select(
            ["id", "minor_id", "representative_id"], chosen))


def test_rows_written_in_bulk_past_the_engine_are_refused_on_followed_tables(platform: Platform,
                                                                              scene: Scene) -> None:
    """PostgreSQL's COPY (opendsp.importing.writing) goes to the driver's cursor, which no listener sees."""
    from opendsp.importing.writing import copy_binary, write_rows

    with pytest.raises(UncountedChange), platform.transaction() as session:
        write_rows(session, Base.metadata.tables["legal_representations"], ["id", "minor_id", "representative_id"],
                   [(uuid.uuid4(), scene.minor_id, scene.other_id)])
    with pytest.raises(UncountedChange), platform.transaction() as session:
        copy_binary(session, Base.metadata.tables["accounts"], ["id"], [b""])


def test_sql_text_on_a_credential_table_moves_the_epoch(platform: Platform, scene: Scene) -> None:
    before = counters(platform, scene)
    with platform.transaction() as session:
        session.execute(text("UPDATE clients SET name = 'Renamed'"))
    assert counters(platform, scene)["credentials"] > before["credentials"]


def test_no_sql_text_in_the_source_changes_a_followed_table() -> None:
    """The listener refuses such text at run time; this finds it before: migrations aside (they run before any
    cache), no string in src but a docstring names a DML verb on a table the counters follow."""
    source = Path(__file__).parents[1] / "src/opendsp"
    dml = re.compile(r"\b(?:insert\s+into|update|delete\s+from)\s+\"?(\w+)", re.IGNORECASE)
    found = []
    for path in source.rglob("*.py"):
        if "migrations/versions" in path.as_posix() or path.name == "counters.py":
            continue
        tree = ast.parse(path.read_text())
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                      and node.body and isinstance(node.body[0], ast.Expr)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                found += [(path.name, table) for table in dml.findall(node.value) if table.lower() in FOLLOWED]
    assert found == []


def test_the_tables_followed_are_those_whose_triggers_migration_0026_dropped() -> None:
    import importlib.util

    path = Path(__file__).parents[1] / "src/opendsp/migrations/versions/0026_counters.py"
    spec = importlib.util.spec_from_file_location("counters_migration", path)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    assert {(table, columns, inserted) for table, columns, inserted in migration.CREDENTIAL_SOURCES} == \
           {(table, columns, inserted) for table, (columns, inserted) in CREDENTIAL_SOURCES.items()}
    assert FOLLOWED == set(CREDENTIAL_SOURCES) | {"persons", migration.REPRESENTATIONS[0]}

"""The caches' counters moved by the application, for the tables whose triggers cannot run on a distributed database.

The caches (opendsp.caches, docs/adr/0031-request-caches.md) are keyed by two counters that move forward in the
transaction of every change that could make a cached entry wrong. Triggers move ``records.policy_version`` for
the tables distributed by record (migration 0022): the record's row is on the same node. The rows of reference
and platform tables are followed here instead (docs/adr/0045-counters-in-the-application.md): a trigger on a
reference table's copy cannot reach another shard on Citus, and one mechanism moves ``credential_epochs``.

One listener on every engine looks at every INSERT, UPDATE and DELETE before it runs, whichever way it was made
(the ORM's flush, a bulk ``update(...)``, a Core statement, SQL text) and on the same connection, so in the same
transaction, moves the counter the change concerns:

- ``credential_epochs.epoch``, once per statement, for the changes that can withdraw a verified caller
  (``CREDENTIAL_SOURCES``, as 0022's triggers counted them);
- ``records.policy_version`` of the record of each person concerned: the holder whose birth date changes, the
  minor whose legal representation is added, changed or removed (and, when persons are deleted, the minors their
  representations name, which the database's cascade removes). Each record is moved by its own id
  (``persons.record_id``), a statement on one node.

A change the listener cannot follow (SQL text that changes a legal representation or a birth date, an insertion
whose minor is computed by the database) is refused with ``UncountedChange`` before it runs, rather than left to
be cached stale. Moving a counter that need not move costs a cache miss, never a wrong answer: where it cannot
tell, it moves.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import BigInteger, Connection, Engine, Integer, Uuid, column, event, or_, select, table
from sqlalchemy.sql.dml import Delete, Insert, Update, UpdateBase
from sqlalchemy.sql.elements import BindParameter, ClauseElement, TextClause

# Changes that can withdraw a verified caller: table -> (the columns whose update counts (None for any), whether an
# insertion counts). A client, a membership or a professional added takes nothing from a caller already verified;
# an account may be created closed.
CREDENTIAL_SOURCES: dict[str, tuple[tuple[str, ...] | None, bool]] = {
    "clients": (None, False),
    "smart_authorization_codes": (("revoked_at",), False),
    "professional_organisations": (None, False),
    "accounts": (("state", "professional_id", "person_id"), True),
    "professionals": (None, False),
}
# Reference tables the access policy reads a record's facts from, outside the record's own rows.
POLICY_SOURCES = ("persons", "legal_representations")
FOLLOWED = frozenset(CREDENTIAL_SOURCES) | frozenset(POLICY_SOURCES)


class UncountedChange(RuntimeError):
    """A statement would change a followed table in a way whose counter cannot be moved: refused before it runs."""


_epochs = table("credential_epochs", column("id", Integer), column("epoch", BigInteger))
_records = table("records", column("id", Uuid), column("policy_version", BigInteger))
_persons = table("persons", column("id", Uuid), column("record_id", Uuid))
_representations = table("legal_representations", column("minor_id", Uuid), column("representative_id", Uuid))

_EPOCH_FORWARD = _epochs.update().where(_epochs.c.id == 1).values(epoch=_epochs.c.epoch + 1)
# DML in SQL text: the verb and the table it changes (a trigger's "UPDATE OF" or "ON CONFLICT DO UPDATE SET" name
# no table and match nothing followed).
_TEXT_DML = re.compile(r"\b(insert\s+into|update|delete\s+from)\s+(?:only\s+)?\"?(\w+)\"?", re.IGNORECASE)
_UNKNOWN = object()  # a value the database computes: not known before the statement runs


@event.listens_for(Engine, "before_execute")
def _before_execute(connection: Connection, statement: Any, multiparams: Sequence[Mapping[str, Any]],
                    params: Mapping[str, Any], _options: Any) -> None:
    if isinstance(statement, UpdateBase):
        name = getattr(statement.table, "name", None)
        if name in FOLLOWED:
            _follow(connection, name, statement, list(multiparams) or [params or {}])
    elif isinstance(statement, (str, TextClause)):
        _follow_text(connection, statement if isinstance(statement, str) else statement.text)


def _follow(connection: Connection, name: str, statement: UpdateBase, sets: list[Mapping[str, Any]]) -> None:
    if name in CREDENTIAL_SOURCES:
        columns, inserted = CREDENTIAL_SOURCES[name]
        if isinstance(statement, Insert):
            counts = inserted
        elif isinstance(statement, Update):
            counts = columns is None or bool(set(columns) & _set_columns(statement, sets))
        else:
            counts = True
        if counts:
            connection.execute(_EPOCH_FORWARD)
        return
    persons: set[Any] = set()
    if name == "persons":
        if isinstance(statement, Update) and "birth_date" in _set_columns(statement, sets):
            _move_records(connection, _matched(connection, statement, sets, "record_id"), by_person=False)
        elif isinstance(statement, Delete):
            deleted = _matched(connection, statement, sets, "id")
            if deleted:
                persons |= deleted | set(connection.scalars(select(_representations.c.minor_id).where(or_(
                    _representations.c.representative_id.in_(deleted), _representations.c.minor_id.in_(deleted)))))
    elif isinstance(statement, Insert):
        persons |= set(_assigned(statement, sets, "minor_id"))
    else:  # a legal representation changed or removed: its minor before, and the new one if it moves
        persons |= _matched(connection, statement, sets, "minor_id")
        if isinstance(statement, Update) and "minor_id" in _set_columns(statement, sets):
            persons |= set(_assigned(statement, sets, "minor_id"))
    _move_records(connection, persons, by_person=True)


def _follow_text(connection: Connection, sql: str) -> None:
    lowered = sql.lower()
    for verb, name in _TEXT_DML.findall(sql):
        name = name.lower()
        if name in CREDENTIAL_SOURCES:
            connection.execute(_EPOCH_FORWARD)
        elif name == "legal_representations" or (
                name == "persons" and ("birth_date" in lowered or verb.lower().startswith("delete"))):
            raise UncountedChange(
                f"SQL text changes {name}, whose changes move records' policy versions (opendsp.counters): "
                "write it with the ORM or a Core statement, so that the version moves with it")


def _set_columns(statement: Update, sets: Iterable[Mapping[str, Any]]) -> set[str]:
    """The columns an UPDATE writes: those of ``values()``, and the parameters named after a column (the ORM's
    flush passes a row's new values so, and names its primary key's parameters otherwise)."""
    names = {_name(key) for key in (statement._values or {})}  # noqa: SLF001 - the statement's own values
    known = set(statement.table.c.keys())
    for one in sets:
        names |= known & set(one)
    return names


def _assigned(statement: Insert | Update, sets: Sequence[Mapping[str, Any]], name: str) -> list[Any]:
    """The values ``statement`` writes into ``name``, one per row; refused when the database computes them."""
    if isinstance(statement, Insert) and statement.select is not None:
        raise UncountedChange(f"an INSERT … SELECT into {statement.table.name} names no {name} before it runs")
    columns = statement.table.c.keys()
    # values() of many rows (each a mapping, or a tuple in the table's column order), values() of one, or none:
    # the parameters of each execution then carry the row.
    rows = [row if isinstance(row, Mapping) else dict(zip(columns, row, strict=False))
            for many in statement._multi_values for row in many]  # noqa: SLF001 - the statement's own values
    rows = rows or [statement._values or {}]  # noqa: SLF001
    found: list[Any] = []
    for row in rows:
        given = [value for key, value in row.items() if _name(key) == name]
        found += [_value(given[0], one) if given else one.get(name) for one in sets]
    if _UNKNOWN in found:
        raise UncountedChange(f"{statement.table.name}.{name} is computed by the database: its record is unknown")
    return [value for value in found if value is not None]


def _value(value: Any, parameters: Mapping[str, Any]) -> Any:
    if isinstance(value, BindParameter):
        return parameters.get(value.key, value.value)
    return _UNKNOWN if isinstance(value, ClauseElement) else value


def _matched(connection: Connection, statement: Update | Delete, sets: Sequence[Mapping[str, Any]],
             name: str) -> set[Any]:
    """``name`` of the rows the statement is about to change, read first with its own criteria and parameters."""
    query = select(statement.table.c[name])
    if statement.whereclause is not None:
        query = query.where(statement.whereclause)
    return {value for one in sets for value in connection.scalars(query, dict(one)) if value is not None}


def _move_records(connection: Connection, keys: set[Any], *, by_person: bool) -> None:
    """Move the policy version of each record, given the records' ids or their holders' (persons') ids."""
    if not keys:
        return
    records = set(keys)
    if by_person:
        records = {record for record in connection.scalars(
            select(_persons.c.record_id).where(_persons.c.id.in_(sorted(keys, key=str)))) if record is not None}
    for record in sorted(records, key=str):  # one statement per record: each goes to the record's node
        connection.execute(_records.update().where(_records.c.id == _uuid(record))
                           .values(policy_version=_records.c.policy_version + 1))


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _name(key: Any) -> str:
    return key if isinstance(key, str) else str(getattr(key, "key", None) or getattr(key, "name", key))

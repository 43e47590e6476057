"""Is a SQL statement scoped to records? Parsed (sqlglot), not pattern-matched.

A statement is scoped when every distributed table it reads or writes (opendsp.distribution) is
pinned by its distribution column: for an INSERT, the column is among those inserted; otherwise each use of
the table has its column equal to a value (``= :p``, ``IN (:a, :b)``) or, through a chain of equalities in
joins and correlated subqueries, to another use's column that is. Only conditions every row must meet count:
the top-level ``AND`` terms of a WHERE clause or a join's ON clause; a term under ``OR`` or ``NOT`` pins
nothing. That is what a distributed database needs to send the statement to the node(s) holding those
records instead of to every node.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.optimizer.scope import Scope, traverse_scope

from opendsp.distribution import distribution_column

VALUE = ("value",)


@dataclass
class Verdict:
    statement: str
    unscoped: list[str] = field(default_factory=list)  # the distributed tables not pinned
    condition: str = ""  # the statement's WHERE clause, placeholders as ?: with the tables, its signature

    @property
    def signature(self) -> str:
        """The same on both databases and whatever the columns selected: the tables not pinned and the filter."""
        return f"{', '.join(sorted(set(self.unscoped)))} where {self.condition or 'nothing'}"

    @property
    def scoped(self) -> bool:
        return not self.unscoped


class _Links:
    """Union-find over (use of a table, column) and VALUE."""

    def __init__(self) -> None:
        self.parent: dict[object, object] = {}

    def find(self, node: object) -> object:
        self.parent.setdefault(node, node)
        while self.parent[node] != node:
            self.parent[node] = self.parent[self.parent[node]]  # type: ignore[index]
            node = self.parent[node]
        return node

    def join(self, a: object, b: object) -> None:
        self.parent[self.find(a)] = self.find(b)


def _driver_placeholders(sql: str, dialect: str) -> str:
    # psycopg's pyformat placeholders, %(name)s, and its doubled percent sign, in the form sqlglot reads.
    if dialect == "postgres":
        return re.sub(r"%\((\w+)\)s", r":\1", sql).replace("%%", "%")
    return sql


def _is_value(node: exp.Expression) -> bool:
    return isinstance(node, (exp.Placeholder, exp.Literal, exp.Parameter)) or (
        isinstance(node, exp.Cast) and _is_value(node.this))


def _terms(condition: exp.Expression | None) -> Iterator[exp.Expression]:
    """The conditions every row meets: the top-level terms of an AND."""
    if condition is None:
        return
    condition = condition.unnest()
    if isinstance(condition, exp.And):
        yield from _terms(condition.left)
        yield from _terms(condition.right)
    else:
        yield condition


def _uses(scope: Scope) -> dict[str, exp.Table]:
    return {name: source for name, source in scope.sources.items() if isinstance(source, exp.Table)}


def _resolve(column: exp.Column, scope: Scope) -> tuple[int, str] | None:
    """The use of a table (by node identity) and the column a column reference names, looking outwards."""
    current: Scope | None = scope
    while current is not None:
        uses = _uses(current)
        if column.table:
            if column.table in uses:
                return id(uses[column.table]), column.name
        elif len(uses) == 1 and not [s for s in current.sources.values() if not isinstance(s, exp.Table)]:
            return id(next(iter(uses.values()))), column.name
        current = current.parent
    return None


def _conditions(scope: Scope) -> Iterator[exp.Expression]:
    statement = scope.expression
    yield from _terms(statement.args.get("where").this if statement.args.get("where") else None)
    for join in statement.args.get("joins") or []:
        yield from _terms(join.args.get("on"))


def judge(sql: str, dialect: str) -> Verdict:
    verdict = Verdict(sql)
    tree = sqlglot.parse_one(_driver_placeholders(sql, dialect), read=dialect)
    if isinstance(tree, exp.Insert):
        target = tree.this
        table = target.this if isinstance(target, exp.Schema) else target
        column = distribution_column(table.name)
        inserted = [c.name for c in target.expressions] if isinstance(target, exp.Schema) else []
        if column is not None and column not in inserted:
            verdict.unscoped.append(table.name)
        return verdict
    if isinstance(tree, (exp.Update, exp.Delete)):
        # Judged as the SELECT of the rows it changes: the same table, the same conditions.
        where = tree.args.get("where")
        tree = exp.select("1").from_(tree.this.copy())
        if where is not None:
            tree = tree.where(where.this.copy())
    where = tree.args.get("where")
    if where is not None:
        anonymous = where.this.transform(_anonymous)
        verdict.condition = anonymous.sql()
    links = _Links()
    uses: list[tuple[int, str]] = []
    for scope in traverse_scope(tree):
        for table in _uses(scope).values():
            column = distribution_column(table.name)
            if column is not None:
                uses.append((id(table), table.name))
        for term in _conditions(scope):
            _link(term, scope, links)
    for node, name in uses:
        column = distribution_column(name)
        if links.find((node, column)) != links.find(VALUE):
            verdict.unscoped.append(name)
    return verdict


def _anonymous(node: exp.Expression) -> exp.Expression:
    """Placeholders as ?, and a list of them as one (its length is the caller's, not the statement's)."""
    if isinstance(node, (exp.Placeholder, exp.Parameter)) or (isinstance(node, exp.Cast) and _is_value(node)):
        return exp.Placeholder()
    if isinstance(node, exp.In) and node.expressions and all(_is_value(value) for value in node.expressions):
        return exp.In(this=node.this.copy(), expressions=[exp.Placeholder()])
    return node


def _link(term: exp.Expression, scope: Scope, links: _Links) -> None:
    if isinstance(term, exp.EQ):
        left, right = term.left, term.right
        sides = [_side(left, scope), _side(right, scope)]
        if None not in sides:
            links.join(sides[0], sides[1])
    elif isinstance(term, exp.In) and isinstance(term.this, exp.Column):
        values = term.expressions
        if values and all(_is_value(value) for value in values):
            resolved = _resolve(term.this, scope)
            if resolved is not None:
                links.join(resolved, VALUE)


def _side(node: exp.Expression, scope: Scope) -> object | None:
    if isinstance(node, exp.Column):
        return _resolve(node, scope)
    if _is_value(node):
        return VALUE
    return None

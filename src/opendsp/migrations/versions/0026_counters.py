"""counters: the triggers of reference and platform tables go; the application moves those counters

On Citus, a trigger on a reference table runs on each node's copy and cannot reach another shard ("cannot execute
a distributed query from a query on a shard"): an account closed, a professional's membership changed or a birth
date corrected failed there. The counters those triggers moved are moved by the application, in the transaction
of the change (opendsp.counters; docs/adr/0045-counters-in-the-application.md):

- every trigger that moved ``credential_epochs`` goes, those of the platform tables (clients, authorization
  codes) with them, so that one mechanism moves that counter;
- the policy-version triggers of ``persons`` (birth date) and ``legal_representations`` go; those of the tables
  distributed by record stay (the record's row is on the same node).

Downgrade makes the dropped triggers again, as 0022 made them.

Revision ID: 0026
Revises: 0025
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

# 0022's lists, for the tables whose triggers go: (table, the columns whose update counted (None for any), whether
# an insertion counted), and the legal representations' column naming the person whose record it moved.
CREDENTIAL_SOURCES = (
    ("clients", None, False),
    ("smart_authorization_codes", ("revoked_at",), False),
    ("professional_organisations", None, False),
    ("accounts", ("state", "professional_id", "person_id"), True),
    ("professionals", None, False),
)
REPRESENTATIONS = ("legal_representations", "minor_id", "person_id")


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    table, _column, _target = REPRESENTATIONS
    if _postgresql():
        op.execute(f"DROP TRIGGER IF EXISTS {table}_policy_changed ON {table}")
        op.execute("DROP TRIGGER IF EXISTS persons_policy_changed ON persons")
        for source, _columns, _inserted in CREDENTIAL_SOURCES:
            op.execute(f"DROP TRIGGER IF EXISTS {source}_credentials_changed ON {source}")
        op.execute("DROP FUNCTION IF EXISTS opendsp_credentials_changed()")
    else:
        for name in ("inserted", "updated", "deleted"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_policy_{name}")
        op.execute("DROP TRIGGER IF EXISTS persons_policy_updated")
        for source, _columns, _inserted in CREDENTIAL_SOURCES:
            for name in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {source}_credentials_{name}")


def downgrade() -> None:
    if _postgresql():
        _postgresql_triggers()
    else:
        _sqlite_triggers()


def _postgresql_triggers() -> None:
    schema = op.get_bind().execute(sa.text("SELECT current_schema()")).scalar()
    op.execute(
        f"""
        CREATE FUNCTION opendsp_credentials_changed() RETURNS trigger LANGUAGE plpgsql
        SET search_path = "{schema}", pg_temp AS $$
        BEGIN
            UPDATE credential_epochs SET epoch = epoch + 1 WHERE id = 1;
            RETURN NULL;
        END $$
        """
    )
    table, column, target = REPRESENTATIONS
    op.execute(f"CREATE TRIGGER {table}_policy_changed AFTER INSERT OR UPDATE OR DELETE ON {table} "
               f"FOR EACH ROW EXECUTE FUNCTION opendsp_policy_changed('{column}', '{target}')")
    op.execute("CREATE TRIGGER persons_policy_changed AFTER UPDATE OF birth_date ON persons "
               "FOR EACH ROW EXECUTE FUNCTION opendsp_policy_changed('id', 'person_id')")
    for source, columns, inserted in CREDENTIAL_SOURCES:
        update = f"UPDATE OF {', '.join(columns)}" if columns else "UPDATE"
        insert = "INSERT OR " if inserted else ""
        op.execute(f"CREATE TRIGGER {source}_credentials_changed AFTER {insert}{update} OR DELETE ON {source} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION opendsp_credentials_changed()")


def _sqlite_triggers() -> None:
    table, column, target = REPRESENTATIONS
    bump = f"UPDATE records SET policy_version = policy_version + 1 WHERE {target}"
    op.execute(f"CREATE TRIGGER {table}_policy_inserted AFTER INSERT ON {table} "
               f"BEGIN {bump} = NEW.{column}; END")
    op.execute(f"CREATE TRIGGER {table}_policy_updated AFTER UPDATE ON {table} "
               f"BEGIN {bump} IN (OLD.{column}, NEW.{column}); END")
    op.execute(f"CREATE TRIGGER {table}_policy_deleted AFTER DELETE ON {table} "
               f"BEGIN {bump} = OLD.{column}; END")
    op.execute("CREATE TRIGGER persons_policy_updated AFTER UPDATE OF birth_date ON persons "
               "BEGIN UPDATE records SET policy_version = policy_version + 1 WHERE person_id = NEW.id; END")
    bump = "UPDATE credential_epochs SET epoch = epoch + 1 WHERE id = 1"
    for source, columns, inserted in CREDENTIAL_SOURCES:
        update = f"UPDATE OF {', '.join(columns)}" if columns else "UPDATE"
        for operation in (("INSERT",) if inserted else ()) + (update, "DELETE"):
            name = operation.split()[0].lower()
            op.execute(f"CREATE TRIGGER {source}_credentials_{name} AFTER {operation} ON {source} BEGIN {bump}; END")

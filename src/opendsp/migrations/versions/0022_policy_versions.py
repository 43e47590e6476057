"""policy versions: a record's counter of its holder's choices, and one counter of credentials

Every change of a row the policy's grants are read from moves its record's
``policy_version`` forward, in the same transaction, by a trigger: the access
cache (docs/adr/0031-request-caches.md) keys a record's facts and grants by
(record, version), so a change made by any process, any code path or plain SQL
is seen by the next request everywhere. ``credential_epochs`` holds one counter
that every change able to withdraw a verified caller moves forward (a client
disabled, an authorization code revoked, a professional leaving an
organisation, an account's state), for the verified-caller cache.

Revision ID: 0022
Revises: 0021
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

# Tables the grants are read from, the column naming the record (or the person whose record it is), and which.
RECORD_SOURCES = (
    ("access_settings", "record_id", "id"),
    ("circle_members", "record_id", "id"),
    ("blocked_professionals", "record_id", "id"),
    ("presence_grants", "record_id", "id"),
    ("emergency_accesses", "record_id", "id"),
    ("assistant_delegations", "record_id", "id"),
    ("institutional_refusals", "record_id", "id"),
    ("stays", "record_id", "id"),
    ("legal_representations", "minor_id", "person_id"),
)
# Changes that can withdraw a verified caller: (table, the columns whose update counts (None for any), whether an
# insertion counts). A client, a member or a professional added takes nothing from a caller already verified; an
# account may be created closed.
CREDENTIAL_SOURCES = (
    ("clients", None, False),
    ("smart_authorization_codes", ("revoked_at",), False),
    ("professional_organisations", None, False),
    ("accounts", ("state", "professional_id", "person_id"), True),
    ("professionals", None, False),
)


def upgrade() -> None:
    with op.batch_alter_table("records") as batch:
        batch.add_column(sa.Column("policy_version", sa.BigInteger(), nullable=False, server_default="0"))
    op.create_table(
        "credential_epochs",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credential_epochs")),
    )
    op.execute("INSERT INTO credential_epochs (id, epoch) VALUES (1, 0)")
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_triggers()
    else:
        _sqlite_triggers()


def _postgresql_triggers() -> None:
    schema = op.get_bind().execute(sa.text("SELECT current_schema()")).scalar()
    # TG_ARGV: the row's column naming the record (or person), and the records' column it matches.
    op.execute(
        f"""
        CREATE FUNCTION opendsp_policy_changed() RETURNS trigger LANGUAGE plpgsql
        SET search_path = "{schema}", pg_temp AS $$
        DECLARE
            old_key uuid;
            new_key uuid;
        BEGIN
            IF TG_OP <> 'INSERT' THEN
                old_key := (to_jsonb(OLD) ->> TG_ARGV[0])::uuid;
            END IF;
            IF TG_OP <> 'DELETE' THEN
                new_key := (to_jsonb(NEW) ->> TG_ARGV[0])::uuid;
            END IF;
            IF TG_ARGV[1] = 'person_id' THEN
                UPDATE records SET policy_version = policy_version + 1 WHERE person_id IN (old_key, new_key);
            ELSE
                UPDATE records SET policy_version = policy_version + 1 WHERE id IN (old_key, new_key);
            END IF;
            RETURN NULL;
        END $$
        """
    )
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
    for table, column, target in RECORD_SOURCES:
        op.execute(f"CREATE TRIGGER {table}_policy_changed AFTER INSERT OR UPDATE OR DELETE ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION opendsp_policy_changed('{column}', '{target}')")
    op.execute("CREATE TRIGGER persons_policy_changed AFTER UPDATE OF birth_date ON persons "
               "FOR EACH ROW EXECUTE FUNCTION opendsp_policy_changed('id', 'person_id')")
    for table, columns, inserted in CREDENTIAL_SOURCES:
        update = f"UPDATE OF {', '.join(columns)}" if columns else "UPDATE"
        insert = "INSERT OR " if inserted else ""
        op.execute(f"CREATE TRIGGER {table}_credentials_changed AFTER {insert}{update} OR DELETE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION opendsp_credentials_changed()")


def _sqlite_triggers() -> None:
    for table, column, target in RECORD_SOURCES:
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
    for table, columns, inserted in CREDENTIAL_SOURCES:
        update = f"UPDATE OF {', '.join(columns)}" if columns else "UPDATE"
        for operation in (("INSERT",) if inserted else ()) + (update, "DELETE"):
            name = operation.split()[0].lower()
            op.execute(f"CREATE TRIGGER {table}_credentials_{name} AFTER {operation} ON {table} BEGIN {bump}; END")


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:
        for table, _column, _target in RECORD_SOURCES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_policy_changed ON {table}")
        op.execute("DROP TRIGGER IF EXISTS persons_policy_changed ON persons")
        for table, _columns, _inserted in CREDENTIAL_SOURCES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_credentials_changed ON {table}")
        op.execute("DROP FUNCTION IF EXISTS opendsp_policy_changed()")
        op.execute("DROP FUNCTION IF EXISTS opendsp_credentials_changed()")
    else:
        for table, _column, _target in RECORD_SOURCES:
            for name in ("inserted", "updated", "deleted"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_policy_{name}")
        op.execute("DROP TRIGGER IF EXISTS persons_policy_updated")
        for table, _columns, _inserted in CREDENTIAL_SOURCES:
            for name in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_credentials_{name}")
    op.drop_table("credential_epochs")
    with op.batch_alter_table("records") as batch:
        batch.drop_column("policy_version")

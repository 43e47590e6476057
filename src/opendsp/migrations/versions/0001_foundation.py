"""foundation: persons, records, professionals, documents, keys, trace

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 07:21:35.451603
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
import opendsp.db


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('organisations',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('identifier', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('kind', sa.Enum('practice', 'hospital', 'laboratory', 'imaging_centre', 'pharmacy', 'home_care_provider', 'emergency_department', name='organisationkind', native_enum=False, length=32), nullable=False),
    sa.Column('city', sa.String(length=200), nullable=True),
    sa.Column('created_at', opendsp.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organisations')),
    sa.UniqueConstraint('identifier', name=op.f('uq_organisations_identifier'))
    )
    op.create_table('persons',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('national_number', sa.String(length=13), nullable=False),
    sa.Column('family_name', sa.String(length=200), nullable=False),
    sa.Column('given_name', sa.String(length=200), nullable=False),
    sa.Column('birth_date', sa.Date(), nullable=False),
    sa.Column('sex', sa.Enum('female', 'male', 'other', 'unknown', name='sex', native_enum=False, length=16), nullable=False),
    sa.Column('street', sa.String(length=300), nullable=True),
    sa.Column('postal_code', sa.String(length=20), nullable=True),
    sa.Column('city', sa.String(length=200), nullable=True),
    sa.Column('country', sa.String(length=2), nullable=True),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('mobile', sa.String(length=32), nullable=True),
    sa.Column('preferred_language', sa.Enum('fr', 'de', 'en', name='language', native_enum=False), nullable=False),
    sa.Column('created_at', opendsp.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_persons')),
    sa.UniqueConstraint('national_number', name=op.f('uq_persons_national_number'))
    )
    op.create_table('professionals',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('licence_number', sa.String(length=32), nullable=False),
    sa.Column('family_name', sa.String(length=200), nullable=False),
    sa.Column('given_name', sa.String(length=200), nullable=False),
    sa.Column('profession', sa.String(length=64), nullable=False),
    sa.Column('specialties', sa.JSON(), nullable=False),
    sa.Column('created_at', opendsp.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_professionals')),
    sa.UniqueConstraint('licence_number', name=op.f('uq_professionals_licence_number'))
    )
    with op.batch_alter_table('professionals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_professionals_profession'), ['profession'], unique=False)

    op.create_table('trace_chain_heads',
    sa.Column('chain', sa.String(length=64), nullable=False),
    sa.Column('last_seq', sa.BigInteger(), nullable=False),
    sa.Column('last_hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('chain', name=op.f('pk_trace_chain_heads'))
    )
    op.create_table('trace_entries',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('chain', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('recorded_at', opendsp.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor_kind', sa.String(length=32), nullable=False),
    sa.Column('actor_id', sa.String(length=64), nullable=True),
    sa.Column('actor_display', sa.String(length=300), nullable=True),
    sa.Column('on_behalf_of', sa.String(length=64), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('record_id', sa.Uuid(), nullable=True),
    sa.Column('document_id', sa.Uuid(), nullable=True),
    sa.Column('outcome', sa.Enum('permitted', 'refused', 'failed', name='outcome', native_enum=False, length=16), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('basis', sa.String(length=32), nullable=True),
    sa.Column('context', sa.JSON(), nullable=False),
    sa.Column('client_software', sa.String(length=200), nullable=True),
    sa.Column('request_id', sa.String(length=64), nullable=True),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trace_entries')),
    sa.UniqueConstraint('chain', 'seq', name=op.f('uq_trace_entries_chain'))
    )
    with op.batch_alter_table('trace_entries', schema=None) as batch_op:
        batch_op.create_index('ix_trace_entries_record_time', ['record_id', 'recorded_at'], unique=False)

    op.create_table('legal_representations',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('minor_id', sa.Uuid(), nullable=False),
    sa.Column('representative_id', sa.Uuid(), nullable=False),
    sa.Column('relationship_kind', sa.String(length=32), nullable=False),
    sa.Column('created_at', opendsp.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['minor_id'], ['persons.id'], name=op.f('fk_legal_representations_minor_id_persons'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['representative_id'], ['persons.id'], name=op.f('fk_legal_representations_representative_id_persons'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_legal_representations')),
    sa.UniqueConstraint('minor_id', 'representative_id', name=op.f('uq_legal_representations_minor_id'))
    )
    with op.batch_alter_table('legal_representations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_legal_representations_minor_id'), ['minor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_legal_representations_representative_id'), ['representative_id'], unique=False)

    op.create_table('professional_organisations',
    sa.Column('professional_id', sa.Uuid(), nullable=False),
    sa.Column('organisation_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_professional_organisations_organisation_id_organisations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['professional_id'], ['professionals.id'], name=op.f('fk_professional_organisations_professional_id_professionals'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('professional_id', 'organisation_id', name=op.f('pk_professional_organisations'))
    )
    op.create_table('records',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('person_id', sa.Uuid(), nullable=False),
    sa.Column('state', sa.Enum('created', 'active', 'closed', name='recordstate', native_enum=False, length=16), nullable=False),
    sa.Column('created_at', opendsp.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('activated_at', opendsp.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_at', opendsp.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reopened_at', opendsp.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_records_person_id_persons')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_records')),
    sa.UniqueConstraint('person_id', name=op.f('uq_records_person_id'))
    )
    op.create_table('documents',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('record_id', sa.Uuid(), nullable=False),
    sa.Column('type', sa.Enum('laboratory_report', 'imaging_report', 'consultation_report', 'prescription', 'discharge_letter', 'home_care_report', 'patient_summary', 'personal_document', 'operative_report', 'vaccination_record', 'pathology_report', name='documenttype', native_enum=False, length=32), nullable=False),
    sa.Column('title', sa.String(length=500), nullable=False),
    sa.Column('author_professional_id', sa.Uuid(), nullable=True),
    sa.Column('author_organisation_id', sa.Uuid(), nullable=True),
    sa.Column('authored_by_holder', sa.Boolean(), nullable=False),
    sa.Column('care_date', sa.Date(), nullable=False),
    sa.Column('deposited_at', opendsp.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('confidentiality', sa.Enum('normal', 'restricted', name='confidentialitylevel', native_enum=False, length=16), nullable=False),
    sa.Column('status', sa.Enum('current', 'superseded', 'withdrawn', name='documentstatus', native_enum=False, length=16), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('replaces_id', sa.Uuid(), nullable=True),
    sa.Column('status_changed_at', opendsp.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('media_type', sa.String(length=100), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('content_kind', sa.Enum('binary', 'fhir', name='contentkind', native_enum=False, length=8), nullable=False),
    sa.Column('content_key', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['author_organisation_id'], ['organisations.id'], name=op.f('fk_documents_author_organisation_id_organisations')),
    sa.ForeignKeyConstraint(['author_professional_id'], ['professionals.id'], name=op.f('fk_documents_author_professional_id_professionals')),
    sa.ForeignKeyConstraint(['record_id'], ['records.id'], name=op.f('fk_documents_record_id_records')),
    sa.ForeignKeyConstraint(['replaces_id'], ['documents.id'], name=op.f('fk_documents_replaces_id_documents')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_documents')),
    sa.UniqueConstraint('content_key', name=op.f('uq_documents_content_key'))
    )
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.create_index('ix_documents_record_deposited', ['record_id', 'deposited_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_documents_record_id'), ['record_id'], unique=False)
        batch_op.create_index('ix_documents_record_type', ['record_id', 'type'], unique=False)

    op.create_table('record_keys',
    sa.Column('record_id', sa.Uuid(), nullable=False),
    sa.Column('master_key_id', sa.String(length=64), nullable=True),
    sa.Column('wrapped_key', sa.LargeBinary(), nullable=True),
    sa.Column('created_at', opendsp.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('rewrapped_at', opendsp.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('destroyed_at', opendsp.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['record_id'], ['records.id'], name=op.f('fk_record_keys_record_id_records')),
    sa.PrimaryKeyConstraint('record_id', name=op.f('pk_record_keys'))
    )
    op.create_table('record_state_changes',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('record_id', sa.Uuid(), nullable=False),
    sa.Column('from_state', sa.Enum('created', 'active', 'closed', name='recordstate', native_enum=False, length=16), nullable=True),
    sa.Column('to_state', sa.Enum('created', 'active', 'closed', name='recordstate', native_enum=False, length=16), nullable=False),
    sa.Column('changed_at', opendsp.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.ForeignKeyConstraint(['record_id'], ['records.id'], name=op.f('fk_record_state_changes_record_id_records'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_record_state_changes'))
    )
    with op.batch_alter_table('record_state_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_record_state_changes_record_id'), ['record_id'], unique=False)



    op.execute("INSERT INTO trace_chain_heads (chain, last_seq, last_hash) VALUES ('platform', 0, '" + "0" * 64 + "')")
    _make_trace_append_only()


APPEND_ONLY_MESSAGE = "the trace is append-only"


def _make_trace_append_only() -> None:
    """The database itself refuses to update or delete trace entries."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION opendsp_trace_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '{APPEND_ONLY_MESSAGE}: % on % is refused', TG_OP, TG_TABLE_NAME
                    USING ERRCODE = 'insufficient_privilege';
            END $$
            """
        )
        op.execute(
            "CREATE TRIGGER trace_entries_append_only BEFORE UPDATE OR DELETE ON trace_entries "
            "FOR EACH ROW EXECUTE FUNCTION opendsp_trace_append_only()"
        )
        op.execute(
            "CREATE TRIGGER trace_entries_no_truncate BEFORE TRUNCATE ON trace_entries "
            "FOR EACH STATEMENT EXECUTE FUNCTION opendsp_trace_append_only()"
        )
    else:
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER trace_entries_no_{operation.lower()} BEFORE {operation} ON trace_entries "
                f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}: {operation} on trace_entries is refused'); END"
            )

def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS trace_entries_no_truncate ON trace_entries")
        op.execute("DROP TRIGGER IF EXISTS trace_entries_append_only ON trace_entries")
        op.execute("DROP FUNCTION IF EXISTS opendsp_trace_append_only()")
    with op.batch_alter_table('record_state_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_record_state_changes_record_id'))

    op.drop_table('record_state_changes')
    op.drop_table('record_keys')
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_index('ix_documents_record_type')
        batch_op.drop_index(batch_op.f('ix_documents_record_id'))
        batch_op.drop_index('ix_documents_record_deposited')

    op.drop_table('documents')
    op.drop_table('records')
    op.drop_table('professional_organisations')
    with op.batch_alter_table('legal_representations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_legal_representations_representative_id'))
        batch_op.drop_index(batch_op.f('ix_legal_representations_minor_id'))

    op.drop_table('legal_representations')
    with op.batch_alter_table('trace_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_trace_entries_record_time')

    op.drop_table('trace_entries')
    op.drop_table('trace_chain_heads')
    with op.batch_alter_table('professionals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_professionals_profession'))

    op.drop_table('professionals')
    op.drop_table('persons')
    op.drop_table('organisations')

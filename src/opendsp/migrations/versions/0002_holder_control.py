"""holder control: circle, blocks, presence and emergency access, assistants, notifications

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 07:34:28.996988
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
import opendsp.db


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('access_settings',
    sa.Column('record_id', sa.Uuid(), nullable=False),
    sa.Column('emergency_allowed', sa.Boolean(), nullable=False),
    sa.Column('referring_doctor_id', sa.Uuid(), nullable=True),
    sa.Column('presence_code_hash', sa.String(length=200), nullable=True),
    sa.Column('presence_code_set_at', opendsp.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', opendsp.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['record_id'], ['records.id'], name=op.f('fk_access_settings_record_id_records')),
    sa.ForeignKeyConstraint(['referring_doctor_id'], ['professionals.id'], name=op.f('fk_access_settings_referring_doctor_id_professionals')),
    sa.PrimaryKeyConstraint('record_id', name=op.f('pk_access_settings'))
    )
    op.create_table('assistant_delegations',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('record_id', sa.Uuid(), nullable=False),
    sa.Column('assistant_id', sa.Uuid(), nullable=False),
    sa.Column('since', opendsp.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('until', opendsp.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ended_at', opendsp.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['assistant_id'], ['persons.id'], name=op.f('fk_assistant_delegations_assistant_id_persons')),
    sa.ForeignKeyConstraint(['record_id'], ['records.id'], name=op.f('fk_assistant_delegations_record_id_records')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assistant_delegations'))
    )
    with op.batch_alter_table('assistant_delegations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_assistant_delegations_assistant_id'), ['assistant_id'], unique=False)
        batch_op.create_index('ix_assistant_delegations_record_assistant', ['record_id', 'assistant_id'], unique=False)

    op.create_table('blocked_professionals',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('record_id', sa.Uuid(), nullable=False),
    sa.Column('professional_id', sa.Uuid(), nullable=False),
    sa.Column('since', opendsp.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('removed_at', opendsp.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['professional_id'], ['professionals.id'], name=op.f('fk_blocked_professionals_professional_id_professionals')),
    sa.ForeignKeyConstraint(['record_id'], ['records.id'], name=op.f('fk_blocked_professionals_record_id_records')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_blocked_professionals'))
    )
    with op.batch_alter_table('blocked_professionals', schema=None) as batch_op:
        batch_op.create_index('ix_blocked_professionals_record_professional', ['record_id', 'professional_id'], unique=False)

    op.create_table('circle_members',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('record_id', sa.Uuid(), nullable=False),
    sa.Column('professional_id', sa.Uuid(), nullable=False),
    sa.Column('comment', sa.String(length=300), nullable=True),
    sa.Column('since', opendsp.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('until', opendsp.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('removed_at', opendsp.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['professional_id'], ['professionals.id'], name=op.f('fk_circle_members_professional_id_professionals')),
    sa.ForeignKeyConstraint(['record_id'], ['records.id'], name=op.f('fk_circle_members_record_id_records')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_circle_members'))
    )
    with op.batch_alter_table('circle_members', schema=None) as batch_op:
        batch_op.create_index('ix_circle_members_record_professional', ['record_id', 'professional_id'], unique=False)

    op.create_table('emergency_accesses',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('record_id', sa.Uuid(), nullable=False),
    sa.Column('professional_id', sa.Uuid(), nullable=False),
    sa.Column('organisation_id', sa.Uuid(), nullable=True),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('opened_at', opendsp.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', opendsp.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_emergency_accesses_organisation_id_organisations')),
    sa.ForeignKeyConstraint(['professional_id'], ['professionals.id'], name=op.f('fk_emergency_accesses_professional_id_professionals')),
    sa.ForeignKeyConstraint(['record_id'], ['records.id'], name=op.f('fk_emergency_accesses_record_id_records')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_emergency_accesses'))
    )
    with op.batch_alter_table('emergency_accesses', schema=None) as batch_op:
        batch_op.create_index('ix_emergency_accesses_record_expires', ['record_id', 'expires_at'], unique=False)

    op.create_table('notifications',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('record_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('created_at', opendsp.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('trace_entry_id', sa.BigInteger(), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('read_at', opendsp.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['record_id'], ['records.id'], name=op.f('fk_notifications_record_id_records')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications'))
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index('ix_notifications_record_created', ['record_id', 'created_at'], unique=False)

    op.create_table('presence_grants',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('record_id', sa.Uuid(), nullable=False),
    sa.Column('professional_id', sa.Uuid(), nullable=False),
    sa.Column('organisation_id', sa.Uuid(), nullable=True),
    sa.Column('opened_at', opendsp.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', opendsp.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_presence_grants_organisation_id_organisations')),
    sa.ForeignKeyConstraint(['professional_id'], ['professionals.id'], name=op.f('fk_presence_grants_professional_id_professionals')),
    sa.ForeignKeyConstraint(['record_id'], ['records.id'], name=op.f('fk_presence_grants_record_id_records')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_presence_grants'))
    )
    with op.batch_alter_table('presence_grants', schema=None) as batch_op:
        batch_op.create_index('ix_presence_grants_record_expires', ['record_id', 'expires_at'], unique=False)

    op.create_table('document_named_professionals',
    sa.Column('document_id', sa.Uuid(), nullable=False),
    sa.Column('professional_id', sa.Uuid(), nullable=False),
    sa.Column('record_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], name=op.f('fk_document_named_professionals_document_id_documents')),
    sa.ForeignKeyConstraint(['professional_id'], ['professionals.id'], name=op.f('fk_document_named_professionals_professional_id_professionals')),
    sa.ForeignKeyConstraint(['record_id'], ['records.id'], name=op.f('fk_document_named_professionals_record_id_records')),
    sa.PrimaryKeyConstraint('document_id', 'professional_id', name=op.f('pk_document_named_professionals'))
    )
    with op.batch_alter_table('document_named_professionals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_document_named_professionals_record_id'), ['record_id'], unique=False)

    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('hidden_at', opendsp.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('visible_to_holder_from', opendsp.db.UTCDateTime(timezone=True), nullable=True))

    with op.batch_alter_table('trace_entries', schema=None) as batch_op:
        batch_op.create_index('ix_trace_entries_actor_action_time', ['actor_id', 'action', 'recorded_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('trace_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_trace_entries_actor_action_time')

    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_column('visible_to_holder_from')
        batch_op.drop_column('hidden_at')

    with op.batch_alter_table('document_named_professionals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_document_named_professionals_record_id'))

    op.drop_table('document_named_professionals')
    with op.batch_alter_table('presence_grants', schema=None) as batch_op:
        batch_op.drop_index('ix_presence_grants_record_expires')

    op.drop_table('presence_grants')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_record_created')

    op.drop_table('notifications')
    with op.batch_alter_table('emergency_accesses', schema=None) as batch_op:
        batch_op.drop_index('ix_emergency_accesses_record_expires')

    op.drop_table('emergency_accesses')
    with op.batch_alter_table('circle_members', schema=None) as batch_op:
        batch_op.drop_index('ix_circle_members_record_professional')

    op.drop_table('circle_members')
    with op.batch_alter_table('blocked_professionals', schema=None) as batch_op:
        batch_op.drop_index('ix_blocked_professionals_record_professional')

    op.drop_table('blocked_professionals')
    with op.batch_alter_table('assistant_delegations', schema=None) as batch_op:
        batch_op.drop_index('ix_assistant_delegations_record_assistant')
        batch_op.drop_index(batch_op.f('ix_assistant_delegations_assistant_id'))

    op.drop_table('assistant_delegations')
    op.drop_table('access_settings')

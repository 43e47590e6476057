"""accounts: identity, activation codes and letters, recovery codes, web sessions, invitations

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 08:02:18.384815
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
import opendsp.db


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('accounts',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.Enum('person', 'professional', 'staff', name='accountkind', native_enum=False, length=16), nullable=False),
    sa.Column('login', sa.String(length=64), nullable=False),
    sa.Column('person_id', sa.Uuid(), nullable=True),
    sa.Column('professional_id', sa.Uuid(), nullable=True),
    sa.Column('display_name', sa.String(length=300), nullable=False),
    sa.Column('roles', sa.JSON(), nullable=False),
    sa.Column('state', sa.Enum('created', 'letter_sent', 'active', 'closed', name='accountstate', native_enum=False, length=16), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('mobile', sa.String(length=32), nullable=True),
    sa.Column('password_hash', sa.String(length=200), nullable=True),
    sa.Column('password_set_at', opendsp.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('totp_secret', sa.LargeBinary(), nullable=True),
    sa.Column('totp_pending', sa.LargeBinary(), nullable=True),
    sa.Column('totp_last_step', sa.BigInteger(), nullable=True),
    sa.Column('federated_subject', sa.String(length=500), nullable=True),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('locked_until', opendsp.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', opendsp.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('activated_at', opendsp.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_at', opendsp.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_accounts_person_id_persons')),
    sa.ForeignKeyConstraint(['professional_id'], ['professionals.id'], name=op.f('fk_accounts_professional_id_professionals')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_accounts')),
    sa.UniqueConstraint('kind', 'login', name=op.f('uq_accounts_kind')),
    sa.UniqueConstraint('person_id', name=op.f('uq_accounts_person_id')),
    sa.UniqueConstraint('professional_id', name=op.f('uq_accounts_professional_id'))
    )
    op.create_table('activation_codes',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('account_id', sa.Uuid(), nullable=False),
    sa.Column('code_hash', sa.String(length=200), nullable=False),
    sa.Column('created_at', opendsp.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', opendsp.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', opendsp.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', opendsp.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_activation_codes_account_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_activation_codes'))
    )
    with op.batch_alter_table('activation_codes', schema=None) as batch_op:
        batch_op.create_index('ix_activation_codes_account_created', ['account_id', 'created_at'], unique=False)

    op.create_table('activation_letters',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('account_id', sa.Uuid(), nullable=False),
    sa.Column('batch', sa.String(length=64), nullable=False),
    sa.Column('language', sa.String(length=2), nullable=False),
    sa.Column('file_name', sa.String(length=300), nullable=False),
    sa.Column('created_at', opendsp.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_activation_letters_account_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_activation_letters'))
    )
    with op.batch_alter_table('activation_letters', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_activation_letters_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_activation_letters_batch'), ['batch'], unique=False)

    op.create_table('assistant_invitations',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('record_id', sa.Uuid(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('until', opendsp.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', opendsp.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', opendsp.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('accepted_at', opendsp.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('accepted_by', sa.Uuid(), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['accepted_by'], ['persons.id'], name=op.f('fk_assistant_invitations_accepted_by_persons')),
    sa.ForeignKeyConstraint(['record_id'], ['records.id'], name=op.f('fk_assistant_invitations_record_id_records')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assistant_invitations')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_assistant_invitations_token_hash'))
    )
    with op.batch_alter_table('assistant_invitations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_assistant_invitations_record_id'), ['record_id'], unique=False)

    op.create_table('recovery_codes',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('account_id', sa.Uuid(), nullable=False),
    sa.Column('code_hash', sa.String(length=200), nullable=False),
    sa.Column('created_at', opendsp.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', opendsp.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_recovery_codes_account_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recovery_codes'))
    )
    with op.batch_alter_table('recovery_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recovery_codes_account_id'), ['account_id'], unique=False)

    op.create_table('web_sessions',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.Uuid(), nullable=False),
    sa.Column('method', sa.String(length=32), nullable=False),
    sa.Column('csrf_token', sa.String(length=64), nullable=False),
    sa.Column('created_at', opendsp.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', opendsp.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', opendsp.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', opendsp.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('acting_for_person_id', sa.Uuid(), nullable=True),
    sa.Column('organisation_id', sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_web_sessions_account_id_accounts')),
    sa.ForeignKeyConstraint(['acting_for_person_id'], ['persons.id'], name=op.f('fk_web_sessions_acting_for_person_id_persons')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_web_sessions_organisation_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_web_sessions')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_web_sessions_token_hash'))
    )
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_web_sessions_account_id'), ['account_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_web_sessions_account_id'))

    op.drop_table('web_sessions')
    with op.batch_alter_table('recovery_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recovery_codes_account_id'))

    op.drop_table('recovery_codes')
    with op.batch_alter_table('assistant_invitations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assistant_invitations_record_id'))

    op.drop_table('assistant_invitations')
    with op.batch_alter_table('activation_letters', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_activation_letters_batch'))
        batch_op.drop_index(batch_op.f('ix_activation_letters_account_id'))

    op.drop_table('activation_letters')
    with op.batch_alter_table('activation_codes', schema=None) as batch_op:
        batch_op.drop_index('ix_activation_codes_account_created')

    op.drop_table('activation_codes')
    op.drop_table('accounts')

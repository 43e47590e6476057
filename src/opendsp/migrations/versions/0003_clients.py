"""FHIR API: registered client software, used client assertions, MHD submission sets

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 08:08:50.203481
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import opendsp.db

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('client_assertions_used',
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('jti', sa.String(length=200), nullable=False),
    sa.Column('expires_at', opendsp.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('client_id', 'jti', name=op.f('pk_client_assertions_used'))
    )
    with op.batch_alter_table('client_assertions_used', schema=None) as batch_op:
        batch_op.create_index('ix_client_assertions_used_expires', ['expires_at'], unique=False)

    op.create_table('clients',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('organisation_id', sa.Uuid(), nullable=False),
    sa.Column('jwks', sa.JSON(), nullable=False),
    sa.Column('created_at', opendsp.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('disabled_at', opendsp.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_clients_organisation_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_clients')),
    sa.UniqueConstraint('client_id', name=op.f('uq_clients_client_id'))
    )
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_clients_organisation_id'), ['organisation_id'], unique=False)

    op.create_table('fhir_submission_sets',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('record_id', sa.Uuid(), nullable=False),
    sa.Column('unique_id', sa.String(length=200), nullable=False),
    sa.Column('title', sa.String(length=500), nullable=True),
    sa.Column('source_id', sa.String(length=200), nullable=True),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('author_professional_id', sa.Uuid(), nullable=True),
    sa.Column('submitted_at', opendsp.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['author_professional_id'], ['professionals.id'], name=op.f('fk_fhir_submission_sets_author_professional_id_professionals')),
    sa.ForeignKeyConstraint(['record_id'], ['records.id'], name=op.f('fk_fhir_submission_sets_record_id_records')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fhir_submission_sets'))
    )
    with op.batch_alter_table('fhir_submission_sets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fhir_submission_sets_record_id'), ['record_id'], unique=False)

    op.create_table('fhir_submitted_documents',
    sa.Column('document_id', sa.Uuid(), nullable=False),
    sa.Column('submission_set_id', sa.Uuid(), nullable=False),
    sa.Column('record_id', sa.Uuid(), nullable=False),
    sa.Column('master_identifier', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], name=op.f('fk_fhir_submitted_documents_document_id_documents')),
    sa.ForeignKeyConstraint(['record_id'], ['records.id'], name=op.f('fk_fhir_submitted_documents_record_id_records')),
    sa.ForeignKeyConstraint(['submission_set_id'], ['fhir_submission_sets.id'], name=op.f('fk_fhir_submitted_documents_submission_set_id_fhir_submission_sets')),
    sa.PrimaryKeyConstraint('document_id', name=op.f('pk_fhir_submitted_documents')),
    sa.UniqueConstraint('master_identifier', name=op.f('uq_fhir_submitted_documents_master_identifier'))
    )
    with op.batch_alter_table('fhir_submitted_documents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fhir_submitted_documents_record_id'), ['record_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_fhir_submitted_documents_submission_set_id'), ['submission_set_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('fhir_submitted_documents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fhir_submitted_documents_submission_set_id'))
        batch_op.drop_index(batch_op.f('ix_fhir_submitted_documents_record_id'))

    op.drop_table('fhir_submitted_documents')
    with op.batch_alter_table('fhir_submission_sets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fhir_submission_sets_record_id'))

    op.drop_table('fhir_submission_sets')
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_clients_organisation_id'))

    op.drop_table('clients')
    with op.batch_alter_table('client_assertions_used', schema=None) as batch_op:
        batch_op.drop_index('ix_client_assertions_used_expires')

    op.drop_table('client_assertions_used')

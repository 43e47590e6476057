"""stays: hospital stays, ADT senders and messages, institutional refusals

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 07:48:20.718901
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
import opendsp.db


revision = '0004'
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('adt_senders',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('organisation_id', sa.Uuid(), nullable=False),
    sa.Column('sending_application', sa.String(length=64), nullable=False),
    sa.Column('sending_facility', sa.String(length=64), nullable=False),
    sa.Column('created_at', opendsp.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_adt_senders_organisation_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_adt_senders')),
    sa.UniqueConstraint('sending_application', 'sending_facility', name=op.f('uq_adt_senders_sending_application'))
    )
    op.create_table('institutional_refusals',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('record_id', sa.Uuid(), nullable=False),
    sa.Column('organisation_id', sa.Uuid(), nullable=True),
    sa.Column('since', opendsp.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('removed_at', opendsp.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_institutional_refusals_organisation_id_organisations')),
    sa.ForeignKeyConstraint(['record_id'], ['records.id'], name=op.f('fk_institutional_refusals_record_id_records')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_institutional_refusals'))
    )
    with op.batch_alter_table('institutional_refusals', schema=None) as batch_op:
        batch_op.create_index('ix_institutional_refusals_record', ['record_id'], unique=False)

    op.create_table('received_messages',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('sender_id', sa.Uuid(), nullable=False),
    sa.Column('control_id', sa.String(length=64), nullable=False),
    sa.Column('event', sa.String(length=8), nullable=False),
    sa.Column('received_at', opendsp.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ack', sa.String(length=2000), nullable=False),
    sa.ForeignKeyConstraint(['sender_id'], ['adt_senders.id'], name=op.f('fk_received_messages_sender_id_adt_senders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_received_messages')),
    sa.UniqueConstraint('sender_id', 'control_id', name=op.f('uq_received_messages_sender_id'))
    )
    op.create_table('stays',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('record_id', sa.Uuid(), nullable=False),
    sa.Column('organisation_id', sa.Uuid(), nullable=False),
    sa.Column('care_unit_id', sa.Uuid(), nullable=True),
    sa.Column('visit_number', sa.String(length=64), nullable=False),
    sa.Column('patient_class', sa.Enum('inpatient', 'outpatient', 'emergency', name='patientclass', native_enum=False, length=16), nullable=False),
    sa.Column('state', sa.Enum('planned', 'in_progress', 'finished', 'cancelled', name='staystate', native_enum=False, length=16), nullable=False),
    sa.Column('admitted_at', opendsp.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('discharged_at', opendsp.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('cancelled_at', opendsp.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', opendsp.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['care_unit_id'], ['organisations.id'], name=op.f('fk_stays_care_unit_id_organisations')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_stays_organisation_id_organisations')),
    sa.ForeignKeyConstraint(['record_id'], ['records.id'], name=op.f('fk_stays_record_id_records')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stays')),
    sa.UniqueConstraint('organisation_id', 'visit_number', name=op.f('uq_stays_organisation_id'))
    )
    with op.batch_alter_table('stays', schema=None) as batch_op:
        batch_op.create_index('ix_stays_record_state', ['record_id', 'state'], unique=False)

    op.create_table('stay_movements',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('stay_id', sa.Uuid(), nullable=False),
    sa.Column('record_id', sa.Uuid(), nullable=False),
    sa.Column('care_unit_id', sa.Uuid(), nullable=True),
    sa.Column('moved_at', opendsp.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['care_unit_id'], ['organisations.id'], name=op.f('fk_stay_movements_care_unit_id_organisations')),
    sa.ForeignKeyConstraint(['record_id'], ['records.id'], name=op.f('fk_stay_movements_record_id_records')),
    sa.ForeignKeyConstraint(['stay_id'], ['stays.id'], name=op.f('fk_stay_movements_stay_id_stays')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stay_movements'))
    )
    with op.batch_alter_table('stay_movements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stay_movements_record_id'), ['record_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_stay_movements_stay_id'), ['stay_id'], unique=False)

    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('parent_id', sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_organisations_parent_id_organisations'), 'organisations', ['parent_id'], ['id'])



def downgrade() -> None:
    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_organisations_parent_id_organisations'), type_='foreignkey')
        batch_op.drop_column('parent_id')

    with op.batch_alter_table('stay_movements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stay_movements_stay_id'))
        batch_op.drop_index(batch_op.f('ix_stay_movements_record_id'))

    op.drop_table('stay_movements')
    with op.batch_alter_table('stays', schema=None) as batch_op:
        batch_op.drop_index('ix_stays_record_state')

    op.drop_table('stays')
    op.drop_table('received_messages')
    with op.batch_alter_table('institutional_refusals', schema=None) as batch_op:
        batch_op.drop_index('ix_institutional_refusals_record')

    op.drop_table('institutional_refusals')
    op.drop_table('adt_senders')

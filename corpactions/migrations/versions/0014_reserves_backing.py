"""proof of backing: custody statements, quarantined statements, auditor keys, backing checks;
what an approver acknowledged

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import corpactions.models.types


revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'auditorkey',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('public_key', sqlmodel.sql.sqltypes.AutoString(length=44), nullable=False),
        sa.Column('created_at', corpactions.models.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('auditorkey', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_auditorkey_name'), ['name'], unique=True)
    op.create_table(
        'quarantinedstatement',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('origin', sa.Text(), nullable=True),
        sa.Column('position', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('raw_payload', sa.Text(), nullable=False),
        sa.Column('received_at', corpactions.models.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_table(
        'custodystatement',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('instrument_id', sa.Integer(), nullable=False),
        sa.Column('custodian', sqlmodel.sql.sqltypes.AutoString(length=140), nullable=False),
        sa.Column('statement_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('isin', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=True),
        sa.Column('cusip', sqlmodel.sql.sqltypes.AutoString(length=9), nullable=True),
        sa.Column('shares', corpactions.models.types.DecimalText(), nullable=False),
        sa.Column('as_of', corpactions.models.types.UTCDateTime(), nullable=False),
        sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('auditor', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column('auditor_signature', sqlmodel.sql.sqltypes.AutoString(length=88), nullable=True),
        sa.Column('raw_payload', sa.Text(), nullable=False),
        sa.Column('received_at', corpactions.models.types.UTCDateTime(), nullable=False),
        sa.Column('superseded_at', corpactions.models.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['instrument_id'], ['instrument.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('custodian', 'statement_id', 'instrument_id', 'version', name='uq_custody_version'),
    )
    with op.batch_alter_table('custodystatement', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_custodystatement_as_of'), ['as_of'], unique=False)
        batch_op.create_index(batch_op.f('ix_custodystatement_instrument_id'), ['instrument_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_custodystatement_sha256'), ['sha256'], unique=False)
    op.create_table(
        'backingcheck',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('instrument_id', sa.Integer(), nullable=False),
        sa.Column('trigger', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('snapshot_id', sa.Integer(), nullable=True),
        sa.Column('slot', sa.Integer(), nullable=False),
        sa.Column('cutoff', corpactions.models.types.UTCDateTime(), nullable=False),
        sa.Column('supply', corpactions.models.types.U64(), nullable=False),
        sa.Column('decimals', sa.Integer(), nullable=False),
        sa.Column('multiplier', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column('excluded_total', corpactions.models.types.U64(), nullable=False),
        sa.Column('outstanding', corpactions.models.types.DecimalText(), nullable=False),
        sa.Column('statement_row_id', sa.Integer(), nullable=True),
        sa.Column('statement_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column('statement_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column('custodian_shares', corpactions.models.types.DecimalText(), nullable=True),
        sa.Column('difference', corpactions.models.types.DecimalText(), nullable=True),
        sa.Column('tolerance', corpactions.models.types.DecimalText(), nullable=False),
        sa.Column('verdict', sa.String(length=16), nullable=False),
        sa.Column('created_at', corpactions.models.types.UTCDateTime(), nullable=False),
        sa.Column('attestation_signature', sqlmodel.sql.sqltypes.AutoString(length=88), nullable=True),
        sa.Column('attestation_last_valid', sa.Integer(), nullable=True),
        sa.Column('attested_at', corpactions.models.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['instrument_id'], ['instrument.id'], ),
        sa.ForeignKeyConstraint(['snapshot_id'], ['snapshot.id'], ),
        sa.ForeignKeyConstraint(['statement_row_id'], ['custodystatement.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('instrument_id', 'statement_row_id', 'slot', name='uq_backing_check'),
    )
    with op.batch_alter_table('backingcheck', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_backingcheck_instrument_id'), ['instrument_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_backingcheck_snapshot_id'), ['snapshot_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_backingcheck_verdict'), ['verdict'], unique=False)
    with op.batch_alter_table('approval', schema=None) as batch_op:
        batch_op.add_column(sa.Column('acknowledged', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('approval', schema=None) as batch_op:
        batch_op.drop_column('acknowledged')
    with op.batch_alter_table('backingcheck', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_backingcheck_verdict'))
        batch_op.drop_index(batch_op.f('ix_backingcheck_snapshot_id'))
        batch_op.drop_index(batch_op.f('ix_backingcheck_instrument_id'))
    op.drop_table('backingcheck')
    with op.batch_alter_table('custodystatement', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_custodystatement_sha256'))
        batch_op.drop_index(batch_op.f('ix_custodystatement_instrument_id'))
        batch_op.drop_index(batch_op.f('ix_custodystatement_as_of'))
    op.drop_table('custodystatement')
    op.drop_table('quarantinedstatement')
    with op.batch_alter_table('auditorkey', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_auditorkey_name'))
    op.drop_table('auditorkey')

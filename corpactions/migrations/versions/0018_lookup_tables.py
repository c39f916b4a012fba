"""address lookup tables of recipients' token accounts (v0 payout batches)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import corpactions.models.types


revision: str = '0018'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'lookuptable',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('address', sqlmodel.sql.sqltypes.AutoString(length=44), nullable=False),
        sa.Column('authority', sqlmodel.sql.sqltypes.AutoString(length=44), nullable=False),
        sa.Column('recent_slot', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('addresses', sa.JSON(), nullable=False),
        sa.Column('last_extended_slot', sa.Integer(), nullable=True),
        sa.Column('rent_lamports', sa.Integer(), nullable=False),
        sa.Column('create_signature', sqlmodel.sql.sqltypes.AutoString(length=88), nullable=True),
        sa.Column('extend_signatures', sa.JSON(), nullable=False),
        sa.Column(
            'deactivate_signature', sqlmodel.sql.sqltypes.AutoString(length=88), nullable=True
        ),
        sa.Column('deactivation_slot', sa.Integer(), nullable=True),
        sa.Column('close_signature', sqlmodel.sql.sqltypes.AutoString(length=88), nullable=True),
        sa.Column('reclaimed_lamports', sa.Integer(), nullable=False),
        sa.Column('attempt_kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column('attempt_tx', sa.LargeBinary(), nullable=True),
        sa.Column('attempt_signature', sqlmodel.sql.sqltypes.AutoString(length=88), nullable=True),
        sa.Column('attempt_last_valid', sa.Integer(), nullable=True),
        sa.Column('attempt_addresses', sa.JSON(), nullable=False),
        sa.Column('last_used_at', corpactions.models.types.UTCDateTime(), nullable=False),
        sa.Column('created_at', corpactions.models.types.UTCDateTime(), nullable=False),
        sa.Column('updated_at', corpactions.models.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('address'),
    )
    with op.batch_alter_table('lookuptable', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lookuptable_authority'), ['authority'], unique=False)
        batch_op.create_index(batch_op.f('ix_lookuptable_status'), ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('lookuptable', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lookuptable_status'))
        batch_op.drop_index(batch_op.f('ix_lookuptable_authority'))
    op.drop_table('lookuptable')

"""operator registry: operators proven by ed25519 keys, and the append-only log of its changes;
decisions on plans carry the signer's key, the signed message and the signature

Revision ID: 0013_operators
Revises: 0012
Create Date: 2026-12-01
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import corpactions.models.types


revision: str = '0013_operators'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'operator',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('pubkey', sqlmodel.sql.sqltypes.AutoString(length=44), nullable=False),
        sa.Column('roles', sa.JSON(), nullable=False),
        sa.Column('added_at', corpactions.models.types.UTCDateTime(), nullable=False),
        sa.Column('added_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('revoked_at', corpactions.models.types.UTCDateTime(), nullable=True),
        sa.Column('revoked_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column('live_name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column('live_pubkey', sqlmodel.sql.sqltypes.AutoString(length=44), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('live_name'),
        sa.UniqueConstraint('live_pubkey'),
    )
    with op.batch_alter_table('operator', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_operator_name'), ['name'], unique=False)
        batch_op.create_index(batch_op.f('ix_operator_pubkey'), ['pubkey'], unique=False)
    op.create_table(
        'operatorchange',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('change', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('pubkey', sqlmodel.sql.sqltypes.AutoString(length=44), nullable=False),
        sa.Column('roles', sa.JSON(), nullable=False),
        sa.Column('message', sa.Text(), nullable=False),
        sa.Column('signatures', sa.JSON(), nullable=False),
        sa.Column('created_at', corpactions.models.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    for table in ('approval', 'multiplierdecision'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('pubkey', sqlmodel.sql.sqltypes.AutoString(length=44), nullable=True))
            batch_op.add_column(sa.Column('message', sa.Text(), nullable=True))
            batch_op.add_column(sa.Column('signature', sqlmodel.sql.sqltypes.AutoString(length=88), nullable=True))


def downgrade() -> None:
    for table in ('multiplierdecision', 'approval'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('signature')
            batch_op.drop_column('message')
            batch_op.drop_column('pubkey')
    op.drop_table('operatorchange')
    with op.batch_alter_table('operator', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_operator_pubkey'))
        batch_op.drop_index(batch_op.f('ix_operator_name'))
    op.drop_table('operator')

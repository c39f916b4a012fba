"""plan funding: each USDC plan's own token account, funded from the treasury and closed back

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import corpactions.models.types


revision: str = '0019'
down_revision: str | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'planfunding',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('plan_id', sa.Integer(), nullable=False),
        sa.Column('account', sqlmodel.sql.sqltypes.AutoString(length=44), nullable=False),
        sa.Column('seed', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('treasury', sqlmodel.sql.sqltypes.AutoString(length=44), nullable=False),
        sa.Column('treasury_owner', sqlmodel.sql.sqltypes.AutoString(length=44), nullable=False),
        sa.Column('payer', sqlmodel.sql.sqltypes.AutoString(length=44), nullable=False),
        sa.Column('mint', sqlmodel.sql.sqltypes.AutoString(length=44), nullable=False),
        sa.Column('amount', sa.BigInteger(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('attempt', sa.Integer(), nullable=False),
        sa.Column('message', sa.LargeBinary(), nullable=True),
        sa.Column('signed_tx', sa.LargeBinary(), nullable=True),
        sa.Column('signature', sqlmodel.sql.sqltypes.AutoString(length=88), nullable=True),
        sa.Column('last_valid_block_height', sa.BigInteger(), nullable=True),
        sa.Column('funded_slot', sa.BigInteger(), nullable=True),
        sa.Column('close_attempt', sa.Integer(), nullable=False),
        sa.Column('close_signed_tx', sa.LargeBinary(), nullable=True),
        sa.Column('close_signature', sqlmodel.sql.sqltypes.AutoString(length=88), nullable=True),
        sa.Column('close_last_valid_block_height', sa.BigInteger(), nullable=True),
        sa.Column('returned', sa.BigInteger(), nullable=True),
        sa.Column('closed_slot', sa.BigInteger(), nullable=True),
        sa.Column('created_at', corpactions.models.types.UTCDateTime(), nullable=False),
        sa.Column('updated_at', corpactions.models.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['plan_id'], ['payoutplan.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('plan_id'),
    )


def downgrade() -> None:
    op.drop_table('planfunding')

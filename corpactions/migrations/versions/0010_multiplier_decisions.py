"""multiplier plan decisions (approvals and rejections, append-only)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import corpactions.models.types


revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'multiplierdecision',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('plan_id', sa.Integer(), nullable=False),
        sa.Column('approver', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('decision', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column('plan_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('note', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column('created_at', corpactions.models.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['plan_id'], ['multiplierplan.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('multiplierdecision', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_multiplierdecision_plan_id'), ['plan_id'], unique=False)
    # Plans approved before this table existed keep their one approval as a decision row.
    op.execute(
        "INSERT INTO multiplierdecision (plan_id, approver, decision, plan_hash, created_at) "
        "SELECT id, approved_by, 'approve', plan_hash, approved_at FROM multiplierplan "
        "WHERE approved_by IS NOT NULL AND approved_at IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table('multiplierdecision', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_multiplierdecision_plan_id'))
    op.drop_table('multiplierdecision')

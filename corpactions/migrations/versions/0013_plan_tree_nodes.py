"""plan trees kept as chunks of their levels (proofs read from them, not stored per line)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'plannodes',
        sa.Column('plan_id', sa.Integer(), nullable=False),
        sa.Column('level', sa.Integer(), nullable=False),
        sa.Column('chunk', sa.Integer(), nullable=False),
        sa.Column('nodes', sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(['plan_id'], ['payoutplan.id']),
        sa.PrimaryKeyConstraint('plan_id', 'level', 'chunk'),
    )


def downgrade() -> None:
    op.drop_table('plannodes')

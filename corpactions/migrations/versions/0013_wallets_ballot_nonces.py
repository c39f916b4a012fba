"""ballots: every nonce a wallet used in a meeting, kept forever (a replay is refused)

Revision ID: 0013_wallets
Revises: 0013_operators
Create Date: 2026-12-01
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import corpactions.models.types


revision: str = '0013_wallets'
down_revision: str | None = '0013_operators'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'ballotnonce',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('action_id', sa.Integer(), nullable=False),
        sa.Column('wallet', sqlmodel.sql.sqltypes.AutoString(length=44), nullable=False),
        sa.Column('nonce', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('used_at', corpactions.models.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['action_id'], ['corporateaction.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('action_id', 'wallet', 'nonce', name='uq_ballot_nonce_used'),
    )
    # The nonces of the ballots already stored (current and replaced) are used.
    op.execute(
        "INSERT INTO ballotnonce (action_id, wallet, nonce, used_at) "
        "SELECT action_id, wallet, nonce, MIN(received_at) FROM ballot "
        "GROUP BY action_id, wallet, nonce"
    )


def downgrade() -> None:
    op.drop_table('ballotnonce')

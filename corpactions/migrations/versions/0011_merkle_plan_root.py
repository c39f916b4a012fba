"""payout lines carry their Merkle leaf index, the account they pay and their proof; plans the
proof of their inputs leaf

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('payoutplan', schema=None) as batch_op:
        batch_op.add_column(sa.Column('inputs_proof', sa.LargeBinary(), nullable=True))
    with op.batch_alter_table('payoutline', schema=None) as batch_op:
        batch_op.add_column(sa.Column('leaf_index', sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column('account', sqlmodel.sql.sqltypes.AutoString(length=44), nullable=True)
        )
        batch_op.add_column(sa.Column('proof', sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('payoutline', schema=None) as batch_op:
        batch_op.drop_column('proof')
        batch_op.drop_column('account')
        batch_op.drop_column('leaf_index')
    with op.batch_alter_table('payoutplan', schema=None) as batch_op:
        batch_op.drop_column('inputs_proof')

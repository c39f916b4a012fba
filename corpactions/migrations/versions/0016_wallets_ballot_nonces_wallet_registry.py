"""ballots: every nonce a wallet used in a meeting, kept forever (a replay is refused);
the wallet registry: append-only, signed rows (walletrecord) replace the mutable wallet flags

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import corpactions.models.types


revision: str = '0016'
down_revision: str | None = '0015'
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

    op.create_table(
        'walletrecord',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('address', sqlmodel.sql.sqltypes.AutoString(length=44), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('tax_class', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column('tax_form', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column('blocked', sa.Boolean(), nullable=False),
        sa.Column('blocked_reason', sqlmodel.sql.sqltypes.AutoString(length=256), nullable=True),
        sa.Column('excluded', sa.Boolean(), nullable=False),
        sa.Column('excluded_reason', sqlmodel.sql.sqltypes.AutoString(length=256), nullable=True),
        sa.Column('change', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
        sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=256), nullable=True),
        sa.Column('operator', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column('message', sa.Text(), nullable=True),
        sa.Column('signature', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
        sa.Column('recorded_at', corpactions.models.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('address', 'seq', name='uq_wallet_record_seq'),
    )
    with op.batch_alter_table('walletrecord', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_walletrecord_address'), ['address'], unique=False)
        batch_op.create_index(
            batch_op.f('ix_walletrecord_recorded_at'), ['recorded_at'], unique=False
        )
    # The flags set before the registry (by SQL) carry over as each wallet's first row,
    # unsigned and saying so, recorded when they were last changed.
    op.execute(
        "INSERT INTO walletrecord (address, seq, tax_class, blocked, blocked_reason, excluded, "
        "change, source, recorded_at) SELECT address, 1, tax_class, blocked, "
        "SUBSTR(blocked_reason, 1, 256), false, 'carried over from the wallet table', "
        "'migration 0016', updated_at FROM wallet"
    )
    op.drop_table('wallet')


def downgrade() -> None:
    op.create_table(
        'wallet',
        sa.Column('address', sqlmodel.sql.sqltypes.AutoString(length=44), nullable=False),
        sa.Column('blocked', sa.Boolean(), nullable=False),
        sa.Column('blocked_reason', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column('tax_class', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column('updated_at', corpactions.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('address'),
    )
    op.execute(
        "INSERT INTO wallet (address, blocked, blocked_reason, tax_class, updated_at) "
        "SELECT r.address, r.blocked, r.blocked_reason, r.tax_class, r.recorded_at "
        "FROM walletrecord r WHERE r.seq = (SELECT MAX(l.seq) FROM walletrecord l "
        "WHERE l.address = r.address)"
    )
    with op.batch_alter_table('walletrecord', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_walletrecord_recorded_at'))
        batch_op.drop_index(batch_op.f('ix_walletrecord_address'))
    op.drop_table('walletrecord')
    op.drop_table('ballotnonce')

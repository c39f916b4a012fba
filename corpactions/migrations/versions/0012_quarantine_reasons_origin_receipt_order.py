"""quarantine: every reason, origin, position, format, requeue; versions of unsequenced sources
ordered by receipt; the tickers an instrument trades under (ticker changes)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import corpactions.models.types


revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UNSEQUENCED = " " * 40 + "|"


def upgrade() -> None:
    op.create_table(
        'instrumentsymbol',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('instrument_id', sa.Integer(), nullable=False),
        sa.Column('symbol', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('valid_from', sa.Date(), nullable=True),
        sa.Column('action_id', sa.Integer(), nullable=True),
        sa.Column('created_at', corpactions.models.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['action_id'], ['corporateaction.id'], ),
        sa.ForeignKeyConstraint(['instrument_id'], ['instrument.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('instrument_id', 'symbol', name='uq_instrument_symbol'),
    )
    with op.batch_alter_table('instrumentsymbol', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_instrumentsymbol_instrument_id'), ['instrument_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_instrumentsymbol_symbol'), ['symbol'], unique=False)
    with op.batch_alter_table('quarantinedrecord', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reasons', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('origin', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('position', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column('format', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
        batch_op.add_column(sa.Column('requeued_at', corpactions.models.types.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('requeued_action_id', sa.Integer(), nullable=True))
    with op.batch_alter_table('quarantinedrecord', schema=None) as batch_op:
        batch_op.alter_column('reasons', server_default=None)
    bind = op.get_bind()
    quarantined = sa.table('quarantinedrecord', sa.column('id', sa.Integer), sa.column('reason', sa.Text), sa.column('reasons', sa.JSON))
    for row_id, reason in bind.execute(sa.select(quarantined.c.id, quarantined.c.reason)).all():
        bind.execute(quarantined.update().where(quarantined.c.id == row_id).values(reasons=[reason]))
    # A version without the source's own sequence was ordered by its payload hash, which let a
    # correction lose to the record it corrected half of the time. It is now ordered by its
    # receipt sequence, the version number. The action's current version is left as it stands:
    # the next record of that action settles it under the new order (and marks plans stale).
    versions = sa.table('corporateactionversion', sa.column('id', sa.Integer), sa.column('version', sa.Integer), sa.column('sequence_key', sa.String))
    rows = bind.execute(
        sa.select(versions.c.id, versions.c.version, versions.c.sequence_key).where(
            versions.c.sequence_key.like(_UNSEQUENCED + '%')
        )
    ).all()
    for row_id, number, key in rows:
        rank = key[len(_UNSEQUENCED)]
        bind.execute(
            versions.update().where(versions.c.id == row_id).values(sequence_key=f"{_UNSEQUENCED}{rank}|#{number:016d}")
        )


def downgrade() -> None:
    with op.batch_alter_table('instrumentsymbol', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_instrumentsymbol_symbol'))
        batch_op.drop_index(batch_op.f('ix_instrumentsymbol_instrument_id'))
    op.drop_table('instrumentsymbol')
    with op.batch_alter_table('quarantinedrecord', schema=None) as batch_op:
        batch_op.drop_column('requeued_action_id')
        batch_op.drop_column('requeued_at')
        batch_op.drop_column('format')
        batch_op.drop_column('position')
        batch_op.drop_column('origin')
        batch_op.drop_column('reasons')

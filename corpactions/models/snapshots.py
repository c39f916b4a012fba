"""A proven record-date holder snapshot; the per-owner holdings live in a Parquet file."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from corpactions.models.types import U64, UTCDateTime, utcnow


class Snapshot(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    instrument_id: int = Field(foreign_key="instrument.id", index=True)
    action_id: int | None = Field(default=None, foreign_key="corporateaction.id", index=True)
    slot: int
    block_time: datetime | None = Field(default=None, sa_type=UTCDateTime)
    supply: int = Field(sa_type=U64)
    account_count: int
    owner_count: int
    excluded_total: int = Field(default=0, sa_type=U64)
    multiplier: str | None = Field(default=None, max_length=64)
    pending_multiplier: str | None = Field(default=None, max_length=64)
    pending_multiplier_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    path: str
    sha256: str = Field(max_length=64)
    superseded_by: int | None = Field(default=None, foreign_key="snapshot.id")
    stale_reason: str | None = None
    """Set when the action was amended in a way the snapshot no longer fits (record date)."""
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

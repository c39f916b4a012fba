"""One transaction of a payout plan, with everything needed to resume it after a crash."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import LargeBinary, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from corpactions.models.types import UTCDateTime, utcnow


class BatchStatus(StrEnum):
    planned = "planned"
    signed = "signed"
    sent = "sent"
    confirmed = "confirmed"
    finalized = "finalized"
    expired = "expired"
    failed_on_chain = "failed_on_chain"


class PayoutBatch(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("plan_id", "seq", name="uq_batch_plan_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="payoutplan.id", index=True)
    seq: int
    status: BatchStatus = Field(default=BatchStatus.planned, sa_type=String(16), index=True)
    attempt: int = 0
    signed_tx: bytes | None = Field(default=None, sa_type=LargeBinary)
    signature: str | None = Field(default=None, max_length=88, index=True)
    last_valid_block_height: int | None = None
    slot: int | None = None
    fee: int | None = None
    creates_accounts: bool = False
    error: str | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

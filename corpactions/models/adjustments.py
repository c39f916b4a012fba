"""Share-count adjustments by UI multiplier (Token-2022 ScaledUiAmount): splits, reverse splits
and dividend reinvestment. Raw balances never change; one update transaction moves the mint's
multiplier at the action's effective time."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, LargeBinary, String, Text
from sqlmodel import Field, SQLModel

from corpactions.models.types import UTCDateTime, utcnow


class AdjustmentStatus(StrEnum):
    draft = "draft"
    approved = "approved"
    rejected = "rejected"
    stale = "stale"
    sent = "sent"
    done = "done"
    failed = "failed"


class MultiplierPlan(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    action_id: int = Field(foreign_key="corporateaction.id", index=True)
    action_version: int
    instrument_id: int = Field(foreign_key="instrument.id")
    kind: str = Field(max_length=32)
    """forward_split, reverse_split or reinvestment."""
    factor: str = Field(max_length=200)
    """The exact factor as a fraction ``p/q`` (2/1 for a 1:2 split)."""
    old_multiplier: str = Field(max_length=40)
    """The mint's multiplier in force when the plan was made (float repr, exact)."""
    new_multiplier: str = Field(max_length=40)
    """old x factor, rounded once to the nearest float64 (repr, exact)."""
    effective_timestamp: int = Field(sa_type=BigInteger)
    inputs: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    plan_hash: str = Field(max_length=64)
    status: AdjustmentStatus = Field(default=AdjustmentStatus.draft, sa_type=String(16), index=True)
    created_by: str = Field(max_length=64)
    approved_by: str | None = Field(default=None, max_length=64)
    approved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    signed_tx: bytes | None = Field(default=None, sa_type=LargeBinary)
    signature: str | None = Field(default=None, max_length=88)
    last_valid_block_height: int | None = None
    check: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    """After landing: what the mint account shows against what was planned."""
    error: str | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class MultiplierDecision(SQLModel, table=True):
    """An operator's approval or rejection of one exact multiplier plan. Only ever inserted."""

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="multiplierplan.id", index=True)
    approver: str = Field(max_length=64)
    decision: str = Field(max_length=8)
    plan_hash: str = Field(max_length=64)
    note: str | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    pubkey: str | None = Field(default=None, max_length=44)
    """The signer's ed25519 key (``corpactions.operators``); none on rows from before keys."""
    message: str | None = Field(default=None, sa_type=Text)
    """The exact text signed (``corpactions.operators.decisions.decision_message``)."""
    signature: str | None = Field(default=None, max_length=88)

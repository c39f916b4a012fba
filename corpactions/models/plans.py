"""Payout plans, their lines, and the append-only approvals that bind to a plan's hash."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, LargeBinary, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from corpactions.models.types import U64, DecimalText, UTCDateTime, utcnow


class PlanStatus(StrEnum):
    draft = "draft"
    approved = "approved"
    rejected = "rejected"
    stale = "stale"
    executing = "executing"
    paid = "paid"
    reconciled = "reconciled"
    attested = "attested"
    tampered = "tampered"
    """A line failed its proof against the approved root before signing; nothing more is sent."""
    discrepancy = "discrepancy"
    """The chain's finalized transactions disagree with the ledger; no attestation is sent."""


class LineStatus(StrEnum):
    pending = "pending"
    batched = "batched"
    paid = "paid"
    carried = "carried"
    escrowed = "escrowed"
    held_for_claim = "held_for_claim"
    failed = "failed"


class PayoutPlan(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    action_id: int = Field(foreign_key="corporateaction.id", index=True)
    action_version: int
    snapshot_id: int = Field(foreign_key="snapshot.id")
    kind: str = Field(default="cash_dividend", max_length=32)
    """cash_dividend, split (new stock tokens minted) or cash_in_lieu (a split's fractions)."""
    asset: str = Field(default="usdc", max_length=8)
    """What the lines deliver: ``usdc`` transferred from the treasury, or ``stock`` minted by
    the payout authority (the mint authority of a classic SPL stock mint)."""
    status: PlanStatus = Field(default=PlanStatus.draft, sa_type=String(16), index=True)
    rate_per_share: Decimal = Field(sa_type=DecimalText)
    gross_pool: int = Field(sa_type=BigInteger)
    withheld_total: int = Field(default=0, sa_type=BigInteger)
    sent_total: int = Field(default=0, sa_type=BigInteger)
    carried_total: int = Field(default=0, sa_type=BigInteger)
    escrowed_total: int = Field(default=0, sa_type=BigInteger)
    undistributed: int = Field(default=0, sa_type=BigInteger)
    carried_in_total: int = Field(default=0, sa_type=BigInteger)
    line_count: int = 0
    inputs: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    """The canonical inputs the hash covers: action version, snapshot hash, rates, policy."""
    plan_hash: str = Field(max_length=64)
    """The Merkle root over the inputs (leaf 0) and the lines (``corpactions.payouts.merkle``)."""
    inputs_proof: bytes | None = Field(default=None, sa_type=LargeBinary)
    """Leaf 0's proof: the executor checks the inputs (mint, line count) against the root."""
    created_by: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    stale_reason: str | None = None
    approved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    paid_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reconciliation: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    """After the run: per-line amounts from the chain's token balance deltas against the plan."""
    ledger_sha256: str | None = Field(default=None, max_length=64)
    attestation_signature: str | None = Field(default=None, max_length=88)


class PayoutLine(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("plan_id", "owner", name="uq_line_plan_owner"),
        # A holder's history, newest first, straight from the index (the API's hot path).
        Index("ix_payoutline_owner_id", "owner", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="payoutplan.id", index=True)
    owner: str = Field(max_length=44)
    shares: int = Field(sa_type=U64)
    gross: int = Field(sa_type=BigInteger)
    withholding: int = Field(default=0, sa_type=BigInteger)
    net: int = Field(sa_type=BigInteger)
    carried_in: int = Field(default=0, sa_type=BigInteger)
    """Amounts carried from earlier payouts (below the minimum then), paid with this line."""
    amount_due: int = Field(default=0, sa_type=BigInteger)
    """net + carried_in: what the holder gets when this line is sent."""
    tax_class: str | None = Field(default=None, max_length=32)
    status_reason: str | None = None
    carried_into: int | None = Field(default=None, foreign_key="payoutplan.id", index=True)
    """For a carried line: the later plan that paid it."""
    status: LineStatus = Field(default=LineStatus.pending, sa_type=String(16), index=True)
    batch_id: int | None = Field(default=None, foreign_key="payoutbatch.id", index=True)
    signature: str | None = Field(default=None, max_length=88)
    slot: int | None = None
    leaf_index: int | None = None
    """The line's leaf in the plan's Merkle tree (1..n; leaf 0 is the plan's inputs)."""
    account: str | None = Field(default=None, max_length=44)
    """The token account the line pays: the owner's associated account for the plan's mint."""
    proof: bytes | None = Field(default=None, sa_type=LargeBinary)
    """Sibling hashes from the leaf to the plan root (``corpactions.payouts.merkle``)."""


class Approval(SQLModel, table=True):
    """An operator's decision on one exact plan. Rows are only ever inserted."""

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="payoutplan.id", index=True)
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

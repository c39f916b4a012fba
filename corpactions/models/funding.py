"""A USDC plan's own token account: funded once from the treasury, closed back into it once.

One row per plan. Funding and closing are chain writes like any other: each attempt's signed
bytes, signature and last valid block height are recorded (compare-and-set on ``attempt`` /
``close_attempt``) before the first send, and only ``corpactions.execution.sendonce`` decides
what became of an attempt.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, LargeBinary, String
from sqlmodel import Field, SQLModel

from corpactions.models.types import UTCDateTime, utcnow


class FundingStatus(StrEnum):
    exported = "exported"
    """An unsigned funding transaction was written for an external signer; nothing is signed."""
    signed = "signed"
    """A signed funding attempt is recorded (and possibly sent): the chain decides its fate."""
    funded = "funded"
    """The funding transaction is finalized: the plan account holds the plan's to-send total."""
    closing = "closing"
    """A signed closing attempt is recorded: the remainder goes back to the treasury."""
    closed = "closed"
    """The remainder is back in the treasury and the plan account is closed."""


class PlanFunding(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="payoutplan.id", unique=True)
    account: str = Field(max_length=44)
    """The plan's token account: createAccountWithSeed(base=treasury owner, seed), owned by
    the payer."""
    seed: str = Field(max_length=32)
    treasury: str = Field(max_length=44)
    """The token account funding the plan; closing returns the remainder here and only here."""
    treasury_owner: str = Field(max_length=44)
    payer: str = Field(max_length=44)
    """The hot payout key that owns the plan account (and signs the plan's transfers)."""
    mint: str = Field(max_length=44)
    amount: int = Field(sa_type=BigInteger)
    """The plan's to-send total, moved in by the funding transaction."""
    status: FundingStatus = Field(default=FundingStatus.exported, sa_type=String(16))
    attempt: int = 0
    message: bytes | None = Field(default=None, sa_type=LargeBinary)
    """The current attempt's message: what an external signer must sign, byte for byte."""
    signed_tx: bytes | None = Field(default=None, sa_type=LargeBinary)
    signature: str | None = Field(default=None, max_length=88)
    last_valid_block_height: int | None = Field(default=None, sa_type=BigInteger)
    funded_slot: int | None = Field(default=None, sa_type=BigInteger)
    close_attempt: int = 0
    close_signed_tx: bytes | None = Field(default=None, sa_type=LargeBinary)
    close_signature: str | None = Field(default=None, max_length=88)
    close_last_valid_block_height: int | None = Field(default=None, sa_type=BigInteger)
    returned: int | None = Field(default=None, sa_type=BigInteger)
    """What the closing transaction moved back to the treasury (read from the chain)."""
    closed_slot: int | None = Field(default=None, sa_type=BigInteger)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

"""Per-wallet flags that payout policy reads: blocked (sanctions/KYC) and tax class."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from corpactions.models.types import UTCDateTime, utcnow


class Wallet(SQLModel, table=True):
    address: str = Field(primary_key=True, max_length=44)
    blocked: bool = False
    blocked_reason: str | None = None
    tax_class: str | None = Field(default=None, max_length=32)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

"""The wallet registry: what payout policy knows about a wallet (tax class, blocked, excluded),
as append-only rows. Each row is the wallet's whole state after one change, numbered per wallet
(``seq``), with the operator who signed it, the signed text and the signature. Nothing is ever
updated or deleted: a wallet's state at a moment is its row with the highest ``seq`` recorded at
or before that moment, and its history is all its rows."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from corpactions.models.types import UTCDateTime, utcnow


class WalletRecord(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("address", "seq", name="uq_wallet_record_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    address: str = Field(max_length=44, index=True)
    seq: int
    """1 for a wallet's first row, then one more per change (two concurrent changes of the
    same wallet cannot both be stored: the second is refused and can be signed again)."""
    tax_class: str | None = Field(default=None, max_length=32)
    """A class of CORPACTIONS_TAX_RATES; None: the default class."""
    tax_form: str | None = Field(default=None, max_length=16)
    """The document behind the class: W-9, W-8BEN, or None (undocumented)."""
    blocked: bool = False
    blocked_reason: str | None = Field(default=None, max_length=256)
    excluded: bool = False
    """Never entitled: out of every payout pool (issuer inventory, custodian)."""
    excluded_reason: str | None = Field(default=None, max_length=256)
    change: str = Field(max_length=512)
    """What this row changed, in words (for ``wallets show``)."""
    source: str | None = Field(default=None, max_length=256)
    """Where the change came from when not typed: an imported file and its sha256."""
    operator: str | None = Field(default=None, max_length=64)
    message: str | None = Field(default=None, sa_type=Text)
    """The exact text the operator signed."""
    signature: str | None = Field(default=None, max_length=128)
    recorded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)

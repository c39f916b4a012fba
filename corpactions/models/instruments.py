"""Tokenized instruments: an underlying ticker and the SPL mint that represents it on chain."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import JSON, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from corpactions.models.types import UTCDateTime, utcnow


class TokenProgram(StrEnum):
    token = "token"  # noqa: S105 - a program name, not a secret
    token2022 = "token2022"


class InstrumentBase(SQLModel):
    symbol: str = Field(index=True, unique=True, max_length=16)
    mint: str = Field(index=True, unique=True, max_length=44)
    token_program: TokenProgram = Field(default=TokenProgram.token, sa_type=String(16))
    decimals: int = Field(default=8, ge=0, le=18)
    issuer_wallet: str | None = Field(default=None, max_length=44)
    excluded_wallets: list[str] = Field(default_factory=list, sa_type=JSON)
    active: bool = True
    dividend_mode: str = Field(default="usdc", max_length=16)
    """``usdc``: cash dividends are paid in USDC; ``reinvest``: they raise the UI multiplier
    (Token-2022 ScaledUiAmount mints only)."""


class Instrument(InstrumentBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class InstrumentSymbol(SQLModel, table=True):
    """A ticker an instrument trades under from a date (``valid_from``; None: before any
    recorded change). A ticker change (CHAN) writes the new one; the mint never changes, and
    feed records under any of an instrument's tickers are its records."""

    __table_args__ = (UniqueConstraint("instrument_id", "symbol", name="uq_instrument_symbol"),)

    id: int | None = Field(default=None, primary_key=True)
    instrument_id: int = Field(foreign_key="instrument.id", index=True)
    symbol: str = Field(index=True, max_length=16)
    valid_from: date | None = None
    action_id: int | None = Field(default=None, foreign_key="corporateaction.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

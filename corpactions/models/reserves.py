"""Proof of backing: the custodian's statements of holdings, the auditors whose signatures they
may carry, the ones refused, and every check of token supply against custody."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from corpactions.models.types import U64, DecimalText, UTCDateTime, utcnow


class CustodyStatement(SQLModel, table=True):
    """One instrument's position in one custodian statement, as one file stated it. Versioned
    like a feed record: the same (custodian, statement id, instrument) received again with other
    content is a new version and supersedes the one before; rows are never edited otherwise."""

    __table_args__ = (
        UniqueConstraint(
            "custodian", "statement_id", "instrument_id", "version", name="uq_custody_version"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    instrument_id: int = Field(foreign_key="instrument.id", index=True)
    custodian: str = Field(max_length=140)
    statement_id: str = Field(max_length=64)
    version: int = 1
    source: str = Field(max_length=16)
    """``semt002``, ``csv`` or ``json``."""
    isin: str | None = Field(default=None, max_length=12)
    cusip: str | None = Field(default=None, max_length=9)
    shares: Decimal = Field(sa_type=DecimalText)
    """Shares the custodian holds for the token (whole or fractional), exactly as stated."""
    as_of: datetime = Field(sa_type=UTCDateTime, index=True)
    sha256: str = Field(max_length=64, index=True)
    """sha256 of the statement file's bytes: what an auditor signs and the memo publishes."""
    auditor: str | None = Field(default=None, max_length=64)
    auditor_signature: str | None = Field(default=None, max_length=88)
    raw_payload: str = Field(sa_type=Text)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    superseded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class QuarantinedStatement(SQLModel, table=True):
    """A custody statement (or one position in it) that was refused, kept whole with why."""

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=16)
    origin: str | None = Field(default=None, sa_type=Text)
    position: str | None = Field(default=None, max_length=64)
    reason: str = Field(sa_type=Text)
    sha256: str = Field(max_length=64)
    raw_payload: str = Field(sa_type=Text)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AuditorKey(SQLModel, table=True):
    """An auditor whose ed25519 signature over a statement's sha256 is accepted."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True, index=True)
    public_key: str = Field(max_length=44)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class BackingCheck(SQLModel, table=True):
    """Token supply at a slot against the custodian's shares, with every input it used.

    ``outstanding`` = supply (raw) x multiplier / 10**decimals - excluded wallets, in shares;
    ``difference`` = outstanding - custodian shares; the verdict is ``backed`` when its absolute
    value is within ``tolerance``, else ``over_minted`` (more tokens than shares) or
    ``under_minted``; ``no_statement`` when no statement was as of the cutoff. The memo that
    publishes it is recorded here (compare-and-set) before it is sent, once per (instrument,
    statement, slot)."""

    __table_args__ = (
        UniqueConstraint("instrument_id", "statement_row_id", "slot", name="uq_backing_check"),
    )

    id: int | None = Field(default=None, primary_key=True)
    instrument_id: int = Field(foreign_key="instrument.id", index=True)
    trigger: str = Field(max_length=16)
    """``snapshot`` (record date), ``scheduled`` (beat) or ``manual``."""
    snapshot_id: int | None = Field(default=None, foreign_key="snapshot.id", index=True)
    slot: int
    cutoff: datetime = Field(sa_type=UTCDateTime)
    supply: int = Field(sa_type=U64)
    decimals: int
    multiplier: str | None = Field(default=None, max_length=64)
    excluded_total: int = Field(default=0, sa_type=U64)
    outstanding: Decimal = Field(sa_type=DecimalText)
    statement_row_id: int | None = Field(default=None, foreign_key="custodystatement.id")
    statement_id: str | None = Field(default=None, max_length=64)
    statement_sha256: str | None = Field(default=None, max_length=64)
    custodian_shares: Decimal | None = Field(default=None, sa_type=DecimalText)
    difference: Decimal | None = Field(default=None, sa_type=DecimalText)
    tolerance: Decimal = Field(sa_type=DecimalText)
    verdict: str = Field(max_length=16, sa_type=String(16), index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    attestation_signature: str | None = Field(default=None, max_length=88)
    attestation_last_valid: int | None = None
    attested_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    @property
    def backed(self) -> bool:
        return self.verdict == "backed"

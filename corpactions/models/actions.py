"""Corporate actions, every version the feeds delivered, and the records they refused."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from corpactions.models.types import DecimalText, UTCDateTime, utcnow


class ActionKind(StrEnum):
    cash_dividend = "cash_dividend"
    stock_dividend = "stock_dividend"
    forward_split = "forward_split"
    reverse_split = "reverse_split"
    meeting = "meeting"
    ticker_change = "ticker_change"
    """Carried out: the instrument keeps its mint and trades under the new symbol from the
    effective date."""
    # Recognised, not carried out: each becomes an action that needs an operator.
    merger = "merger"
    spin_off = "spin_off"
    rights = "rights"
    name_change = "name_change"
    delisting = "delisting"
    return_of_capital = "return_of_capital"
    liquidation = "liquidation"
    tender_offer = "tender_offer"
    redemption = "redemption"
    other = "other"
    """An event type a source names that no rule here knows; its code is kept in details."""


class ActionStatus(StrEnum):
    announced = "announced"
    confirmed = "confirmed"
    snapshotted = "snapshotted"
    planned = "planned"
    approved = "approved"
    paying = "paying"
    paid = "paid"
    attested = "attested"
    cancelled = "cancelled"
    withdrawn = "withdrawn"
    failed = "failed"
    needs_operator = "needs_operator"
    """An event corpactions recognises but does not carry out (a merger, a spin-off, ...): the
    status reason says what it is and what a person has to do."""
    applied = "applied"
    """Carried out without a payment: a ticker change recorded on the instrument."""


TERMINAL_ACTION_STATUSES = frozenset(
    {
        ActionStatus.cancelled,
        ActionStatus.withdrawn,
        ActionStatus.failed,
        ActionStatus.attested,
        ActionStatus.applied,
    }
)


class CorporateAction(SQLModel, table=True):
    """One economic event of one instrument, identified by its source's stable reference."""

    __table_args__ = (UniqueConstraint("source", "source_ref", name="uq_action_source_ref"),)

    id: int | None = Field(default=None, primary_key=True)
    instrument_id: int = Field(foreign_key="instrument.id", index=True)
    source: str = Field(max_length=32)
    source_ref: str = Field(max_length=128)
    kind: ActionKind = Field(sa_type=String(32))
    status: ActionStatus = Field(default=ActionStatus.announced, sa_type=String(32), index=True)
    current_version: int = 1
    status_reason: str | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CorporateActionVersion(SQLModel, table=True):
    """The terms of an action as one feed record stated them. Versions are never edited."""

    __table_args__ = (UniqueConstraint("action_id", "version", name="uq_action_version"),)

    id: int | None = Field(default=None, primary_key=True)
    action_id: int = Field(foreign_key="corporateaction.id", index=True)
    version: int
    kind: ActionKind = Field(sa_type=String(32))
    function: str = Field(default="NEWM", max_length=8)
    processing_status: str | None = Field(default=None, max_length=8)
    ex_date: date | None = None
    record_date: date | None = None
    pay_date: date | None = None
    effective_date: date | None = None
    currency: str | None = Field(default=None, max_length=3)
    gross_rate: Decimal | None = Field(default=None, sa_type=DecimalText)
    net_rate: Decimal | None = Field(default=None, sa_type=DecimalText)
    withholding_rate: Decimal | None = Field(default=None, sa_type=DecimalText)
    ratio_new: Decimal | None = Field(default=None, sa_type=DecimalText)
    ratio_old: Decimal | None = Field(default=None, sa_type=DecimalText)
    fraction_disposition: str | None = Field(default=None, max_length=8)
    details: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    payload_sha256: str = Field(max_length=64, index=True)
    sequence_key: str = Field(default="", max_length=160)
    """Where this version stands among the action's versions: the source's own timestamp or
    sequence, then function rank, then payload hash (order-independent); for a source without
    an ordering, function rank then the receipt sequence (the version number, in order of
    arrival), so the record received last is current. The current version is the greatest."""
    raw_payload: str = Field(sa_type=Text)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    superseded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class QuarantinedRecord(SQLModel, table=True):
    """A feed record that failed validation, kept whole with every reason, where it came from
    and where it stood (once per payload). NUL and control characters are stored escaped."""

    __table_args__ = (UniqueConstraint("source", "payload_sha256", name="uq_quarantine_payload"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=32, index=True)
    source_ref: str | None = Field(default=None, max_length=128)
    reason: str = Field(sa_type=Text)
    """Every reason, joined by '; ' (``reasons`` has them one by one)."""
    reasons: list[str] = Field(default_factory=list, sa_type=JSON)
    origin: str | None = Field(default=None, sa_type=Text)
    """The file path, or the provider and the time of the pull."""
    position: str | None = Field(default=None, max_length=64)
    """Where the record stood in its payload: 'record 3', 'line 7', 'Document 2', 'file'."""
    format: str | None = Field(default=None, max_length=16)
    """The payload format (``FeedFormat``) it was read as, for ``feeds requeue``."""
    payload_sha256: str = Field(default="", max_length=64)
    raw_payload: str = Field(sa_type=Text)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    requeued_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    """When ``feeds requeue`` took the record in after its cause was fixed."""
    requeued_action_id: int | None = Field(default=None)

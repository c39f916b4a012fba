"""Ballots (every one kept; a replaced ballot is marked, never deleted) and meeting results."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from corpactions.models.types import U64, UTCDateTime, utcnow


class Ballot(SQLModel, table=True):
    __table_args__ = (
        # One current ballot per wallet and meeting, even when two arrive at the same moment.
        Index(
            "uq_ballot_current",
            "action_id",
            "wallet",
            unique=True,
            postgresql_where=text("superseded_at IS NULL"),
            sqlite_where=text("superseded_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    action_id: int = Field(foreign_key="corporateaction.id")
    """The meeting (an action of kind ``meeting``)."""
    wallet: str = Field(max_length=44, index=True)
    message: str = Field(sa_type=Text)
    """The exact text the wallet signed (UTF-8)."""
    signature: str = Field(max_length=88)
    nonce: str = Field(max_length=64)
    choices: dict[str, str] = Field(default_factory=dict, sa_type=JSON)
    """Item id -> choice."""
    weight: int = Field(sa_type=U64)
    """Raw token units held at the record-date snapshot."""
    snapshot_id: int = Field(foreign_key="snapshot.id")
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    superseded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    """Set when a later ballot of the same wallet replaced this one."""


class BallotNonce(SQLModel, table=True):
    """Every nonce a wallet used in a meeting, kept forever: a ballot whose nonce is here is
    a replay (of a replaced ballot too), never a new vote."""

    __table_args__ = (
        UniqueConstraint("action_id", "wallet", "nonce", name="uq_ballot_nonce_used"),
    )

    id: int | None = Field(default=None, primary_key=True)
    action_id: int = Field(foreign_key="corporateaction.id")
    wallet: str = Field(max_length=44)
    nonce: str = Field(max_length=64)
    used_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class MeetingResult(SQLModel, table=True):
    """The final tally of a closed meeting and the proof of what it counted."""

    id: int | None = Field(default=None, primary_key=True)
    action_id: int = Field(foreign_key="corporateaction.id", unique=True)
    snapshot_id: int = Field(foreign_key="snapshot.id")
    tally: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    ballots_counted: int = 0
    record_sha256: str = Field(max_length=64)
    """sha256 of the published record file (tally + every counted ballot)."""
    attestation_signature: str | None = Field(default=None, max_length=88)
    attestation_last_valid: int | None = None
    closed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    attested_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

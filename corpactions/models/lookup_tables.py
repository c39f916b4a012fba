"""Address lookup tables of recipients' token accounts, kept for v0 payout batches.

A row is one table on chain, owned and paid for by the payout authority. Every write to it
(create, extend, deactivate, close) is one attempt recorded here before it is sent (the
send-once rule): ``attempt_kind``, ``attempt_tx`` (the signed bytes), ``attempt_signature`` and
``attempt_last_valid``; ``attempt_addresses`` are the addresses an extension adds. Only once the
chain has finalized an attempt does its effect enter ``addresses`` / ``status``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, LargeBinary, String
from sqlmodel import Field, SQLModel

from corpactions.models.types import UTCDateTime, utcnow


class TableStatus(StrEnum):
    creating = "creating"
    active = "active"
    deactivating = "deactivating"
    closed = "closed"


class LookupTable(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    address: str = Field(max_length=44, unique=True)
    authority: str = Field(max_length=44, index=True)
    recent_slot: int
    status: TableStatus = Field(default=TableStatus.creating, sa_type=String(16), index=True)
    addresses: list[str] = Field(default_factory=list, sa_type=JSON)
    """The table's entries in order, as finalized on chain."""
    last_extended_slot: int | None = None
    """Slot of the last finalized extension: the table is usable from the next slot on."""
    rent_lamports: int = 0
    create_signature: str | None = Field(default=None, max_length=88)
    extend_signatures: list[str] = Field(default_factory=list, sa_type=JSON)
    deactivate_signature: str | None = Field(default=None, max_length=88)
    deactivation_slot: int | None = None
    close_signature: str | None = Field(default=None, max_length=88)
    reclaimed_lamports: int = 0
    attempt_kind: str | None = Field(default=None, max_length=16)
    attempt_tx: bytes | None = Field(default=None, sa_type=LargeBinary)
    attempt_signature: str | None = Field(default=None, max_length=88)
    attempt_last_valid: int | None = None
    attempt_addresses: list[Any] = Field(default_factory=list, sa_type=JSON)
    last_used_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

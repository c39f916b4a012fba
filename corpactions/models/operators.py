"""The operator registry: people proven by ed25519 keys, and the append-only log of its changes.

``Operator`` is one registration of one key under one name. Revoking it sets ``revoked_at`` and
clears ``live_name`` / ``live_pubkey``; those two columns are unique, so at most one live
operator holds a name and at most one holds a key (NULLs never collide). ``OperatorChange`` rows
are only ever inserted: every change, the exact message the admins signed and their signatures.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Text
from sqlmodel import Field, SQLModel

from corpactions.models.types import UTCDateTime, utcnow

ROLES = ("maker", "approver", "admin")


class Operator(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, index=True)
    pubkey: str = Field(max_length=44, index=True)
    roles: list[str] = Field(sa_type=JSON)
    added_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    added_by: str = Field(max_length=64)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_by: str | None = Field(default=None, max_length=64)
    live_name: str | None = Field(default=None, max_length=64, unique=True)
    live_pubkey: str | None = Field(default=None, max_length=44, unique=True)

    @property
    def live(self) -> bool:
        return self.revoked_at is None


class OperatorChange(SQLModel, table=True):
    """One change of the registry (``init``, ``add``, ``revoke``). Rows are only ever inserted."""

    id: int | None = Field(default=None, primary_key=True)
    change: str = Field(max_length=8)
    name: str = Field(max_length=64)
    pubkey: str = Field(max_length=44)
    roles: list[str] = Field(sa_type=JSON)
    message: str = Field(sa_type=Text)
    signatures: list[dict[str, Any]] = Field(sa_type=JSON)
    """``[{"operator": name, "pubkey": key, "signature": base58}, ...]``: who signed it."""
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

"""Scheduled work that gave up: what an operator must look at (``corpactions status``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Text
from sqlmodel import Field, SQLModel

from corpactions.models.types import UTCDateTime, utcnow


class TaskFailure(SQLModel, table=True):
    """One task that failed for good: a non-transient error, or retries exhausted."""

    id: int | None = Field(default=None, primary_key=True)
    task_name: str = Field(max_length=128, index=True)
    task_id: str = Field(max_length=64)
    arguments: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    error_type: str = Field(max_length=128)
    error: str = Field(sa_type=Text)
    retries: int = 0
    failed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

"""Webhook deliveries: one row per event and receiver, written with the change it announces."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, Text
from sqlmodel import Field, SQLModel

from corpactions.models.types import UTCDateTime, utcnow


class WebhookDelivery(SQLModel, table=True):
    """An event to POST to one receiver, and what happened each time it was tried."""

    id: int | None = Field(default=None, primary_key=True)
    event: str = Field(max_length=64, index=True)
    url: str = Field(sa_type=Text)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    status: str = Field(default="pending", sa_type=String(16), index=True)
    """``pending`` (to send or retry), ``delivered`` (a 2xx answer) or ``failed`` (gave up)."""
    attempts: int = 0
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    tried_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

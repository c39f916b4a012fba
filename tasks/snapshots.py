"""Snapshot tasks: thin wrappers around ``snapshots.take``."""

from __future__ import annotations

from typing import Any

from corpactions.db import session_scope
from corpactions.errors import LedgerError, TransientRpcError
from snapshots.take import take_due_snapshots
from tasks.app import app


@app.task(
    name="tasks.snapshots.take_due",
    acks_late=True,
    autoretry_for=(TransientRpcError, LedgerError),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=5,
)
def take_due() -> dict[str, Any]:
    """Snapshot every action whose record-date cutoff has passed (idempotent: a snapshotted
    action is no longer due)."""
    return take_due_snapshots(session_factory=session_scope)

"""Snapshot tasks: thin wrappers around ``snapshots.take``."""

from __future__ import annotations

from typing import Any

from corpactions.db import session_scope
from snapshots.take import take_due_snapshots
from tasks.app import app
from tasks.base import LedgerTask


@app.task(name="tasks.snapshots.take_due", base=LedgerTask)
def take_due() -> dict[str, Any]:
    """Snapshot every action whose record-date cutoff has passed (idempotent: a snapshotted
    action is no longer due)."""
    report = take_due_snapshots(session_factory=session_scope)
    if report["taken"]:  # plan them now rather than at the next scan
        app.send_task("tasks.payouts.compute_due")
    return report

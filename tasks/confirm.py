"""Confirmation task: thin wrapper around ``corpactions.execution.steps.confirm_in_flight``."""

from __future__ import annotations

import asyncio
from typing import Any

from corpactions.db import session_scope
from corpactions.execution import steps
from tasks.app import app
from tasks.base import LedgerTask
from tasks.payouts import finish, send_batch


@app.task(name="tasks.confirm.in_flight", base=LedgerTask)
def in_flight() -> dict[str, Any]:
    """Ask the chain about every sent batch; re-send expired attempts; finish plans that have
    nothing left in flight."""
    report = asyncio.run(steps.confirm_in_flight(session_factory=session_scope))
    for batch_ids in report.to_send.values():
        for batch_id in batch_ids:
            send_batch.delay(batch_id)
    for plan_id in report.finishable:
        finish.delay(plan_id)
    return report.as_dict()

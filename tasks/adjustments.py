"""Multiplier-plan tasks: thin wrappers around ``corpactions.corporate.scheduled``.

The scan sends every approved multiplier plan (Token-2022 splits and reinvestment) exactly once;
a Redis lock keeps one worker per plan, and the plan's compare-and-set send keeps even a race
harmless.
"""

from __future__ import annotations

import asyncio
from typing import Any

from corpactions import locks
from corpactions.corporate.scheduled import send_when_due, sendable_multiplier_plans
from corpactions.db import session_scope
from tasks.app import app
from tasks.base import LedgerTask


@app.task(name="tasks.adjustments.dispatch", base=LedgerTask)
def dispatch() -> dict[str, Any]:
    """Queue a send for every approved (or sent, unconfirmed) multiplier plan."""
    with session_scope() as session:
        plans = sendable_multiplier_plans(session)
    for plan_id in plans:
        send.delay(plan_id)
    return {"dispatched": plans}


@app.task(name="tasks.adjustments.send", base=LedgerTask)
def send(plan_id: int) -> dict[str, Any]:
    """Send one multiplier plan exactly once (or record why it waits)."""
    with locks.exclusive(f"multiplier:{plan_id}") as held:
        if held is None:
            return {"plan": plan_id, "skipped": "another worker is sending this plan"}
        return asyncio.run(send_when_due(plan_id, session_factory=session_scope))

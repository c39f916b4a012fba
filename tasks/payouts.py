"""Payout tasks: thin wrappers around ``corpactions.payouts`` and ``corpactions.execution``.

A plan runs as one chain: ``execute`` batches it and fans out one ``send_batch`` per batch, a
chord whose callback ``complete`` confirms, re-sends expired attempts and finally reconciles and
attests. The ``dispatch`` and ``reconcile`` scans restart any chain a lost message or a killed
worker broke; a Redis claim keeps to one chain per plan, a Redis lock to one worker per batch,
and the ledger's compare-and-set transitions make even a race harmless.
"""

from __future__ import annotations

import asyncio
from typing import Any

from celery import chord

from corpactions import locks
from corpactions.config import get_settings
from corpactions.db import session_scope
from corpactions.execution import steps
from corpactions.execution.release import release_escrow
from corpactions.payouts.due import compute_due_plans
from tasks.app import app
from tasks.base import LedgerTask

COMPLETE_ROUNDS = 360
"""Rounds ``complete`` waits for finality before leaving the plan to the scans."""


@app.task(name="tasks.payouts.compute_due", base=LedgerTask)
def compute_due() -> dict[str, Any]:
    """Compute a draft plan for every cash dividend with a fresh snapshot and no plan."""
    return compute_due_plans(session_factory=session_scope)


@app.task(name="tasks.payouts.dispatch", base=LedgerTask)
def dispatch() -> dict[str, Any]:
    """Start a chain for every approved plan, and for executing plans with work left."""
    with session_scope() as session:
        plans = steps.runnable_plans(session)
    for plan_id in plans:
        execute.delay(plan_id)
    return {"dispatched": plans}


@app.task(name="tasks.payouts.execute", base=LedgerTask)
def execute(plan_id: int) -> dict[str, Any]:
    """Batch the plan's lines and fan out the sends; the chord's callback completes it."""
    if not locks.claim(locks.plan_chain(plan_id)):
        return {"plan": plan_id, "skipped": "another chain is executing this plan"}
    try:
        todo = asyncio.run(steps.prepare_plan(plan_id, session_factory=session_scope))
    except BaseException:
        locks.release(locks.plan_chain(plan_id))
        raise
    if todo:
        chord(send_batch.si(batch_id) for batch_id in todo)(complete.si(plan_id))
    else:
        complete.delay(plan_id)
    return {"plan": plan_id, "batches": todo}


@app.task(name="tasks.payouts.send_batch", base=LedgerTask)
def send_batch(batch_id: int) -> dict[str, Any]:
    """Sign and send one batch; another worker on the same batch makes this one a no-op."""
    with locks.exclusive(f"batch:{batch_id}") as held:
        if held is None:
            return {"batch": batch_id, "skipped": "another worker holds this batch"}
        status = asyncio.run(steps.send_batch(batch_id, session_factory=session_scope))
    return {"batch": batch_id, "status": status}


@app.task(name="tasks.payouts.complete", base=LedgerTask)
def complete(plan_id: int, round_: int = 0) -> dict[str, Any]:
    """Confirm the plan's batches; re-send what expired; attest when nothing is in flight;
    otherwise look again after the confirm interval (a bounded number of times)."""
    settings = get_settings()
    locks.renew(locks.plan_chain(plan_id))
    report = asyncio.run(steps.confirm_in_flight(session_factory=session_scope, plan_id=plan_id))
    if plan_id in report.finishable:
        status = asyncio.run(steps.finish(plan_id, session_factory=session_scope))
        locks.release(locks.plan_chain(plan_id))
        return {"plan": plan_id, "status": status}
    for batch_id in report.to_send.get(plan_id, []):
        send_batch.delay(batch_id)
    if round_ >= COMPLETE_ROUNDS:
        locks.release(locks.plan_chain(plan_id))
        return {"plan": plan_id, "status": "waiting", "note": "the scans take over"}
    complete.apply_async((plan_id, round_ + 1), countdown=settings.schedule_confirm_seconds)
    return {"plan": plan_id, "status": "in flight", "round": round_}


@app.task(name="tasks.payouts.finish", base=LedgerTask)
def finish(plan_id: int) -> dict[str, Any]:
    """Reconcile and attest one plan with nothing left in flight (no-op otherwise)."""
    with locks.exclusive(f"finish:{plan_id}") as held:
        if held is None:
            return {"plan": plan_id, "skipped": "another worker is finishing this plan"}
        return {
            "plan": plan_id,
            "status": asyncio.run(steps.finish(plan_id, session_factory=session_scope)),
        }


@app.task(name="tasks.payouts.retire_tables", base=LedgerTask)
def retire_tables() -> dict[str, Any]:
    """Deactivate lookup tables idle for CORPACTIONS_ALT_IDLE_DAYS; close deactivated ones."""
    from dataclasses import asdict

    from corpactions.execution.lookup_tables import retire_for_settings

    return asdict(asyncio.run(retire_for_settings(session_scope, get_settings())))


@app.task(name="tasks.payouts.reconcile", base=LedgerTask)
def reconcile() -> dict[str, Any]:
    """Finish every plan with nothing in flight; release escrowed lines whose reason lifted."""
    with session_scope() as session:
        plans = steps.finishable_plans(session)
    for plan_id in plans:
        finish.delay(plan_id)
    released = asyncio.run(release_escrow(session_factory=session_scope))
    return {"finishing": plans, **released}

"""Approved multiplier plans sent by the workers, the way an operator would send them.

The scan picks every approved plan, and every sent one whose landing is not known yet, and runs
the same exactly-once send as ``corpactions adjust execute``. Two refusals are handled instead of
failing every scan:

- the mint has a multiplier pending (effective in the future): sending now would overwrite it,
  so the plan waits, with the reason on the plan, until that multiplier takes effect (a plan
  computed on top of it then goes out as computed). Overwriting stays an operator's explicit act
  (``adjust execute --allow-overwrite``);
- the mint's multiplier is no longer the one the plan was computed from: the plan turns stale,
  with the reason, and a new plan must be computed and approved.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from corpactions.config import Settings
from corpactions.corporate.decisions import get_multiplier_plan
from corpactions.corporate.multiplier import execute_multiplier_plan
from corpactions.db import SessionFactory
from corpactions.errors import MultiplierChanged, PendingMultiplier
from corpactions.logs import get_logger
from corpactions.models import AdjustmentStatus, MultiplierPlan

log = get_logger(__name__)
WAITING = "waiting: "


def sendable_multiplier_plans(session: Session) -> list[int]:
    """Approved plans, and sent ones not yet known to have landed."""
    rows = session.exec(
        select(MultiplierPlan.id)
        .where(col(MultiplierPlan.status).in_([AdjustmentStatus.approved, AdjustmentStatus.sent]))
        .order_by(col(MultiplierPlan.id))
    )
    return [int(plan_id or 0) for plan_id in rows]


def _note(session_factory: SessionFactory, plan_id: int, **changes: Any) -> None:
    with session_factory() as session:
        plan = get_multiplier_plan(session, plan_id)
        for name, value in changes.items():
            setattr(plan, name, value)
        session.add(plan)


async def send_when_due(
    plan_id: int, *, session_factory: SessionFactory, settings: Settings | None = None
) -> dict[str, Any]:
    """Send one approved multiplier plan, or say why it waits or can no longer be sent."""
    try:
        plan = await execute_multiplier_plan(
            plan_id, session_factory=session_factory, settings=settings
        )
    except PendingMultiplier as exc:
        _note(session_factory, plan_id, error=WAITING + exc.message)
        log.info("multiplier plan waits for a pending multiplier", plan=plan_id, reason=exc.message)
        return {"plan": plan_id, "status": "waiting", "reason": exc.message}
    except MultiplierChanged as exc:
        _note(session_factory, plan_id, status=AdjustmentStatus.stale, error=exc.one_line())
        log.warning("multiplier plan turned stale", plan=plan_id, reason=exc.message)
        return {"plan": plan_id, "status": "stale", "reason": exc.message}
    if plan.error and plan.error.startswith(WAITING):
        _note(session_factory, plan_id, error=None)  # it waited; it is sent now
    return {"plan": plan_id, "status": str(plan.status)}

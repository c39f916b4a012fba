"""Maker-checker on multiplier plans: the same rule as payout plans.

A multiplier plan is approved once ``approvals_required`` distinct operators, none of them its
maker, approved its exact hash; one rejection ends it. Each decision is an append-only
``MultiplierDecision`` row. A plan whose action changed since it was computed becomes stale on
the next decision instead.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from corpactions.config import Settings, get_settings
from corpactions.corporate.multiplier import get_multiplier_plan
from corpactions.errors import PlanError
from corpactions.execution.approval import checker_name
from corpactions.logs import get_logger
from corpactions.models import AdjustmentStatus, CorporateAction, MultiplierDecision, MultiplierPlan
from corpactions.models.types import utcnow

log = get_logger(__name__)


def approvers(session: Session, plan_id: int) -> list[str]:
    """Who approved the plan, in order."""
    rows = session.exec(
        select(MultiplierDecision.approver)
        .where(MultiplierDecision.plan_id == plan_id, MultiplierDecision.decision == "approve")
        .order_by(col(MultiplierDecision.id))
    )
    return list(rows)


def _decidable(session: Session, plan_id: int, plan_hash: str, operator: str) -> MultiplierPlan:
    plan = get_multiplier_plan(session, plan_id)
    if plan.status != AdjustmentStatus.draft:
        raise PlanError(
            f"multiplier plan {plan_id} is {plan.status}, not a draft",
            hint="only a draft plan is approved or rejected ('adjust show')",
        )
    if plan_hash != plan.plan_hash:
        raise PlanError(
            f"hash {plan_hash[:16]}... is not multiplier plan {plan_id}'s",
            hint="decide on exactly the plan you reviewed ('adjust show')",
        )
    if not operator.strip():
        raise PlanError("--approver must name a person")
    action = session.get(CorporateAction, plan.action_id)
    if action is None or action.current_version != plan.action_version:
        plan.status = AdjustmentStatus.stale
        session.add(plan)
        session.commit()  # the plan stays stale whatever the caller does with the error
        raise PlanError(
            f"action {plan.action_id} changed since multiplier plan {plan_id} was made",
            hint="compute a new plan ('adjust compute')",
        )
    return plan


def approve_multiplier_plan(
    session: Session,
    plan_id: int,
    *,
    plan_hash: str,
    approver: str,
    note: str | None = None,
    settings: Settings | None = None,
) -> MultiplierPlan:
    settings = settings or get_settings()
    plan = _decidable(session, plan_id, plan_hash, approver)
    earlier = approvers(session, plan_id)
    name = checker_name(
        plan_label=f"multiplier plan {plan_id}",
        maker=plan.created_by,
        approver=approver,
        earlier=earlier,
    )
    session.add(
        MultiplierDecision(
            plan_id=plan_id, approver=name, decision="approve", plan_hash=plan_hash, note=note
        )
    )
    if len(earlier) + 1 >= settings.approvals_required:
        plan.status = AdjustmentStatus.approved
        plan.approved_by = name
        plan.approved_at = utcnow()
    session.add(plan)
    session.flush()
    log.info(
        "multiplier plan approval recorded",
        plan=plan_id,
        approver=name,
        approvals=f"{len(earlier) + 1}/{settings.approvals_required}",
        status=str(plan.status),
    )
    return plan


def reject_multiplier_plan(
    session: Session, plan_id: int, *, plan_hash: str, approver: str, note: str | None = None
) -> MultiplierPlan:
    plan = _decidable(session, plan_id, plan_hash, approver)
    session.add(
        MultiplierDecision(
            plan_id=plan_id,
            approver=approver.strip(),
            decision="reject",
            plan_hash=plan_hash,
            note=note,
        )
    )
    plan.status = AdjustmentStatus.rejected
    session.add(plan)
    session.flush()
    log.info("multiplier plan rejected", plan=plan_id, approver=approver.strip(), note=note)
    return plan

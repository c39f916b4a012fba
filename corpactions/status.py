"""The operator's view: what is where in the pipeline, and what needs a person."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, func, select

from corpactions.actions import with_version_in_force
from corpactions.config import Settings, get_settings
from corpactions.execution.steps import halted_plans
from corpactions.models import (
    TERMINAL_ACTION_STATUSES,
    AdjustmentStatus,
    Approval,
    BatchStatus,
    CorporateAction,
    LineStatus,
    MultiplierDecision,
    MultiplierPlan,
    PayoutBatch,
    PayoutLine,
    PayoutPlan,
    PlanStatus,
    QuarantinedRecord,
    TaskFailure,
)
from corpactions.reserves.backing import failing_instruments

IN_FLIGHT = (BatchStatus.planned, BatchStatus.signed, BatchStatus.sent, BatchStatus.expired)


def overview(session: Session, settings: Settings | None = None, limit: int = 20) -> dict[str, Any]:
    settings = settings or get_settings()
    by_status = dict(
        session.exec(
            select(CorporateAction.status, func.count()).group_by(col(CorporateAction.status))
        ).all()
    )
    open_actions = []
    for action, symbol, version in session.exec(
        with_version_in_force()
        .where(col(CorporateAction.status).not_in(list(TERMINAL_ACTION_STATUSES)))
        .order_by(col(CorporateAction.id))
        .limit(limit)
    ):
        open_actions.append(
            {
                "id": action.id,
                "symbol": symbol,
                "kind": str(action.kind),
                "status": str(action.status),
                "record_date": version.record_date or version.effective_date,
                "pay_date": version.pay_date,
                "reason": action.status_reason,
            }
        )
    awaiting = []
    for plan in session.exec(
        select(PayoutPlan).where(PayoutPlan.status == PlanStatus.draft).order_by(col(PayoutPlan.id))
    ):
        approvals = session.exec(
            select(func.count()).where(Approval.plan_id == plan.id, Approval.decision == "approve")
        ).one()
        awaiting.append(
            {
                "plan_id": plan.id,
                "action_id": plan.action_id,
                "lines": plan.line_count,
                "to_send": str(plan.sent_total),
                "approvals": f"{approvals}/{settings.approvals_required}",
                "maker": plan.created_by,
                "plan_hash": plan.plan_hash,
            }
        )
    for adjustment in session.exec(
        select(MultiplierPlan)
        .where(MultiplierPlan.status == AdjustmentStatus.draft)
        .order_by(col(MultiplierPlan.id))
    ):
        approved = session.exec(
            select(func.count()).where(
                MultiplierDecision.plan_id == adjustment.id,
                MultiplierDecision.decision == "approve",
            )
        ).one()
        awaiting.append(
            {
                "plan_id": f"multiplier {adjustment.id}",
                "action_id": adjustment.action_id,
                "lines": 0,
                "to_send": f"x{adjustment.factor} -> {adjustment.new_multiplier}",
                "approvals": f"{approved}/{settings.approvals_required}",
                "maker": adjustment.created_by,
                "plan_hash": adjustment.plan_hash,
            }
        )
    flight = dict(
        session.exec(
            select(PayoutBatch.status, func.count())
            .where(col(PayoutBatch.status).in_(IN_FLIGHT))
            .group_by(col(PayoutBatch.status))
        ).all()
    )
    executing: list[int | str | None] = [
        p.id
        for p in session.exec(select(PayoutPlan).where(PayoutPlan.status == PlanStatus.executing))
    ]
    executing += [
        f"multiplier {p.id}" + (f" ({p.error})" if p.error else "")
        for p in session.exec(
            select(MultiplierPlan).where(
                col(MultiplierPlan.status).in_([AdjustmentStatus.approved, AdjustmentStatus.sent])
            )
        )
    ]
    failures: list[dict[str, Any]] = []
    for line in session.exec(
        select(PayoutLine).where(PayoutLine.status == LineStatus.failed).limit(limit)
    ):
        failures.append(
            {
                "what": "payout line",
                "plan_id": line.plan_id,
                "owner": line.owner,
                "reason": line.status_reason,
            }
        )
    for action in session.exec(
        select(CorporateAction)
        .where(
            col(CorporateAction.status_reason).like("%failed%")
            | col(CorporateAction.status_reason).like("plan not computed%")
        )
        .limit(limit)
    ):
        failures.append({"what": "action", "action_id": action.id, "reason": action.status_reason})
    for plan in session.exec(
        select(PayoutPlan)
        .where(col(PayoutPlan.status).in_([PlanStatus.tampered, PlanStatus.discrepancy]))
        .order_by(col(PayoutPlan.id))
    ):
        failures.append(
            {
                "what": f"plan {plan.status}",
                "plan_id": plan.id,
                "action_id": plan.action_id,
                "reason": f"{plan.stale_reason}; nothing more is signed or attested until an "
                "operator reviews it, computes and approves a new plan",
            }
        )
    for plan_id in halted_plans(session):
        failures.append(
            {
                "what": "plan halted",
                "plan_id": plan_id,
                "reason": "its action was amended or cancelled after approval; nothing more "
                "is sent (review the action, compute and approve a new plan)",
            }
        )
    for adjustment in session.exec(
        select(MultiplierPlan)
        .where(
            col(MultiplierPlan.status).in_([AdjustmentStatus.stale, AdjustmentStatus.failed]),
            col(MultiplierPlan.error).is_not(None),
        )
        .order_by(col(MultiplierPlan.id).desc())
        .limit(limit)
    ):
        failures.append(
            {
                "what": f"multiplier plan {adjustment.status}",
                "plan_id": f"multiplier {adjustment.id}",
                "action_id": adjustment.action_id,
                "reason": adjustment.error,
            }
        )
    for failure in session.exec(
        select(TaskFailure)
        .where(col(TaskFailure.resolved_at).is_(None))
        .order_by(col(TaskFailure.id).desc())
        .limit(limit)
    ):
        failures.append(
            {
                "what": f"task {failure.task_name}",
                "arguments": failure.arguments.get("args"),
                "failed_at": failure.failed_at.isoformat(),
                "reason": f"{failure.error_type}: {failure.error}",
            }
        )
    backing = failing_instruments(session)
    for item in backing:
        failures.append(
            {
                "what": "backing",
                "symbol": item["symbol"],
                "reason": f"{item['verdict']} at slot {item['slot']} (backing check "
                f"{item['check_id']}): difference {item['difference_shares']} shares",
            }
        )
    quarantined = session.exec(select(func.count()).select_from(QuarantinedRecord)).one()
    return {
        "actions_by_status": {str(k): v for k, v in sorted(by_status.items())},
        "open_actions": open_actions,
        "plans_awaiting_approval": awaiting,
        "plans_executing": executing,
        "batches_in_flight": {str(k): v for k, v in sorted(flight.items())},
        "failures": failures,
        "backing_failing": backing,
        "quarantined_records": quarantined,
    }

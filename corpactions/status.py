"""The operator's view: what is where in the pipeline, and what needs a person."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
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
from corpactions.payouts.describe import unit_of
from corpactions.reserves.backing import failing_instruments
from corpactions.units import human, kind_label

IN_FLIGHT = (BatchStatus.planned, BatchStatus.signed, BatchStatus.sent, BatchStatus.expired)
UNSETTLED = (LineStatus.pending, LineStatus.batched)


def plan_progress(
    session: Session, plan: PayoutPlan, now: datetime | None = None
) -> dict[str, Any]:
    """An executing plan's progress: lines settled and batches finalized, each x of y, and an
    estimate of when it is done at the rate measured since its first batch was made."""
    lines_done = session.exec(
        select(func.count()).where(
            PayoutLine.plan_id == plan.id, col(PayoutLine.status).not_in(UNSETTLED)
        )
    ).one()
    batches = dict(
        session.exec(
            select(PayoutBatch.status, func.count())
            .where(PayoutBatch.plan_id == plan.id)
            .group_by(col(PayoutBatch.status))
        ).all()
    )
    batches_total = sum(batches.values())
    batches_done = batches.get(BatchStatus.finalized, 0) + batches.get(
        BatchStatus.failed_on_chain, 0
    )
    started = session.exec(
        select(func.min(PayoutBatch.created_at)).where(PayoutBatch.plan_id == plan.id)
    ).one()
    now = now or datetime.now(UTC)
    eta_seconds: int | None = None
    if started is not None and 0 < batches_done < batches_total:
        if started.tzinfo is None:
            started = started.replace(tzinfo=UTC)
        elapsed = max((now - started).total_seconds(), 0.001)
        eta_seconds = math.ceil(elapsed / batches_done * (batches_total - batches_done))
    return {
        "plan_id": plan.id,
        "action_id": plan.action_id,
        "lines_done": lines_done,
        "lines_total": plan.line_count,
        "batches_done": batches_done,
        "batches_total": batches_total,
        "started_at": started,
        "eta_seconds": eta_seconds,
        "eta_at": now + timedelta(seconds=eta_seconds) if eta_seconds is not None else None,
    }


def actions_by_status(session: Session) -> dict[str, int]:
    by_status = dict(
        session.exec(
            select(CorporateAction.status, func.count()).group_by(col(CorporateAction.status))
        ).all()
    )
    return {str(k): v for k, v in sorted(by_status.items())}


def open_actions(session: Session, limit: int = 20) -> list[dict[str, Any]]:
    """Actions not finished yet, oldest first, with the reason of any that waits."""
    found = []
    for action, symbol, version in session.exec(
        with_version_in_force()
        .where(col(CorporateAction.status).not_in(list(TERMINAL_ACTION_STATUSES)))
        .order_by(col(CorporateAction.id))
        .limit(limit)
    ):
        found.append(
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
    return found


def awaiting_approval(session: Session, settings: Settings) -> list[dict[str, Any]]:
    """Draft plans (payout and multiplier) of actions still open, with their approvals so far."""
    awaiting = []
    for plan in session.exec(
        select(PayoutPlan)
        .join(CorporateAction, col(CorporateAction.id) == col(PayoutPlan.action_id))
        .where(
            PayoutPlan.status == PlanStatus.draft,
            col(CorporateAction.status).not_in(list(TERMINAL_ACTION_STATUSES)),
        )
        .order_by(col(PayoutPlan.id))
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
                "to_send_text": human(plan.sent_total, unit_of(session, plan, settings)),
                "kind": kind_label(plan.kind),
                "approvals": f"{approvals}/{settings.approvals_required}",
                "maker": plan.created_by,
                "plan_hash": plan.plan_hash,
            }
        )
    for adjustment in session.exec(
        select(MultiplierPlan)
        .join(CorporateAction, col(CorporateAction.id) == col(MultiplierPlan.action_id))
        .where(
            MultiplierPlan.status == AdjustmentStatus.draft,
            col(CorporateAction.status).not_in(list(TERMINAL_ACTION_STATUSES)),
        )
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
                "to_send_text": (
                    f"UI multiplier x{adjustment.factor} -> {adjustment.new_multiplier}"
                ),
                "kind": kind_label(adjustment.kind),
                "approvals": f"{approved}/{settings.approvals_required}",
                "maker": adjustment.created_by,
                "plan_hash": adjustment.plan_hash,
            }
        )
    return awaiting


def batches_in_flight(session: Session) -> dict[str, int]:
    flight = dict(
        session.exec(
            select(PayoutBatch.status, func.count())
            .where(col(PayoutBatch.status).in_(IN_FLIGHT))
            .group_by(col(PayoutBatch.status))
        ).all()
    )
    return {str(k): v for k, v in sorted(flight.items())}


def plans_executing(session: Session) -> list[dict[str, Any]]:
    """Each executing payout plan with its progress; approved or sent multiplier plans."""
    executing: list[dict[str, Any]] = [
        plan_progress(session, p)
        for p in session.exec(
            select(PayoutPlan)
            .where(PayoutPlan.status == PlanStatus.executing)
            .order_by(col(PayoutPlan.id))
        )
    ]
    executing += [
        {
            "plan_id": f"multiplier {p.id}",
            "action_id": p.action_id,
            "status": str(p.status),
            "error": p.error,
        }
        for p in session.exec(
            select(MultiplierPlan).where(
                col(MultiplierPlan.status).in_([AdjustmentStatus.approved, AdjustmentStatus.sent])
            )
        )
    ]
    return executing


def failures(session: Session, limit: int = 20) -> list[dict[str, Any]]:
    """Every failure a person has to look at, each with its reason."""
    found: list[dict[str, Any]] = []
    for line in session.exec(
        select(PayoutLine).where(PayoutLine.status == LineStatus.failed).limit(limit)
    ):
        found.append(
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
        found.append({"what": "action", "action_id": action.id, "reason": action.status_reason})
    for plan in session.exec(
        select(PayoutPlan)
        .where(col(PayoutPlan.status).in_([PlanStatus.tampered, PlanStatus.discrepancy]))
        .order_by(col(PayoutPlan.id))
    ):
        found.append(
            {
                "what": f"plan {plan.status}",
                "plan_id": plan.id,
                "action_id": plan.action_id,
                "reason": f"{plan.stale_reason}; nothing more is signed or attested until an "
                "operator reviews it, computes and approves a new plan",
            }
        )
    for plan_id in halted_plans(session):
        found.append(
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
        found.append(
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
        found.append(
            {
                "what": f"task {failure.task_name}",
                "arguments": failure.arguments.get("args"),
                "failed_at": failure.failed_at.isoformat(),
                "reason": f"{failure.error_type}: {failure.error}",
            }
        )
    for item in failing_instruments(session):
        found.append(
            {
                "what": "backing",
                "symbol": item["symbol"],
                "reason": f"{item['verdict']} at slot {item['slot']} (backing check "
                f"{item['check_id']}): difference {item['difference_shares']} shares",
            }
        )
    return found


def overview(session: Session, settings: Settings | None = None, limit: int = 20) -> dict[str, Any]:
    """The operator's view, one independent query per part (``corpactions status``)."""
    settings = settings or get_settings()
    return {
        "actions_by_status": actions_by_status(session),
        "open_actions": open_actions(session, limit),
        "plans_awaiting_approval": awaiting_approval(session, settings),
        "plans_executing": plans_executing(session),
        "batches_in_flight": batches_in_flight(session),
        "failures": failures(session, limit),
        "backing_failing": failing_instruments(session),
        "quarantined_records": session.exec(
            select(func.count()).select_from(QuarantinedRecord)
        ).one(),
    }

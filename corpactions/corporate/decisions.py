"""Signed decisions on multiplier plans, under the one maker-checker rule every plan kind follows
(``corpactions.operators.decisions``): compute, approve and reject are an operator's signature
over the plan's canonical text, maker ≠ checker by key.

A multiplier plan is approved once ``approvals_required`` distinct keys, none of them its
maker's, approved it; one rejection ends it. Each decision is an append-only
``MultiplierDecision`` row holding the message and signature. A plan whose action changed since
it was computed becomes stale on the next decision instead.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, col, select

from corpactions.config import Settings, get_settings
from corpactions.errors import NotFound, PlanError
from corpactions.logs import get_logger
from corpactions.models import (
    AdjustmentStatus,
    CorporateAction,
    Instrument,
    MultiplierDecision,
    MultiplierPlan,
)
from corpactions.models.types import utcnow
from corpactions.operators import decisions as operator_decisions
from corpactions.operators.decisions import Decision, Signed, StoredDecision, Subject
from corpactions.reserves.backing import multiplier_acknowledgement_required
from snapshots.take import current_snapshot

log = get_logger(__name__)


def get_multiplier_plan(session: Session, plan_id: int) -> MultiplierPlan:
    plan = session.get(MultiplierPlan, plan_id)
    if plan is None:
        raise NotFound(f"no multiplier plan {plan_id}")
    return plan


def multiplier_subject(session: Session, plan: MultiplierPlan) -> Subject:
    instrument = session.get(Instrument, plan.instrument_id)
    return Subject(
        kind="multiplier",
        plan_id=plan.id or 0,
        root=plan.plan_hash,
        asset=f"ui multiplier {instrument.mint if instrument else '?'}",
        totals=(
            f"multiplier {plan.old_multiplier} to {plan.new_multiplier}, factor {plan.factor}, "
            f"effective {plan.effective_timestamp}"
        ),
        action_id=plan.action_id,
        action_version=plan.action_version,
    )


def _rows(session: Session, plan_id: int, decision: str) -> list[MultiplierDecision]:
    return list(
        session.exec(
            select(MultiplierDecision)
            .where(MultiplierDecision.plan_id == plan_id, MultiplierDecision.decision == decision)
            .order_by(col(MultiplierDecision.id))
        )
    )


def approvers(session: Session, plan_id: int) -> list[str]:
    """Who approved the plan, in order."""
    return [row.approver for row in _rows(session, plan_id, "approve")]


def decision_message(
    session: Session, plan_id: int, purpose: str = "approve", acknowledged: Sequence[str] = ()
) -> bytes:
    """The exact bytes an operator signs to decide multiplier plan ``plan_id``."""
    plan = get_multiplier_plan(session, plan_id)
    return operator_decisions.decision_message(
        multiplier_subject(session, plan), purpose, acknowledged=acknowledged
    )


def _decidable(session: Session, plan_id: int, plan_hash: str | None) -> MultiplierPlan:
    plan = get_multiplier_plan(session, plan_id)
    if plan.status != AdjustmentStatus.draft:
        raise PlanError(
            f"multiplier plan {plan_id} is {plan.status}, not a draft",
            hint="only a draft plan is approved or rejected ('adjust show')",
        )
    if plan_hash is not None and plan_hash != plan.plan_hash:
        raise PlanError(
            f"the plan hash given does not match multiplier plan {plan_id}",
            hint=f"review the plan with 'corpactions adjust show {plan_id}' and decide on the "
            "hash it prints",
        )
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


def _record(
    session: Session, plan: MultiplierPlan, purpose: str, signed: Signed, note: str | None
) -> None:
    session.add(
        MultiplierDecision(
            plan_id=plan.id or 0,
            approver=signed.operator.name,
            decision=purpose,
            plan_hash=plan.plan_hash,
            note=note,
            pubkey=signed.operator.pubkey,
            message=signed.message,
            signature=signed.signature,
        )
    )


def sign_multiplier_compute(
    session: Session, plan_id: int, *, decision: Decision, note: str | None = None
) -> MultiplierPlan:
    """Record the maker's signed compute decision on a draft plan (once)."""
    plan = _decidable(session, plan_id, None)
    if _rows(session, plan_id, "compute"):
        raise PlanError(f"multiplier plan {plan_id} already has its maker's signature")
    signed = operator_decisions.verify_decision(
        session, subject=multiplier_subject(session, plan), purpose="compute", decision=decision
    )
    if signed.operator.pubkey in {row.pubkey for row in _rows(session, plan_id, "approve")}:
        raise PlanError(
            f"the key of {signed.operator.name!r} already approved multiplier plan {plan_id}",
            hint="a plan's maker and approvers hold different keys",
        )
    _record(session, plan, "compute", signed, note)
    plan.created_by = signed.operator.name
    session.add(plan)
    session.flush()
    return plan


def approve_multiplier_plan(
    session: Session,
    plan_id: int,
    *,
    decision: Decision,
    plan_hash: str | None = None,
    note: str | None = None,
    settings: Settings | None = None,
) -> MultiplierPlan:
    settings = settings or get_settings()
    plan = _decidable(session, plan_id, plan_hash)
    earlier = _rows(session, plan_id, "approve")
    maker = _rows(session, plan_id, "compute")
    signed = operator_decisions.verify_decision(
        session,
        subject=multiplier_subject(session, plan),
        purpose="approve",
        decision=decision,
        maker_key=maker[0].pubkey if maker else None,
        earlier_keys=[row.pubkey or "" for row in earlier],
        settings=settings,
    )
    snapshot = current_snapshot(session, plan.action_id)
    action = session.get(CorporateAction, plan.action_id)
    required = multiplier_acknowledgement_required(
        session, action.instrument_id if action else 0, snapshot.id if snapshot else None
    )
    if required is not None and not operator_decisions.acknowledges(decision, required):
        raise PlanError(
            f"multiplier plan {plan_id}'s snapshot failed its backing check: "
            + required.removeprefix(operator_decisions.ACKNOWLEDGED),
            hint="review 'corpactions adjust show'; to approve all the same, sign the message "
            "with that text as an acknowledged line (--acknowledge)",
        )
    _record(session, plan, "approve", signed, note)
    keys = [row.pubkey or "" for row in earlier] + [signed.operator.pubkey]
    if operator_decisions.is_approved(keys, settings):
        plan.status = AdjustmentStatus.approved
        plan.approved_by = signed.operator.name
        plan.approved_at = utcnow()
    session.add(plan)
    session.flush()
    log.info(
        "multiplier plan approval recorded",
        plan=plan_id,
        approver=signed.operator.name,
        pubkey=signed.operator.pubkey,
        approvals=f"{len(keys)}/{settings.approvals_required}",
        status=str(plan.status),
    )
    return plan


def reject_multiplier_plan(
    session: Session,
    plan_id: int,
    *,
    decision: Decision,
    plan_hash: str | None = None,
    note: str | None = None,
) -> MultiplierPlan:
    plan = _decidable(session, plan_id, plan_hash)
    signed = operator_decisions.verify_decision(
        session, subject=multiplier_subject(session, plan), purpose="reject", decision=decision
    )
    _record(session, plan, "reject", signed, note)
    plan.status = AdjustmentStatus.rejected
    session.add(plan)
    session.flush()
    log.info("multiplier plan rejected", plan=plan_id, approver=signed.operator.name, note=note)
    return plan


def verify_signed_multiplier_approvals(session: Session, plan: MultiplierPlan) -> None:
    """Execution's re-check of the stored approvals against the registry and the plan as it
    stands; ``SignatureRefused`` otherwise."""

    def stored(row: MultiplierDecision) -> StoredDecision:
        return StoredDecision(row.approver, row.message, row.signature)

    maker = _rows(session, plan.id or 0, "compute")
    operator_decisions.verify_approvals(
        session,
        subject=multiplier_subject(session, plan),
        approvals=[stored(row) for row in _rows(session, plan.id or 0, "approve")],
        maker=stored(maker[0]) if maker else None,
    )

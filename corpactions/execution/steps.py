"""The payout protocol cut into steps a scheduler can run on many workers.

``corpactions payouts execute`` runs a whole plan in one process; the Celery tasks run these
steps instead, each short and re-entrant: prepare a plan (batch its lines), send one batch,
confirm what is in flight, finish a plan (reconcile and attest). The scans pick up work by
ledger state, so a lost message or a killed worker only delays the work, never repeats it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from corpactions.chain.rpc import Rpc
from corpactions.config import Settings, get_settings
from corpactions.db import SessionFactory
from corpactions.errors import PlanError
from corpactions.execution.attest import finish_plan
from corpactions.execution.credited import PaidAlready
from corpactions.execution.funding import close_when_finished, ensure_funded
from corpactions.execution.proofs import PlanTampered
from corpactions.execution.protocol import (
    CHECK_CHUNK,
    LIVE,
    Context,
    _check_many,
    advance_batch,
    begin_execution,
    plan_batches,
)
from corpactions.logs import get_logger
from corpactions.models import (
    ActionStatus,
    BatchStatus,
    CorporateAction,
    FundingStatus,
    LineStatus,
    PayoutBatch,
    PayoutLine,
    PayoutPlan,
    PlanFunding,
    PlanStatus,
)

log = get_logger(__name__)
TO_SEND = (BatchStatus.planned, BatchStatus.expired, BatchStatus.signed)
RUNNING = (PlanStatus.approved, PlanStatus.executing)


def _unchanged_action() -> Any:
    """Plans whose action is still the version they were approved for, and not cancelled."""
    return (
        sa.select(CorporateAction.id)  # type: ignore[call-overload]
        .where(
            col(CorporateAction.id) == col(PayoutPlan.action_id),
            col(CorporateAction.current_version) == col(PayoutPlan.action_version),
            col(CorporateAction.status).not_in([ActionStatus.cancelled, ActionStatus.withdrawn]),
        )
        .exists()
    )


def runnable_plans(session: Session) -> list[int]:
    """Approved plans, and executing ones with lines to batch or batches to send."""
    has_work = sa.or_(
        col(PayoutPlan.status) == PlanStatus.approved,
        sa.select(PayoutBatch.id)  # type: ignore[call-overload]
        .where(
            col(PayoutBatch.plan_id) == col(PayoutPlan.id),
            col(PayoutBatch.status).in_(TO_SEND),
        )
        .exists(),
        sa.select(PayoutLine.id)  # type: ignore[call-overload]
        .where(
            col(PayoutLine.plan_id) == col(PayoutPlan.id),
            col(PayoutLine.status) == LineStatus.pending,
            col(PayoutLine.batch_id).is_(None),
        )
        .exists(),
    )
    return [
        int(plan_id or 0)
        for plan_id in session.exec(
            select(PayoutPlan.id)
            .where(col(PayoutPlan.status).in_(RUNNING), has_work, _unchanged_action())
            .order_by(col(PayoutPlan.id))
        )
    ]


def halted_plans(session: Session) -> list[int]:
    """Approved or executing plans whose action was amended or cancelled: nothing more is sent
    for them until an operator acts (see ``corpactions status``)."""
    return [
        int(plan_id or 0)
        for plan_id in session.exec(
            select(PayoutPlan.id)
            .where(col(PayoutPlan.status).in_(RUNNING), ~_unchanged_action())
            .order_by(col(PayoutPlan.id))
        )
    ]


def finishable_plans(session: Session) -> list[int]:
    """Executing (or reconciled, not yet attested) plans with nothing left in flight, and
    attested ones whose funded account is not closed yet."""
    live = (
        sa.select(PayoutBatch.id)  # type: ignore[call-overload]
        .where(col(PayoutBatch.plan_id) == col(PayoutPlan.id), col(PayoutBatch.status).in_(LIVE))
        .exists()
    )
    open_lines = (
        sa.select(PayoutLine.id)  # type: ignore[call-overload]
        .where(
            col(PayoutLine.plan_id) == col(PayoutPlan.id),
            col(PayoutLine.status).in_([LineStatus.pending, LineStatus.batched]),
        )
        .exists()
    )
    unclosed = (
        sa.select(PlanFunding.id)  # type: ignore[call-overload]
        .where(
            col(PlanFunding.plan_id) == col(PayoutPlan.id),
            col(PlanFunding.status).in_([FundingStatus.funded, FundingStatus.closing]),
        )
        .exists()
    )
    return [
        int(plan_id or 0)
        for plan_id in session.exec(
            select(PayoutPlan.id)
            .where(
                sa.or_(
                    col(PayoutPlan.status).in_([PlanStatus.executing, PlanStatus.reconciled]),
                    sa.and_(col(PayoutPlan.status) == PlanStatus.attested, unclosed),
                ),
                ~live,
                ~open_lines,
            )
            .order_by(col(PayoutPlan.id))
        )
    ]


def batches_to_send(session: Session, plan_id: int) -> list[int]:
    return [
        int(batch_id or 0)
        for batch_id in session.exec(
            select(PayoutBatch.id)
            .where(PayoutBatch.plan_id == plan_id, col(PayoutBatch.status).in_(TO_SEND))
            .order_by(col(PayoutBatch.seq))
        )
    ]


async def prepare_plan(
    plan_id: int, *, session_factory: SessionFactory, settings: Settings | None = None
) -> list[int]:
    """Start (or resume) a plan: mark it executing, batch its unbatched lines. Returns the
    batches that now need a send."""
    settings = settings or get_settings()
    await ensure_funded(session_factory, plan_id, settings)
    begin_execution(session_factory, plan_id)
    ctx = Context.for_plan(settings, session_factory, plan_id)
    async with Rpc(settings=settings) as rpc:
        created = await plan_batches(rpc, session_factory, plan_id, ctx)
    with session_factory() as session:
        todo = batches_to_send(session, plan_id)
    log.info("plan prepared", plan=plan_id, new_batches=created, to_send=len(todo))
    return todo


async def send_batch(
    batch_id: int, *, session_factory: SessionFactory, settings: Settings | None = None
) -> str:
    """Sign (when needed) and send one batch; a batch already sent or settled is left alone."""
    settings = settings or get_settings()
    with session_factory() as session:
        batch = session.get(PayoutBatch, batch_id)
        if batch is None:
            raise PlanError(f"no payout batch {batch_id}")
        status = BatchStatus(batch.status)
        plan = session.get(PayoutPlan, batch.plan_id)
        running = plan is not None and plan.status in RUNNING
    if status not in TO_SEND or not running:
        return str(status)
    try:
        begin_execution(session_factory, batch.plan_id)
    except PlanError as exc:  # the action changed under the plan: nothing more is sent
        log.warning("batch not sent", batch=batch_id, reason=exc.one_line())
        return f"halted: {exc.message}"
    ctx = Context.for_plan(settings, session_factory, batch.plan_id)
    try:
        async with Rpc(settings=settings) as rpc:
            return str(await advance_batch(rpc, session_factory, batch_id, ctx))
    except (PlanTampered, PaidAlready) as exc:  # the plan is marked and logged at error level
        return f"halted: {exc.message}"


@dataclass
class Confirmation:
    checked: int = 0
    to_send: dict[int, list[int]] = field(default_factory=dict)
    """Per plan, batches that need a (new) send: expired attempts, split failures."""
    finishable: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "to_send": {str(k): v for k, v in self.to_send.items()},
            "finishable": self.finishable,
        }


async def confirm_in_flight(
    *,
    session_factory: SessionFactory,
    settings: Settings | None = None,
    plan_id: int | None = None,
) -> Confirmation:
    """Ask the chain about every sent batch (of one plan, or of all): finalize, fail-and-split,
    re-broadcast or expire each, exactly as the foreground executor does."""
    settings = settings or get_settings()
    query = select(PayoutBatch.id, PayoutBatch.plan_id).where(
        PayoutBatch.status == BatchStatus.sent
    )
    if plan_id is not None:
        query = query.where(PayoutBatch.plan_id == plan_id)
    by_plan: dict[int, list[int]] = {}
    with session_factory() as session:
        for batch_id, owner_plan in session.exec(query.order_by(col(PayoutBatch.id))):
            by_plan.setdefault(int(owner_plan), []).append(int(batch_id or 0))
    report = Confirmation(checked=sum(len(ids) for ids in by_plan.values()))
    if by_plan:
        async with Rpc(settings=settings) as rpc:
            for owner_plan, sent in by_plan.items():  # each plan pays in its own asset
                ctx = Context.for_plan(settings, session_factory, owner_plan)
                for start in range(0, len(sent), CHECK_CHUNK):
                    await _check_many(rpc, session_factory, sent[start : start + CHECK_CHUNK], ctx)
    with session_factory() as session:
        plans = (
            [plan_id]
            if plan_id is not None
            else [
                int(p or 0)
                for p in session.exec(
                    select(PayoutPlan.id).where(
                        PayoutPlan.status == PlanStatus.executing, _unchanged_action()
                    )
                )
            ]
        )
        for pid in plans:
            todo = batches_to_send(session, pid)
            if todo:
                report.to_send[pid] = todo
        finishable = set(finishable_plans(session))
        report.finishable = [pid for pid in plans if pid in finishable]
    return report


async def finish(
    plan_id: int, *, session_factory: SessionFactory, settings: Settings | None = None
) -> str:
    """Reconcile and attest a plan with nothing left in flight; returns its status after."""
    settings = settings or get_settings()
    with session_factory() as session:
        if plan_id not in finishable_plans(session):
            plan = session.get(PayoutPlan, plan_id)
            return str(plan.status) if plan else "missing"
    ctx = Context.for_plan(settings, session_factory, plan_id)
    async with Rpc(settings=settings) as rpc:
        await finish_plan(rpc, session_factory, plan_id, ctx)
        await close_when_finished(rpc, session_factory, plan_id, ctx.authority)
    with session_factory() as session:
        plan = session.get(PayoutPlan, plan_id)
        return str(plan.status) if plan else "missing"

"""Plans the scheduler computes by itself: actions with a fresh snapshot and no plan (cash
dividends paid in USDC; splits and reinvested dividends as multiplier plans).

A plan computed here is a draft like any other: it waits for an operator's approval of its hash.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlmodel import Session, col, select

from corpactions.actions import record_reason
from corpactions.config import Settings, get_settings
from corpactions.corporate.multiplier import compute_multiplier_plan
from corpactions.corporate.splits import compute_split_plans
from corpactions.db import SessionFactory
from corpactions.errors import CorpactionsError
from corpactions.logs import get_logger
from corpactions.models import (
    TERMINAL_ACTION_STATUSES,
    ActionKind,
    AdjustmentStatus,
    CorporateAction,
    Instrument,
    MultiplierPlan,
    PayoutPlan,
    PlanStatus,
    Snapshot,
    TokenProgram,
)
from corpactions.payouts.plan import compute_plan
from snapshots.take import current_snapshot

log = get_logger(__name__)
SCHEDULER = "scheduler"
"""The maker recorded on plans the scheduler computes."""


def actions_needing_plans(session: Session) -> list[int]:
    """Dividends and splits whose current snapshot has no live plan for their current version."""
    due: list[int] = []
    candidates = session.exec(
        select(CorporateAction)
        .join(Snapshot, col(Snapshot.action_id) == col(CorporateAction.id))
        .where(
            col(CorporateAction.kind).in_(
                [
                    ActionKind.cash_dividend,
                    ActionKind.forward_split,
                    ActionKind.reverse_split,
                    ActionKind.stock_dividend,
                ]
            ),
            col(CorporateAction.status).not_in(TERMINAL_ACTION_STATUSES),
        )
        .distinct()
    ).all()
    for action in candidates:
        snapshot = current_snapshot(session, action.id or 0)
        if snapshot is None:
            continue
        planned = (
            session.exec(
                select(PayoutPlan.id).where(
                    PayoutPlan.action_id == action.id,
                    PayoutPlan.snapshot_id == snapshot.id,
                    PayoutPlan.action_version == action.current_version,
                    col(PayoutPlan.status).not_in([PlanStatus.stale]),
                )
            ).first()
            or session.exec(
                select(MultiplierPlan.id).where(
                    MultiplierPlan.action_id == action.id,
                    MultiplierPlan.action_version == action.current_version,
                    col(MultiplierPlan.status).not_in([AdjustmentStatus.stale]),
                )
            ).first()
        )
        if planned is None:
            due.append(action.id or 0)
    return due


def _mechanism(session: Session, action_id: int) -> str:
    """How the action is carried out: ``mint`` (a split of a classic SPL mint: new tokens),
    ``multiplier`` (a Token-2022 split, or a reinvested dividend) or ``cash`` (USDC)."""
    action = session.get(CorporateAction, action_id)
    instrument = session.get(Instrument, action.instrument_id) if action else None
    if action is None or instrument is None:
        return "cash"  # compute_plan names what is missing
    if action.kind == ActionKind.cash_dividend:
        return "multiplier" if instrument.dividend_mode == "reinvest" else "cash"
    return "multiplier" if instrument.token_program == TokenProgram.token2022 else "mint"


def close_undecidable_plans(session: Session) -> list[int]:
    """Draft and approved (not yet executing) plans of actions that are over (attested,
    cancelled, withdrawn, failed, applied) become stale with the reason: such a plan can never
    be paid, so it must not wait for a decision. Returns their ids."""
    closed: list[int] = []
    plans = session.exec(
        select(PayoutPlan, CorporateAction.status)
        .join(CorporateAction, col(CorporateAction.id) == col(PayoutPlan.action_id))
        .where(
            col(PayoutPlan.status).in_([PlanStatus.draft, PlanStatus.approved]),
            col(CorporateAction.status).in_(list(TERMINAL_ACTION_STATUSES)),
        )
    ).all()
    for plan, status in plans:
        plan.status = PlanStatus.stale
        plan.stale_reason = f"action {plan.action_id} is {status}; this plan can never be paid"
        session.add(plan)
        closed.append(plan.id or 0)
    if closed:
        log.info("plans of finished actions closed", plans=closed)
    return closed


def compute_due_plans(
    *, session_factory: SessionFactory, settings: Settings | None = None
) -> dict[str, Any]:
    """Compute a draft plan for every action that needs one, each in its own transaction;
    an action that cannot be planned gets the reason on its record and is tried again later."""
    settings = settings or get_settings()
    with session_factory() as session:
        closed = close_undecidable_plans(session)
    with session_factory() as session:
        due = actions_needing_plans(session)
    computed: list[int] = []
    failed: dict[int, str] = {}
    for action_id in due:
        try:
            with session_factory() as session:
                mechanism = _mechanism(session, action_id)
                if mechanism == "mint":
                    split = compute_split_plans(
                        session=session, action_id=action_id, maker=SCHEDULER, settings=settings
                    )
                    computed.append(split.stock.id or 0)
                    continue
                if mechanism == "multiplier":
                    adjustment = asyncio.run(
                        compute_multiplier_plan(
                            session, action_id, maker=SCHEDULER, settings=settings
                        )
                    )
                    computed.append(adjustment.id or 0)
                    continue
                plan = compute_plan(
                    session=session, action_id=action_id, maker=SCHEDULER, settings=settings
                ).plan
                computed.append(plan.id or 0)
        except CorpactionsError as exc:
            failed[action_id] = exc.one_line()
            log.warning("plan not computed", action=action_id, error=exc.one_line())
            record_reason(session_factory, action_id, f"plan not computed: {exc.one_line()}")
    return {"computed": computed, "failed": failed, "closed": closed}

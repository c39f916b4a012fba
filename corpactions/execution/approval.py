"""Signed decisions on one exact payout or stock plan: the maker's compute signature, approval
and rejection. The rule (who may sign what, maker ≠ checker by key) is
``corpactions.operators.decisions``'; this module applies it to payout plans.

An approval is refused, with nothing written, when its signature is not a live approver's over
exactly this plan's message (plan id, root, totals, action version, deployment), the key computed
or already approved the plan, a given hash differs from the stored plan (without echoing the
stored one) or the stored plan no longer hashes to it, the plan is stale or already decided, the
action moved on (amended, cancelled), or the treasury cannot pay (USDC, and SOL for fees and
account rent). Each accepted decision is an append-only ``Approval`` row holding the message and
signature; the plan is approved once ``approvals_required`` distinct keys approved it. Approving
also settles the carried balances the plan pays.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from solders.pubkey import Pubkey
from sqlmodel import Session, col, func, select

from corpactions.chain.keys import load_keypair
from corpactions.chain.rpc import Rpc
from corpactions.config import Settings, get_settings
from corpactions.errors import PlanError
from corpactions.logs import get_logger
from corpactions.models import (
    TERMINAL_ACTION_STATUSES,
    ActionStatus,
    Approval,
    CorporateAction,
    LineStatus,
    PayoutLine,
    PayoutPlan,
    PlanStatus,
    Snapshot,
)
from corpactions.operators import decisions as operator_decisions
from corpactions.operators.decisions import ACKNOWLEDGED, Decision, Signed
from corpactions.payouts.plan import CARRY_IS_OWED, get_plan, verify_hash
from corpactions.payouts.signoff import decisions, maker_decision, payout_subject
from corpactions.reserves.backing import backing_acknowledgement_required

log = get_logger(__name__)
LAMPORTS_PER_TRANSFER_TX = 5_000 + 200_000  # signature fee and a capped priority fee, generous
TRANSFERS_PER_TX = 8  # the worst case: every recipient's USDC account created in the transfer
ATA_RENT = 2_039_280


@dataclass(frozen=True)
class Funds:
    usdc: int
    lamports: int


def treasury_address(settings: Settings) -> Pubkey:
    """The treasury's USDC account (it funds each plan's own account; see ``funding``)."""
    from corpactions.execution.funding import treasury_account

    return treasury_account(settings)


def treasury_funds(settings: Settings) -> Funds:
    async def read() -> Funds:
        async with Rpc(settings=settings) as rpc:
            authority = load_keypair(settings.authority_keypair_path).pubkey()
            balance = await rpc.call_json(
                "getTokenAccountBalance", [str(treasury_address(settings))]
            )
            return Funds(int(balance["value"]["amount"]), await rpc.balance(authority))

    return asyncio.run(read())


def _check_decidable(session: Session, plan: PayoutPlan, plan_hash: str | None) -> None:
    if plan.status == PlanStatus.stale:
        raise PlanError(f"plan {plan.id} is stale: {plan.stale_reason}", hint="compute a new plan")
    if plan.status != PlanStatus.draft:
        raise PlanError(f"plan {plan.id} is already {plan.status}; decisions are final")
    if plan_hash is not None and plan_hash != plan.plan_hash:
        raise PlanError(
            f"the plan hash given does not match plan {plan.id}",
            hint=f"review the plan with 'corpactions payouts show {plan.id}' and approve "
            "the hash it prints",
        )
    if verify_hash(session, plan) != plan.plan_hash:
        raise PlanError(
            f"plan {plan.id}'s stored lines no longer match its hash",
            hint="the ledger was altered; compute a new plan",
        )
    action = session.get(CorporateAction, plan.action_id)
    if action is None or action.status in TERMINAL_ACTION_STATUSES:
        raise PlanError(
            f"action {plan.action_id} is {action.status if action else 'gone'}; "
            "the plan cannot be decided"
        )
    if action.current_version != plan.action_version:
        raise PlanError(
            f"action {plan.action_id} was amended to version {action.current_version} "
            f"after this plan (version {plan.action_version})",
            hint="compute a new plan",
        )
    snapshot = session.get(Snapshot, plan.snapshot_id)
    if snapshot is None or snapshot.superseded_by is not None or snapshot.stale_reason:
        raise PlanError(
            f"plan {plan.id}'s snapshot was superseded or is stale", hint="compute a new plan"
        )


def decision_message(
    session: Session, plan_id: int, purpose: str = "approve", acknowledged: Sequence[str] = ()
) -> bytes:
    """The exact bytes an operator signs to decide plan ``plan_id`` (no trailing newline)."""
    plan = get_plan(session, plan_id)
    return operator_decisions.decision_message(
        payout_subject(plan), purpose, acknowledged=acknowledged
    )


def _record(
    session: Session,
    plan: PayoutPlan,
    purpose: str,
    signed: Signed,
    note: str | None,
    *,
    acknowledged: str | None = None,
) -> None:
    session.add(
        Approval(
            plan_id=plan.id or 0,
            approver=signed.operator.name,
            decision=purpose,
            plan_hash=plan.plan_hash,
            note=note,
            pubkey=signed.operator.pubkey,
            message=signed.message,
            signature=signed.signature,
            acknowledged=acknowledged,
        )
    )


def sign_compute(
    *, session: Session, plan_id: int, decision: Decision, note: str | None = None
) -> PayoutPlan:
    """Record the maker's signed compute decision on a draft plan (once): from then on the
    maker's key cannot approve it."""
    plan = get_plan(session, plan_id)
    _check_decidable(session, plan, None)
    if maker_decision(session, plan_id) is not None:
        raise PlanError(f"plan {plan_id} already has its maker's signature")
    signed = operator_decisions.verify_decision(
        session, subject=payout_subject(plan), purpose="compute", decision=decision
    )
    earlier = {row.pubkey for row in decisions(session, plan_id, "approve")}
    if signed.operator.pubkey in earlier:
        raise PlanError(
            f"the key of {signed.operator.name!r} already approved plan {plan_id}",
            hint="a plan's maker and approvers hold different keys",
        )
    _record(session, plan, "compute", signed, note)
    plan.created_by = signed.operator.name
    session.add(plan)
    session.flush()
    return plan


def required_funds(plan: PayoutPlan) -> Funds:
    transactions = -(-plan.line_count // TRANSFERS_PER_TX) + 1  # and the attestation memo
    usdc = plan.sent_total if plan.asset == "usdc" else 0  # a stock plan mints, pays nothing
    return Funds(usdc, transactions * LAMPORTS_PER_TRANSFER_TX + plan.line_count * ATA_RENT)


def approve(
    *,
    session: Session,
    plan_id: int,
    decision: Decision,
    plan_hash: str | None = None,
    note: str | None = None,
    settings: Settings | None = None,
    funds: Funds | None = None,
) -> PayoutPlan:
    """Record an approver's signed approval of exactly this plan; refused, with nothing
    written, when the signature does not verify (another plan, root or deployment, a revoked
    operator, no approver role), the key computed or already approved the plan, the plan cannot
    be decided, or the treasury cannot pay."""
    settings = settings or get_settings()
    plan = get_plan(session, plan_id)
    _check_decidable(session, plan, plan_hash)
    earlier = decisions(session, plan_id, "approve")
    maker = decisions(session, plan_id, "compute")
    signed = operator_decisions.verify_decision(
        session,
        subject=payout_subject(plan),
        purpose="approve",
        decision=decision,
        maker_key=maker[0].pubkey if maker else None,
        earlier_keys=[row.pubkey or "" for row in earlier],
        settings=settings,
    )
    required = backing_acknowledgement_required(session, plan)
    if required is not None and not operator_decisions.acknowledges(decision, required):
        raise PlanError(
            f"plan {plan_id}'s snapshot failed its backing check: "
            + required.removeprefix(ACKNOWLEDGED),
            hint="review 'corpactions payouts show'; to approve all the same, sign the message "
            "with the acknowledgement (--acknowledge-backing-difference adds it)",
        )
    available = funds or treasury_funds(settings)
    needed = required_funds(plan)
    if available.usdc < needed.usdc:
        raise PlanError(
            f"treasury holds {available.usdc} USDC base units, plan {plan_id} sends {needed.usdc}",
            hint="fund the treasury, then approve again",
        )
    if available.lamports < needed.lamports:
        raise PlanError(
            f"payout authority holds {available.lamports} lamports; "
            f"fees and account rent may need {needed.lamports}",
            hint="fund the payout authority with SOL, then approve again",
        )
    _record(session, plan, "approve", signed, note, acknowledged=required)
    keys = [row.pubkey or "" for row in earlier] + [signed.operator.pubkey]
    if operator_decisions.is_approved(keys, settings):
        plan.status = PlanStatus.approved
        plan.approved_at = datetime.now(UTC)
        _settle_carried(session, plan)
        action = session.get(CorporateAction, plan.action_id)
        if action is not None:
            action.status = ActionStatus.approved
            session.add(action)
    session.add(plan)
    session.flush()
    log.info(
        "plan approval recorded",
        plan=plan_id,
        approver=signed.operator.name,
        pubkey=signed.operator.pubkey,
        status=str(plan.status),
    )
    return plan


def reject(
    *,
    session: Session,
    plan_id: int,
    decision: Decision,
    plan_hash: str | None = None,
    note: str | None = None,
) -> PayoutPlan:
    plan = get_plan(session, plan_id)
    _check_decidable(session, plan, plan_hash)
    signed = operator_decisions.verify_decision(
        session, subject=payout_subject(plan), purpose="reject", decision=decision
    )
    _record(session, plan, "reject", signed, note)
    plan.status = PlanStatus.rejected
    session.add(plan)
    session.flush()
    log.info("plan rejected", plan=plan_id, approver=signed.operator.name)
    return plan


def _settle_carried(session: Session, plan: PayoutPlan) -> None:
    """The carried balances this plan pays are now owed by this plan, not the earlier ones."""
    owners = [
        line.owner
        for line in session.exec(
            select(PayoutLine).where(PayoutLine.plan_id == plan.id, col(PayoutLine.carried_in) > 0)
        )
    ]
    if not owners:
        return
    older = session.exec(
        select(PayoutLine)
        .join(PayoutPlan, col(PayoutPlan.id) == col(PayoutLine.plan_id))
        .where(
            col(PayoutLine.owner).in_(owners),
            PayoutLine.status == LineStatus.carried,
            col(PayoutLine.carried_into).is_(None),
            col(PayoutPlan.status).in_(CARRY_IS_OWED),
            col(PayoutPlan.asset) == "usdc",
            col(PayoutLine.plan_id) != plan.id,
        )
    ).all()
    for line in older:
        line.carried_into = plan.id
        session.add(line)


def plan_warnings(
    session: Session, plan: PayoutPlan, settings: Settings | None = None
) -> list[str]:
    """What an approver should know before approving: escrowed and carried lines, recipients
    without a USDC account, and a treasury that cannot pay. Chain checks that cannot be made
    (RPC unreachable, no keypair) become a warning themselves, never an error."""
    from corpactions.execution.batching import inspect_recipients

    settings = settings or get_settings()
    warnings: list[str] = []
    counts = dict(
        session.exec(
            select(PayoutLine.status, func.count())
            .where(PayoutLine.plan_id == plan.id)
            .group_by(col(PayoutLine.status))
        ).all()
    )
    if counts.get(LineStatus.escrowed):
        warnings.append(
            f"{counts[LineStatus.escrowed]} line(s) escrowed (blocked wallets or frozen "
            f"holders): {plan.escrowed_total} base units kept back"
        )
    if counts.get(LineStatus.carried):
        warnings.append(
            f"{counts[LineStatus.carried]} line(s) below the minimum are carried: "
            f"{plan.carried_total} base units owed later"
        )
    if plan.status not in (PlanStatus.draft, PlanStatus.approved) or plan.asset != "usdc":
        return warnings  # (a stock plan's recipients already hold the stock)
    owners = [
        o
        for o in session.exec(
            select(PayoutLine.owner).where(
                PayoutLine.plan_id == plan.id, PayoutLine.status == LineStatus.pending
            )
        )
    ]
    try:

        async def missing() -> int:
            async with Rpc(settings=settings) as rpc:
                found = await inspect_recipients(
                    rpc, owners, Pubkey.from_string(settings.usdc_mint)
                )
            return sum(1 for r in found.values() if not r.exists)

        absent = asyncio.run(missing())
        funds = treasury_funds(settings)
    except Exception as exc:  # a warning, not a failure: the approver still sees the rest
        warnings.append(f"chain checks not made: {exc}")
        return warnings
    if absent:
        policy = (
            "created in the transfer (rent paid by the authority)"
            if settings.missing_account_policy == "create"
            else "held for claim"
        )
        warnings.append(f"{absent} recipient(s) have no USDC account yet: {policy}")
    needed = required_funds(plan)
    if funds.usdc < needed.usdc:
        warnings.append(
            f"treasury shortfall: holds {funds.usdc} USDC base units, the plan sends {needed.usdc}"
        )
    if funds.lamports < needed.lamports:
        warnings.append(
            f"SOL shortfall: the authority holds {funds.lamports} lamports, fees and rent may "
            f"need {needed.lamports}"
        )
    return warnings

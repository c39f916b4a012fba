"""What operators sign about a payout or stock plan, and the decisions the ledger holds on it.

The signed text itself, and the maker-checker rule, belong to ``corpactions.operators.decisions``
(one rule for every plan kind); this module names a payout plan's part of it: its kind (``payout``
for USDC, ``stock`` for minted shares), root, mint and totals, and reads its stored decisions
(``Approval`` rows: ``compute``, ``approve``, ``reject``).
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from corpactions.models import Approval, PayoutPlan
from corpactions.operators.decisions import StoredDecision, Subject, verify_approvals
from corpactions.payouts.plan import mint_of


def payout_subject(plan: PayoutPlan) -> Subject:
    return Subject(
        kind="payout" if plan.asset == "usdc" else "stock",
        plan_id=plan.id or 0,
        root=plan.plan_hash,
        asset=f"{plan.asset} {mint_of(plan.inputs, plan.asset)}",
        totals=(
            f"gross {plan.gross_pool}, withheld {plan.withheld_total}, "
            f"to send {plan.sent_total}, carried {plan.carried_total}, "
            f"escrowed {plan.escrowed_total}, carried in {plan.carried_in_total}, "
            f"lines {plan.line_count}"
        ),
        action_id=plan.action_id,
        action_version=plan.action_version,
    )


def decisions(session: Session, plan_id: int, decision: str) -> list[Approval]:
    return list(
        session.exec(
            select(Approval)
            .where(Approval.plan_id == plan_id, Approval.decision == decision)
            .order_by(col(Approval.id))
        )
    )


def stored(row: Approval) -> StoredDecision:
    return StoredDecision(operator=row.approver, message=row.message, signature=row.signature)


def maker_decision(session: Session, plan_id: int) -> StoredDecision | None:
    """The plan's signed compute decision, when its maker signed one."""
    rows = decisions(session, plan_id, "compute")
    return stored(rows[0]) if rows else None


def verify_signed_approvals(session: Session, plan: PayoutPlan) -> None:
    """Execution's re-check: the stored approvals are signatures, by live approvers with keys
    other than the maker's, of exactly this plan's message as it stands (root, totals,
    deployment); ``SignatureRefused`` otherwise."""
    verify_approvals(
        session,
        subject=payout_subject(plan),
        approvals=[stored(row) for row in decisions(session, plan.id or 0, "approve")],
        maker=maker_decision(session, plan.id or 0),
    )

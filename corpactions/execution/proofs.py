"""Prove a batch's lines against the approved plan root before anything is signed or sent.

The ledger is not trusted after approval: the approvals' signatures are checked again against the
operator registry and the plan as it stands (a revoked approver, an altered message or a root
that is not the signed one stops the plan); each line's leaf is recomputed from its stored row
(the plan id of the batch, the mint being paid, the row's fields) and its stored proof walked to the
root the approvals bind. O(batch · log n): the plan is never rehashed per batch. A line that
fails, or a plan whose line count no longer matches, moves the plan to ``tampered``: nothing more
of it is signed until an operator looks, recomputes and approves again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import Session, col, select

from corpactions.errors import OperatorError, PlanError
from corpactions.logs import get_logger
from corpactions.models import Approval, PayoutLine, PayoutPlan, PlanStatus
from corpactions.notify import notify
from corpactions.payouts import merkle
from corpactions.payouts.plan import mint_of, stored_line_text, stored_proofs
from corpactions.payouts.signoff import verify_signed_approvals

log = get_logger(__name__)


class PlanTampered(PlanError):
    """Lines of an approved plan no longer prove against its approved root."""

    default_hint = (
        "the ledger was changed after approval: inspect the named lines, then compute the plan "
        "again and have it approved"
    )


@dataclass(frozen=True)
class Approved:
    plan_id: int
    root: bytes
    leaf_count: int
    mint: str
    asset: str


def approved(session: Session, plan: PayoutPlan) -> Approved:
    """The root every approval of ``plan`` bound, which must also be the plan's hash."""
    hashes = set(
        session.exec(
            select(Approval.plan_hash).where(
                Approval.plan_id == plan.id, Approval.decision == "approve"
            )
        ).all()
    )
    if plan.inputs.get("tree") != merkle.SCHEME:
        raise PlanTampered(
            f"plan {plan.id} has no Merkle root (computed before roots existed)",
            hint=f"compute a new plan for action {plan.action_id} and approve it",
        )
    if hashes != {plan.plan_hash}:
        raise PlanTampered(
            f"plan {plan.id}'s hash {plan.plan_hash[:16]}… is not the one its approvals bound "
            f"({', '.join(sorted(h[:16] + '…' for h in hashes)) or 'none'})"
        )
    try:
        verify_signed_approvals(session, plan)
    except OperatorError as exc:
        raise PlanTampered(
            f"plan {plan.id}'s approvals no longer verify: {exc.message}",
            hint="compute the plan again and have it approved by registered operators",
        ) from exc
    count = plan.line_count + 1
    inputs_leaf = merkle.leaf_hash(merkle.inputs_text(plan.id or 0, plan.inputs))
    if plan.inputs.get("line_count") != plan.line_count or not merkle.verify(
        inputs_leaf, 0, count, plan.inputs_proof or b"", bytes.fromhex(plan.plan_hash)
    ):
        raise PlanTampered(f"plan {plan.id}'s inputs do not prove against its approved root")
    mint = mint_of(plan.inputs, plan.asset)
    return Approved(plan.id or 0, bytes.fromhex(plan.plan_hash), count, mint, plan.asset)


def failing_lines(
    root: Approved, lines: Sequence[PayoutLine], proofs: dict[int, bytes | None]
) -> list[PayoutLine]:
    """The lines whose stored row does not prove against the approved root (``proofs``: each
    line's proof by leaf index, from ``stored_proofs``)."""
    bad = []
    for line in lines:
        try:
            text = stored_line_text(root.plan_id, line, mint=root.mint, asset=root.asset)
        except ValueError:
            bad.append(line)
            continue
        proof = proofs.get(line.leaf_index) if line.leaf_index is not None else None
        ok = (
            line.plan_id == root.plan_id
            and line.leaf_index is not None
            and proof is not None
            and merkle.verify(
                merkle.leaf_hash(text), line.leaf_index, root.leaf_count, proof, root.root
            )
        )
        if not ok:
            bad.append(line)
    return bad


def check_line_count(session: Session, plan: PayoutPlan) -> str | None:
    """A line added or deleted after approval: the rows no longer fill leaves 1..n once."""
    count, distinct, low, high = session.exec(
        select(
            func.count(col(PayoutLine.id)),
            func.count(func.distinct(PayoutLine.leaf_index)),
            func.min(PayoutLine.leaf_index),
            func.max(PayoutLine.leaf_index),
        ).where(PayoutLine.plan_id == plan.id)
    ).one()
    n = plan.line_count
    if (count, distinct) == (n, n) and (n == 0 or (low, high) == (1, n)):
        return None
    return (
        f"plan {plan.id} has {count} line rows ({distinct} distinct leaves {low}..{high}); "
        f"the approved tree has {n}"
    )


def mark_tampered(session: Session, plan: PayoutPlan, reason: str) -> None:
    if plan.status != PlanStatus.tampered:
        plan.status = PlanStatus.tampered
        plan.stale_reason = reason[:2000]
        session.add(plan)
        notify(
            session,
            "plan.tampered",
            {"plan_id": plan.id, "action_id": plan.action_id, "reason": plan.stale_reason},
        )
        log.error("plan tampered: nothing more is signed", plan=plan.id, reason=reason)


def tamper_reason(session: Session, plan: PayoutPlan, lines: Sequence[PayoutLine]) -> str | None:
    """None when every line proves against the approved root; otherwise the plan is marked
    ``tampered`` in ``session`` (the caller commits, then refuses) and the reason returned."""
    try:
        root = approved(session, plan)
    except PlanTampered as exc:
        mark_tampered(session, plan, exc.message)
        return exc.message
    proofs = stored_proofs(session, root.plan_id, root.leaf_count, lines)
    bad = failing_lines(root, lines, proofs)
    if not bad:
        return None
    named = ", ".join(f"line {line.id} ({line.owner})" for line in bad[:20])
    more = f" and {len(bad) - 20} more" if len(bad) > 20 else ""
    reason = f"{len(bad)} line(s) fail their proof against the approved root: {named}{more}"
    mark_tampered(session, plan, reason)
    return reason

"""A decision is a signature: the one maker-checker rule for every kind of plan.

Computing, approving and rejecting a plan (payout, stock or multiplier) is an operator's
ed25519 signature over a canonical text naming the deployment, the purpose, the plan, its root,
what it delivers, its totals and the action version it was made for. Optional ``acknowledged:``
lines carry warnings the signer accepted. The text is built here and only here; the signer signs
its exact bytes (no trailing newline).

The rule, by key and never by name: the signer is a live operator holding the role the purpose
needs (compute → maker, approve/reject → approver); an approval's key is not the key that
computed the plan and has not approved it already; a plan is approved once
``approvals_required`` distinct keys approved it. Execution re-checks the stored messages and
signatures against the registry and the plan as it stands (``verify_approvals``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import Session

from corpactions.config import Settings, get_settings
from corpactions.errors import PlanError, SignatureRefused
from corpactions.models import Operator
from corpactions.operators.keys import parse_signature, signature_text
from corpactions.operators.verify import verify_operator_signature

PURPOSES = {"compute": "maker", "approve": "approver", "reject": "approver"}
ACKNOWLEDGED = "acknowledged: "


@dataclass(frozen=True)
class Subject:
    """What a decision is about, as the signed text names it."""

    kind: str
    """payout, stock or multiplier"""
    plan_id: int
    root: str
    asset: str
    totals: str
    action_id: int
    action_version: int

    @property
    def label(self) -> str:
        return f"{self.kind} plan {self.plan_id}"


@dataclass(frozen=True)
class Decision:
    """An operator's signature over a decision's message, as handed in."""

    operator: str
    signature: bytes
    acknowledged: tuple[str, ...] = ()


@dataclass(frozen=True)
class Signed:
    """A verified decision, ready to store: who (name and key), the exact message, the
    signature in base58."""

    operator: Operator
    message: str
    signature: str


@dataclass(frozen=True)
class StoredDecision:
    """A decision as the ledger holds it (an approval row of any plan kind)."""

    operator: str
    message: str | None
    signature: str | None


def decision_message(
    subject: Subject,
    purpose: str,
    *,
    acknowledged: Sequence[str] = (),
    settings: Settings | None = None,
) -> bytes:
    """The exact bytes an operator signs to ``purpose`` (compute, approve, reject) the plan."""
    settings = settings or get_settings()
    if purpose not in PURPOSES:
        raise PlanError(f"{purpose!r} is not a decision", hint=f"one of {', '.join(PURPOSES)}")
    lines = [
        "corpactions decision",
        f"deployment: {settings.deployment}",
        f"purpose: {purpose}",
        f"plan: {subject.kind} {subject.plan_id}",
        f"root: {subject.root}",
        f"asset: {subject.asset}",
        f"totals: {subject.totals}",
        f"action: {subject.action_id} version {subject.action_version}",
    ]
    for text in acknowledged:
        clean = " ".join(text.split())
        if clean:
            lines.append(ACKNOWLEDGED + clean)
    return "\n".join(lines).encode()


def acknowledges(decision: Decision, required: str) -> bool:
    """Whether ``decision`` signed ``required`` (with or without its ``acknowledged: `` prefix)
    as one of its acknowledged lines, spacing as the message writes it."""
    wanted = " ".join(required.removeprefix(ACKNOWLEDGED).split())
    return wanted in {" ".join(text.split()) for text in decision.acknowledged}


def acknowledged_in(message: str) -> tuple[str, ...]:
    return tuple(
        line.removeprefix(ACKNOWLEDGED)
        for line in message.split("\n")
        if line.startswith(ACKNOWLEDGED)
    )


def verify_decision(
    session: Session,
    *,
    subject: Subject,
    purpose: str,
    decision: Decision,
    maker_key: str | None = None,
    earlier_keys: Sequence[str] = (),
    settings: Settings | None = None,
) -> Signed:
    """The checked decision, or the error saying why it is refused (nothing is written)."""
    message = decision_message(
        subject, purpose, acknowledged=decision.acknowledged, settings=settings
    )
    operator = verify_operator_signature(
        session,
        operator=decision.operator,
        message=message,
        signature=decision.signature,
        role=PURPOSES[purpose],
    )
    if purpose == "approve":
        if maker_key is not None and operator.pubkey == maker_key:
            raise PlanError(
                f"the key of {operator.name!r} computed {subject.label} and cannot also approve "
                "it (maker-checker)",
                hint="an approver with another key must approve",
            )
        if operator.pubkey in earlier_keys:
            raise PlanError(
                f"the key of {operator.name!r} has already approved {subject.label}",
                hint="an approver with another key must approve",
            )
    return Signed(operator, message.decode(), signature_text(decision.signature))


def is_approved(approving_keys: Sequence[str], settings: Settings | None = None) -> bool:
    settings = settings or get_settings()
    return len(set(approving_keys)) >= settings.approvals_required


def verify_approvals(
    session: Session,
    *,
    subject: Subject,
    approvals: Sequence[StoredDecision],
    maker: StoredDecision | None,
    settings: Settings | None = None,
) -> list[Operator]:
    """Re-check stored approvals at execution: each message is exactly the one this plan (as it
    stands, root included) and deployment give, each signature is a live approver's, no approving
    key computed the plan, and enough distinct keys approved. ``SignatureRefused`` otherwise."""
    settings = settings or get_settings()
    maker_key = None
    if maker is not None:
        maker_key = _reverify(session, subject, "compute", maker, settings).pubkey
    keys: list[str] = []
    operators = []
    for stored in approvals:
        operator = _reverify(session, subject, "approve", stored, settings)
        if operator.pubkey == maker_key or operator.pubkey in keys:
            raise SignatureRefused(
                f"{subject.label}'s approvals are not by distinct keys other than its maker's",
                hint="compute the plan again and have it approved",
            )
        keys.append(operator.pubkey)
        operators.append(operator)
    if not is_approved(keys, settings):
        raise SignatureRefused(
            f"{subject.label} has {len(keys)} verified approval(s); "
            f"{settings.approvals_required} are required",
            hint="more approvers sign it ('payouts approve')",
        )
    return operators


def _reverify(
    session: Session, subject: Subject, purpose: str, stored: StoredDecision, settings: Settings
) -> Operator:
    if stored.message is None or stored.signature is None:
        raise SignatureRefused(
            f"a decision on {subject.label} by {stored.operator!r} carries no signature",
            hint="compute the plan again and have it approved with operator keys",
        )
    expected = decision_message(
        subject, purpose, acknowledged=acknowledged_in(stored.message), settings=settings
    )
    if expected != stored.message.encode():
        raise SignatureRefused(
            f"the stored {purpose} message of {subject.label} is not the one its plan, root and "
            "deployment give",
            hint="the ledger was altered or the plan changed: compute it again and approve",
        )
    return verify_operator_signature(
        session,
        operator=stored.operator,
        message=expected,
        signature=parse_signature(stored.signature),
        role=PURPOSES[purpose],
    )

"""Operators for tests: real ed25519 keys registered through the registry's own functions."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from solders.keypair import Keypair
from sqlmodel import Session

from corpactions.corporate import decisions
from corpactions.execution import approval
from corpactions.models import MultiplierPlan, PayoutPlan
from corpactions.operators import registry
from corpactions.operators.decisions import Decision
from corpactions.operators.keys import sign_message
from corpactions.operators.registry import Signed
from corpactions.operators.verify import live_operator


def init_admin(session: Session, name: str = "root", key: Keypair | None = None) -> Keypair:
    """The first admin (it also holds the maker and approver roles)."""
    key = key or Keypair()
    roles = ["admin", "maker", "approver"]
    message = registry.change_message(
        session, change="init", name=name, pubkey=str(key.pubkey()), roles=roles
    )
    registry.init(
        session,
        name=name,
        pubkey=str(key.pubkey()),
        signature=sign_message(key, message),
        roles=roles,
    )
    return key


def add_operator(
    session: Session,
    name: str,
    roles: Sequence[str],
    admins: Sequence[tuple[str, Keypair]],
    key: Keypair | None = None,
) -> Keypair:
    """A new operator added with the signatures of ``admins`` (name, key)."""
    key = key or Keypair()
    message = registry.change_message(
        session, change="add", name=name, pubkey=str(key.pubkey()), roles=roles
    )
    registry.add(
        session,
        name=name,
        pubkey=str(key.pubkey()),
        roles=roles,
        signatures=[Signed(n, sign_message(k, message)) for n, k in admins],
    )
    return key


def revoke_operator(session: Session, name: str, admins: Sequence[tuple[str, Keypair]]) -> None:
    message = registry.revoke_message(session, name)
    registry.revoke(
        session, name=name, signatures=[Signed(n, sign_message(k, message)) for n, k in admins]
    )


def key_of(name: str) -> Keypair:
    """The same test key for the same name in every test (operators are registered per test)."""
    return Keypair.from_seed(hashlib.sha256(b"corpactions test operator " + name.encode()).digest())


def ensure_operator(
    session: Session, name: str, roles: Sequence[str] = ("maker", "approver")
) -> Keypair:
    """``name``'s key, registered (signed by a test admin, ``root``) if it is not yet."""
    if not registry.history(session):
        init_admin(session, "root", key_of("root"))
    if live_operator(session, name) is None:
        add_operator(session, name, roles, [("root", key_of("root"))], key=key_of(name))
    return key_of(name)


def payout_decision(
    session: Session, plan_id: int, name: str, purpose: str = "approve", key: Keypair | None = None
) -> Decision:
    key = key or ensure_operator(session, name)
    message = approval.decision_message(session, plan_id, purpose)
    return Decision(name, sign_message(key, message))


def approve_payout(
    session: Session, plan_id: int, name: str = "checker", **extra: Any
) -> PayoutPlan:
    """``name`` approves the payout plan with its registered key."""
    return approval.approve(
        session=session, plan_id=plan_id, decision=payout_decision(session, plan_id, name), **extra
    )


def sign_payout_compute(session: Session, plan_id: int, name: str = "maker") -> PayoutPlan:
    """``name`` signs the payout plan as its maker."""
    return approval.sign_compute(
        session=session,
        plan_id=plan_id,
        decision=payout_decision(session, plan_id, name, "compute"),
    )


def multiplier_decision(
    session: Session, plan_id: int, name: str, purpose: str = "approve"
) -> Decision:
    key = ensure_operator(session, name)
    return Decision(name, sign_message(key, decisions.decision_message(session, plan_id, purpose)))


def approve_multiplier(
    session: Session, plan_id: int, name: str = "bob", **extra: Any
) -> MultiplierPlan:
    return decisions.approve_multiplier_plan(
        session, plan_id, decision=multiplier_decision(session, plan_id, name), **extra
    )

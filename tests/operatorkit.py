"""Operators for tests: real ed25519 keys registered through the registry's own functions."""

from __future__ import annotations

from collections.abc import Sequence

from solders.keypair import Keypair
from sqlmodel import Session

from corpactions.operators import registry
from corpactions.operators.keys import sign_message
from corpactions.operators.registry import Signed


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

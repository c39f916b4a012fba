"""Wallet registry changes for test set-ups, through the real path: the change prepared, signed
by a registered admin's ed25519 key and recorded (its signature verified)."""

from __future__ import annotations

from solders.keypair import Keypair
from sqlmodel import Session

from corpactions import db
from corpactions.models import WalletRecord
from corpactions.wallets.changes import Requested, prepare_change, record_change
from corpactions.wallets.signing import REGISTRY_ROLE, sign_change
from tests.operatorkit import ensure_operator, key_of

REGISTRAR = "registrar"
REGISTRAR_KEY = key_of(REGISTRAR)


def registrar(session: Session) -> Keypair:
    """The admin that signs test changes, registered (by the test admin) when it is not yet."""
    return ensure_operator(session, REGISTRAR, (REGISTRY_ROLE,))


def set_wallet(address: str, **requested: object) -> WalletRecord:
    """Change ``address`` as ``corpactions wallets set`` would (``Requested`` fields)."""
    with db.session_scope() as session:
        key = registrar(session)
        pending = prepare_change(
            session,
            address,
            Requested(**requested),  # type: ignore[arg-type]
            operator=REGISTRAR,
        )
        assert pending is not None, "the change changes nothing"
        row = record_change(session, pending, signature=sign_change(key, pending.message))
        session.expunge(row)
        return row

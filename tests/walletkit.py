"""Wallet registry changes for test set-ups, through the real path: the change prepared, signed
by a registered admin's ed25519 key and recorded (its signature verified)."""

from __future__ import annotations

import hashlib

from solders.keypair import Keypair
from sqlmodel import Session

from corpactions import db
from corpactions.models import WalletRecord
from corpactions.operators.verify import live_operator
from corpactions.wallets.changes import Requested, prepare_change, record_change
from corpactions.wallets.signing import sign_change
from tests.operatorkit import init_admin

REGISTRAR = "registrar"
REGISTRAR_KEY = Keypair.from_seed(hashlib.sha256(b"corpactions-test-registrar").digest())


def registrar(session: Session) -> Keypair:
    """The admin that signs test changes, registered first when the registry is empty."""
    if live_operator(session, REGISTRAR) is None:
        init_admin(session, REGISTRAR, REGISTRAR_KEY)
    return REGISTRAR_KEY


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

"""Before a plan uses the registry's rows, each is checked again: its stored state is the text
its operator signed, and the signature is that of a key the operator registry held for that
operator, with the admin role, when the row was recorded (a later revocation does not undo an
earlier change). A row written around ``record_change`` (by SQL) therefore stops the plan
instead of moving money.

The one exception is the rows migration 0016 carried over from the former mutable wallet table
(``source`` ``migration 0016``, row 1, unsigned): they are the state the ledger already held.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, select

from corpactions.config import Settings
from corpactions.errors import OperatorError, PlanError
from corpactions.models import Operator, WalletRecord
from corpactions.operators.keys import parse_signature, verifies
from corpactions.wallets.changes import change_message
from corpactions.wallets.registry import WalletState
from corpactions.wallets.signing import REGISTRY_ROLE

CARRIED_OVER = "migration 0016"


def _held_at(operator: Operator, moment: datetime) -> bool:
    return (
        REGISTRY_ROLE in operator.roles
        and operator.added_at <= moment
        and (operator.revoked_at is None or operator.revoked_at > moment)
    )


def _problem(row: WalletRecord, keys: dict[str, list[Operator]], settings: Settings) -> str | None:
    if row.source == CARRIED_OVER and row.seq == 1 and row.signature is None:
        return None
    if not (row.operator and row.message and row.signature):
        return "it is not signed"
    expected = change_message(
        deployment=settings.deployment,
        address=row.address,
        seq=row.seq,
        state=WalletState.of(row),
        change=row.change,
        operator=row.operator,
    )
    if row.message != expected:
        return "its state is not the text that was signed"
    try:
        signature = parse_signature(row.signature)
    except OperatorError:
        return "its signature is not readable"
    for operator in keys.get(row.operator, []):
        if _held_at(operator, row.recorded_at) and verifies(
            operator.pubkey, row.message.encode(), signature
        ):
            return None
    return f"no key of an admin named {row.operator!r} at {row.recorded_at.isoformat()} signed it"


def check_rows(session: Session, rows: Sequence[WalletRecord], settings: Settings) -> None:
    """Raise ``PlanError`` naming the first row in force that no operator signature proves."""
    keys: dict[str, list[Operator]] = {}
    for operator in session.exec(select(Operator)):
        keys.setdefault(operator.name, []).append(operator)
    for row in rows:
        problem = _problem(row, keys, settings)
        if problem is not None:
            raise PlanError(
                f"wallet registry row {row.seq} of wallet {row.address} cannot be used: "
                f"{problem}; nothing was planned",
                hint="investigate how the row was written; record the wallet's state again "
                "with 'corpactions wallets set ... --key FILE --operator NAME'",
            )

"""The one check every signed decision goes through: a live operator, holding the role, signed
exactly this message with the key the registry holds for them."""

from __future__ import annotations

from sqlmodel import Session, select

from corpactions.errors import OperatorError, SignatureRefused
from corpactions.models import ROLES, Operator
from corpactions.operators.keys import verifies
from corpactions.operators.names import normalise_name


def live_operator(session: Session, name: str) -> Operator | None:
    """The live operator registered under ``name`` (any spelling of it), if any."""
    return session.exec(select(Operator).where(Operator.live_name == normalise_name(name))).first()


def live_operator_by_key(session: Session, pubkey: str) -> Operator | None:
    return session.exec(select(Operator).where(Operator.live_pubkey == pubkey)).first()


def verify_operator_signature(
    session: Session, *, operator: str, message: bytes, signature: bytes, role: str
) -> Operator:
    """The live operator ``operator`` if it holds ``role`` and ``signature`` is its key's
    signature of exactly ``message``; ``SignatureRefused`` otherwise (nothing is written)."""
    if role not in ROLES:
        raise OperatorError(f"{role!r} is not an operator role", hint=f"one of {', '.join(ROLES)}")
    try:
        name = normalise_name(operator)
    except OperatorError as exc:
        raise SignatureRefused(exc.message, hint=exc.hint) from exc
    found = live_operator(session, name)
    if found is None:
        revoked = session.exec(select(Operator).where(Operator.name == name)).first()
        raise SignatureRefused(
            f"operator {name!r} was revoked" if revoked else f"no operator is named {name!r}",
            hint="a live operator registered with 'corpactions operators add' must sign",
        )
    if role not in found.roles:
        raise SignatureRefused(
            f"operator {name!r} does not hold the {role} role",
            hint=f"an operator with the {role} role must sign",
        )
    if not verifies(found.pubkey, message, signature):
        raise SignatureRefused(
            f"the signature is not operator {name!r}'s signature of this exact message",
            hint="sign the message exactly as printed, with the key registered for this operator",
        )
    return found

"""Operator signatures over wallet registry changes: made with the operator's keypair file, and
checked against the operator registry (a live operator holding the registry role)."""

from __future__ import annotations

from solders.keypair import Keypair
from sqlmodel import Session

from corpactions.errors import SignatureRefused
from corpactions.operators.keys import (
    load_operator_key,
    parse_signature,
    sign_message,
    signature_text,
)
from corpactions.operators.verify import verify_operator_signature

REGISTRY_ROLE = "admin"
"""The operator role whose key may change the wallet registry."""

__all__ = ["REGISTRY_ROLE", "load_operator_key", "sign_change", "verify_change_signature"]


def sign_change(keypair: Keypair, message: str) -> str:
    """The base58 signature of the change's exact text (UTF-8 bytes)."""
    return signature_text(sign_message(keypair, message.encode()))


def verify_change_signature(
    session: Session, *, operator: str, message: str, signature: str | None
) -> str:
    """The registered operator's name if ``signature`` is its signature of exactly ``message``
    and it holds the registry role; ``SignatureRefused`` otherwise."""
    if not signature:
        raise SignatureRefused(
            "a wallet registry change must be signed by an operator key",
            hint="give --key FILE --operator NAME",
        )
    found = verify_operator_signature(
        session,
        operator=operator,
        message=message.encode(),
        signature=parse_signature(signature),
        role=REGISTRY_ROLE,
    )
    return found.name

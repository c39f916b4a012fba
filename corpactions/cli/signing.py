"""The options every signed decision takes, and turning them into a ``Decision``.

``--key FILE`` signs the decision's message here (the signer's name comes from the registry);
``--signature SIG --operator NAME`` hands in a signature made elsewhere over the exact bytes
that ``approval-message`` printed. ``--acknowledge TEXT`` adds an ``acknowledged:`` line (a
warning the signer accepts), and must be repeated identically when signing offline.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import typer
from sqlmodel import Session

from corpactions.errors import OperatorError, UserInputError
from corpactions.operators.decisions import Decision

KEY_OPTION = typer.Option(
    None, "--key", help="Your operator keypair file (Solana CLI JSON): sign here."
)
SIGNATURE_OPTION = typer.Option(
    None, "--signature", help="A base58 signature of the exact 'approval-message' bytes."
)
OPERATOR_OPTION = typer.Option(None, "--operator", help="Who made --signature (operator name).")
ACKNOWLEDGE_OPTION = typer.Option(
    [], "--acknowledge", help="A warning you accept; signed with the decision (repeatable)."
)
PURPOSE_OPTION = typer.Option("approve", "--purpose", help="approve, reject or compute.")


def decision_from(
    session: Session,
    message_of: Callable[[Sequence[str]], bytes],
    *,
    key: Path | None,
    signature: str | None,
    operator: str | None,
    acknowledged: Sequence[str],
) -> Decision:
    from corpactions.operators.keys import load_operator_key, parse_signature, sign_message
    from corpactions.operators.verify import live_operator_by_key

    ack = tuple(acknowledged)
    if key is not None and signature is None:
        keypair = load_operator_key(key)
        owner = live_operator_by_key(session, str(keypair.pubkey()))
        if owner is None:
            raise OperatorError(
                f"the key in {key} belongs to no live operator",
                hint="ask an admin to register it ('corpactions operators add')",
            )
        return Decision(owner.name, sign_message(keypair, message_of(ack)), ack)
    if key is None and signature is not None and operator is not None:
        return Decision(operator, parse_signature(signature), ack)
    raise UserInputError(
        "a decision is a signature: give --key FILE, or --signature SIG with --operator NAME",
        hint="print the exact text to sign with 'approval-message', sign it with "
        "'corpactions sign --key FILE' or a wallet",
    )


def write_message(message: bytes) -> None:
    """The exact bytes to sign, nothing added (no trailing newline)."""
    sys.stdout.buffer.write(message)
    sys.stdout.flush()

"""``corpactions operators``: the registry of operator keys; ``corpactions sign``: sign a message.

A registry change after the first admin is signed by admins: with ``--key FILE`` (one per admin,
the signer's name comes from the registry), or offline: ``--print-message`` prints the exact
bytes to sign, each admin signs them elsewhere (``corpactions sign``), and ``--signature
NAME:SIG`` hands the signatures in.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from sqlmodel import Session

from corpactions import db
from corpactions.cli.render import JSON_OPTION, print_json, print_table
from corpactions.errors import OperatorError
from corpactions.models import Operator

app = typer.Typer(
    help="Operators: people proven by ed25519 keys, with roles (maker, approver, admin).",
    no_args_is_help=True,
)

KEY_OPTION = typer.Option([], "--key", help="An admin's Solana CLI keypair file (repeatable).")
SIGNATURE_OPTION = typer.Option(
    [], "--signature", help="An admin's offline signature as NAME:BASE58 (repeatable)."
)
PRINT_OPTION = typer.Option(
    False, "--print-message", help="Print the exact bytes admins sign; change nothing."
)


def operator_dict(operator: Operator) -> dict[str, Any]:
    return {
        "name": operator.name,
        "pubkey": operator.pubkey,
        "roles": ",".join(operator.roles),
        "added_at": operator.added_at,
        "added_by": operator.added_by,
        "revoked_at": operator.revoked_at,
        "revoked_by": operator.revoked_by,
    }


def collect_signatures(
    session: Session, message: bytes, keys: list[Path], signatures: list[str]
) -> list[Any]:
    """Admin signatures of ``message``: made now with the key files, or given offline."""
    from corpactions.operators.keys import load_operator_key, parse_signature, sign_message
    from corpactions.operators.registry import Signed
    from corpactions.operators.verify import live_operator_by_key

    signed = []
    for path in keys:
        keypair = load_operator_key(path)
        owner = live_operator_by_key(session, str(keypair.pubkey()))
        if owner is None:
            raise OperatorError(
                f"the key in {path} belongs to no live operator",
                hint="sign with a registered admin's key ('corpactions operators list')",
            )
        signed.append(Signed(owner.name, sign_message(keypair, message)))
    for text in signatures:
        name, sep, sig = text.rpartition(":")
        if not sep or not name:
            raise OperatorError(
                f"--signature {text[:20]!r}… is not NAME:SIGNATURE",
                hint="write the signer's operator name, a colon, then the base58 signature",
            )
        signed.append(Signed(name, parse_signature(sig)))
    return signed


def _write_message(message: bytes) -> None:
    sys.stdout.buffer.write(message)
    sys.stdout.flush()


@app.command("keygen")
def keygen(
    path: Path = typer.Argument(..., help="Keypair file to create (Solana CLI format, mode 0600)."),
) -> None:
    """Make a new operator key on this machine and print its public key (for 'operators add')."""
    from solders.keypair import Keypair

    from corpactions.chain.keys import write_keypair

    if path.exists():
        raise OperatorError(
            f"{path} already exists", hint="choose a new file; keys are never overwritten"
        )
    keypair = Keypair()
    write_keypair(path, keypair)
    typer.echo(str(keypair.pubkey()))


@app.command("init")
def init(
    name: str = typer.Argument(..., help="The first admin's name."),
    key: Path = typer.Option(..., "--key", help="The first admin's Solana CLI keypair file."),
    roles: list[str] = typer.Option(
        ["admin"], "--roles", help="Roles besides admin: maker, approver (comma-separated)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Register the first admin, signed by its own key; only on an empty registry."""
    from corpactions.operators import registry
    from corpactions.operators.keys import load_operator_key, sign_message

    db.require_current_schema()
    keypair = load_operator_key(key)
    pubkey = str(keypair.pubkey())
    with db.session_scope() as session:
        wanted = sorted({"admin", *registry.parse_roles(roles)})
        message = registry.change_message(
            session, change="init", name=name, pubkey=pubkey, roles=wanted
        )
        operator = registry.init(
            session,
            name=name,
            pubkey=pubkey,
            signature=sign_message(keypair, message),
            roles=wanted,
        )
        data = operator_dict(operator)
    if as_json:
        print_json(data)
    else:
        typer.echo(f"operator {data['name']} ({data['pubkey']}) registered as {data['roles']}")


@app.command("add")
def add(
    name: str = typer.Argument(..., help="The operator's name (compared case-folded)."),
    pubkey: str = typer.Option(..., "--pubkey", help="The operator's ed25519 public key."),
    roles: list[str] = typer.Option(
        ..., "--roles", help="maker, approver, admin (comma-separated)."
    ),
    keys: list[Path] = KEY_OPTION,
    signatures: list[str] = SIGNATURE_OPTION,
    print_message: bool = PRINT_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Add an operator, signed by CORPACTIONS_APPROVALS_REQUIRED admins."""
    from corpactions.operators import registry

    db.require_current_schema()
    with db.session_scope() as session:
        message = registry.change_message(
            session, change="add", name=name, pubkey=pubkey, roles=roles
        )
        if print_message:
            _write_message(message)
            return
        operator = registry.add(
            session,
            name=name,
            pubkey=pubkey,
            roles=roles,
            signatures=collect_signatures(session, message, keys, signatures),
        )
        data = operator_dict(operator)
    if as_json:
        print_json(data)
    else:
        typer.echo(f"operator {data['name']} ({data['pubkey']}) added as {data['roles']}")


@app.command("revoke")
def revoke(
    name: str = typer.Argument(..., help="The operator to revoke."),
    keys: list[Path] = KEY_OPTION,
    signatures: list[str] = SIGNATURE_OPTION,
    print_message: bool = PRINT_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Revoke an operator: its key signs nothing from now on (its rows stay)."""
    from corpactions.operators import registry

    db.require_current_schema()
    with db.session_scope() as session:
        message = registry.revoke_message(session, name)
        if print_message:
            _write_message(message)
            return
        operator = registry.revoke(
            session, name=name, signatures=collect_signatures(session, message, keys, signatures)
        )
        data = operator_dict(operator)
    if as_json:
        print_json(data)
    else:
        typer.echo(f"operator {data['name']} revoked by {data['revoked_by']}")


@app.command("list")
def list_(
    everyone: bool = typer.Option(False, "--all", help="Include revoked operators."),
    as_json: bool = JSON_OPTION,
) -> None:
    """The live operators (with --all, revoked ones too)."""
    from corpactions.operators import registry

    db.require_current_schema()
    with db.session_scope() as session:
        found = registry.all_operators(session) if everyone else registry.live_operators(session)
        rows = [operator_dict(o) for o in found]
    if as_json:
        print_json(rows)
        return
    print_table("Operators", rows, ["name", "pubkey", "roles", "added_by", "revoked_at"])


def sign(
    key: Path = typer.Option(..., "--key", help="Your Solana CLI keypair file."),
    message: Path | None = typer.Option(
        None, "--message", help="File holding the exact message (default: standard input)."
    ),
) -> None:
    """Sign a message (a decision or registry change, byte for byte) with an operator key and
    print the base58 signature."""
    from corpactions.operators.keys import load_operator_key, sign_message, signature_text

    keypair = load_operator_key(key)
    data = message.read_bytes() if message is not None else sys.stdin.buffer.read()
    if not data:
        raise OperatorError("the message to sign is empty", hint="pipe or name the exact message")
    typer.echo(signature_text(sign_message(keypair, data)))

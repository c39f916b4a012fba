"""``corpactions wallets``: the wallet registry (tax class, blocked, excluded), every change an
append-only row signed by an operator key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from corpactions import db
from corpactions.cli.render import JSON_OPTION, print_json, print_table
from corpactions.models import WalletRecord

app = typer.Typer(
    help="The wallet registry: tax class, blocked and excluded wallets (signed, append-only).",
    no_args_is_help=True,
)

KEY_OPTION = typer.Option(
    ..., "--key", help="The operator's keypair file (Solana CLI JSON) that signs the change."
)
OPERATOR_OPTION = typer.Option(..., "--operator", help="The operator's registered name.")
TAX_OPTION = typer.Option(
    None,
    "--tax-class",
    help="w9 (US person), w8ben (with --treaty-rate), undocumented, or a class of "
    "CORPACTIONS_TAX_RATES.",
)
TREATY_OPTION = typer.Option(
    None, "--treaty-rate", help="The W-8BEN's treaty withholding rate, e.g. 0.15."
)
BLOCKED_OPTION = typer.Option(
    None,
    "--blocked/--unblocked",
    help="Block (sanctions, KYC) or unblock; blocking needs --reason.",
)
EXCLUDED_OPTION = typer.Option(
    None,
    "--excluded/--included",
    help="Out of every payout pool (issuer inventory, custodian); excluding needs --reason.",
)
REASON_OPTION = typer.Option(None, "--reason", help="Why the wallet is blocked or excluded.")


def row_dict(row: WalletRecord) -> dict[str, Any]:
    return {
        "address": row.address,
        "seq": row.seq,
        "tax_class": row.tax_class,
        "tax_form": row.tax_form,
        "blocked": row.blocked,
        "blocked_reason": row.blocked_reason,
        "excluded": row.excluded,
        "excluded_reason": row.excluded_reason,
        "change": row.change,
        "source": row.source,
        "operator": row.operator,
        "signature": row.signature,
        "recorded_at": row.recorded_at,
    }


def _record(pending: list[Any], key: Path, session: Any) -> list[WalletRecord]:
    from corpactions.wallets.changes import record_change
    from corpactions.wallets.signing import load_operator_key, sign_change

    keypair = load_operator_key(key)
    return [
        record_change(session, change, signature=sign_change(keypair, change.message))
        for change in pending
    ]


@app.command("set")
def set_wallet(
    wallet: str = typer.Argument(..., help="The wallet address (base58)."),
    tax_class: str | None = TAX_OPTION,
    treaty_rate: str | None = TREATY_OPTION,
    blocked: bool | None = BLOCKED_OPTION,
    excluded: bool | None = EXCLUDED_OPTION,
    reason: str | None = REASON_OPTION,
    key: Path = KEY_OPTION,
    operator: str = OPERATOR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Change a wallet's tax class, blocked or excluded state (signed with --key)."""
    from corpactions.errors import UserInputError
    from corpactions.wallets.changes import Requested, prepare_change

    requested = Requested(tax_class, treaty_rate, blocked, excluded, reason)
    if tax_class is None and blocked is None and excluded is None:
        raise UserInputError(
            "nothing to change", hint="give --tax-class, --blocked/--unblocked or --excluded"
        )
    db.require_current_schema()
    with db.session_scope() as session:
        pending = prepare_change(session, wallet, requested, operator=operator)
        rows = _record([pending], key, session) if pending else []
        out = [row_dict(r) for r in rows]
    if as_json:
        print_json(out[0] if out else None)
    elif out:
        typer.echo(f"wallet {out[0]['address']} row {out[0]['seq']}: {out[0]['change']}")
    else:
        typer.echo(f"wallet {wallet}: already so; nothing recorded")


@app.command("import")
def import_file(
    path: Path = typer.Argument(
        ...,
        help="CSV with a header: address[,tax_class,treaty_rate,blocked,excluded,reason], "
        "e.g. a sanctions list.",
    ),
    tax_class: str | None = TAX_OPTION,
    treaty_rate: str | None = TREATY_OPTION,
    blocked: bool | None = BLOCKED_OPTION,
    excluded: bool | None = EXCLUDED_OPTION,
    reason: str | None = REASON_OPTION,
    key: Path = KEY_OPTION,
    operator: str = OPERATOR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Apply a CSV of wallets (options fill what a row leaves out): all rows or none, each
    change signed with --key."""
    from corpactions.config import get_settings
    from corpactions.wallets.changes import Requested
    from corpactions.wallets.importing import prepare_import

    defaults = Requested(tax_class, treaty_rate, blocked, excluded, reason)
    db.require_current_schema()
    with db.session_scope() as session:
        pending, unchanged = prepare_import(
            session, path, defaults, operator=operator, settings=get_settings()
        )
        rows = _record(pending, key, session)
    summary = {
        "recorded": len(rows),
        "unchanged": unchanged,
        "source": pending[0].source if pending else None,
    }
    if as_json:
        print_json(summary)
    else:
        typer.echo(f"{path}: {len(rows)} wallet(s) changed, {unchanged} already so")


@app.command("list")
def list_wallets(
    blocked: bool = typer.Option(False, "--blocked", help="Only blocked wallets."),
    excluded: bool = typer.Option(False, "--excluded", help="Only excluded wallets."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Every wallet in the registry, as it stands now."""
    from corpactions.wallets.registry import rows_in_force

    db.require_current_schema()
    with db.session_scope() as session:
        rows = [
            row_dict(r)
            for r in rows_in_force(session)
            if (not blocked or r.blocked) and (not excluded or r.excluded)
        ]
    if as_json:
        print_json(rows)
        return
    print_table(
        "Wallets",
        [
            {
                **r,
                "blocked": r["blocked_reason"] if r["blocked"] else "",
                "excluded": r["excluded_reason"] if r["excluded"] else "",
                "tax_class": r["tax_class"] or "(default)",
            }
            for r in rows
        ],
        ["address", "tax_class", "tax_form", "blocked", "excluded", "seq", "recorded_at"],
    )


@app.command("show")
def show(
    wallet: str = typer.Argument(..., help="The wallet address (base58)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """A wallet's state and its whole history (every signed change)."""
    from corpactions.addresses import parse_address
    from corpactions.config import get_settings
    from corpactions.wallets.registry import WalletState, history

    address = parse_address(wallet, what="wallet")
    db.require_current_schema()
    with db.session_scope() as session:
        rows = history(session, address)
        state = WalletState.of(rows[-1] if rows else None)
        changes = [row_dict(r) for r in rows]
        data: dict[str, Any] = {
            "address": address,
            "tax_class": state.tax_class or get_settings().default_tax_class,
            "tax_form": state.tax_form,
            "blocked": state.blocked,
            "blocked_reason": state.blocked_reason,
            "excluded": state.excluded,
            "excluded_reason": state.excluded_reason,
            "history": changes,
        }
    if as_json:
        print_json(data)
        return
    typer.echo(
        f"wallet {address}: tax class {data['tax_class']}"
        + (f" ({state.tax_form})" if state.tax_form else "")
        + (f"; blocked: {state.blocked_reason}" if state.blocked else "; not blocked")
        + (f"; excluded: {state.excluded_reason}" if state.excluded else "")
    )
    print_table(
        "History",
        changes,
        ["seq", "recorded_at", "change", "operator", "source"],
    )

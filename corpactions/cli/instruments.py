"""``corpactions instruments``: the registry of tokenized stocks."""

from __future__ import annotations

from typing import Any

import typer

from corpactions import db
from corpactions.cli.render import JSON_OPTION, print_json, print_table
from corpactions.instruments import add_instrument, list_instruments
from corpactions.models import Instrument, TokenProgram

app = typer.Typer(help="Register and list tokenized instruments.", no_args_is_help=True)


def instrument_dict(instrument: Instrument) -> dict[str, Any]:
    return {
        "id": instrument.id,
        "symbol": instrument.symbol,
        "mint": instrument.mint,
        "token_program": str(instrument.token_program),
        "decimals": instrument.decimals,
        "issuer_wallet": instrument.issuer_wallet,
        "excluded_wallets": list(instrument.excluded_wallets),
        "active": instrument.active,
        "dividend_mode": instrument.dividend_mode,
    }


@app.command("add")
def add(
    symbol: str = typer.Argument(..., help="Underlying ticker, e.g. AAPL."),
    mint: str = typer.Option(..., "--mint", help="The token's mint address (base58)."),
    program: TokenProgram = typer.Option(
        TokenProgram.token, "--program", help="Token program of the mint."
    ),
    decimals: int = typer.Option(8, "--decimals", min=0, max=18, help="Mint decimals."),
    exclude: list[str] = typer.Option(
        [], "--exclude", help="Wallet never entitled (issuer inventory, custodian, burn)."
    ),
    issuer: str | None = typer.Option(None, "--issuer", help="Issuer inventory wallet."),
    dividend_mode: str = typer.Option(
        "usdc",
        "--dividend-mode",
        help="usdc (pay cash dividends) or reinvest (raise the UI multiplier; token2022).",
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Register SYMBOL as carried by the token MINT."""
    db.require_current_schema()
    with db.session_scope() as session:
        instrument = add_instrument(
            session=session,
            symbol=symbol,
            mint=mint,
            token_program=program,
            decimals=decimals,
            excluded_wallets=exclude,
            issuer_wallet=issuer,
            dividend_mode=dividend_mode,
        )
        data = instrument_dict(instrument)
    if as_json:
        print_json(data)
    else:
        typer.echo(f"registered {data['symbol']} -> {data['mint']} ({data['token_program']})")


@app.command("list")
def list_(as_json: bool = JSON_OPTION) -> None:
    """List registered instruments."""
    db.require_current_schema()
    with db.session_scope() as session:
        rows = [instrument_dict(i) for i in list_instruments(session=session)]
    if as_json:
        print_json(rows)
    else:
        print_table(
            "Instruments", rows, ["symbol", "mint", "token_program", "decimals", "excluded_wallets"]
        )

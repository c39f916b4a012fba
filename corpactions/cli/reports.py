"""``corpactions reports``: period reports for accountants (CSV or Parquet)."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import typer

from corpactions import db

app = typer.Typer(
    help="Reports for accountants: payout lines of a period, yearly totals per wallet.",
    no_args_is_help=True,
)


def _write(data: bytes, out: Path | None) -> None:
    from corpactions.payouts.export import write_export

    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        write_export(data, out)
        typer.echo(f"wrote {out} ({len(data)} bytes)", err=True)


@app.command("payouts")
def payouts(
    since: datetime = typer.Option(..., "--from", formats=["%Y-%m-%d"], help="First pay date."),
    until: datetime = typer.Option(..., "--to", formats=["%Y-%m-%d"], help="Last pay date."),
    fmt: str = typer.Option("csv", "--format", help="csv or parquet."),
    out: Path | None = typer.Option(None, "--out", help="File to write (default: stdout)."),
) -> None:
    """Every payout line paid in the period (approved plans and later): action, plan, hash,
    approvers, wallet, tax class, decimal amounts with asset and unit, status, signature."""
    from corpactions.reports.payouts import encode, payout_lines

    db.require_current_schema()
    with db.session_scope() as session:
        frame = payout_lines(session, since.date(), until.date())
    _write(encode(frame, fmt), out)


@app.command("tax-year")
def tax_year(
    year: int = typer.Argument(..., min=1970, max=9999, help="Calendar year of payment."),
    shares: bool = typer.Option(
        False, "--shares", help="Shares received (splits, stock dividends) instead of USDC."
    ),
    fmt: str = typer.Option("csv", "--format", help="csv or parquet."),
    out: Path | None = typer.Option(None, "--out", help="File to write (default: stdout)."),
) -> None:
    """Per wallet and tax class: the year's gross, withheld, net and paid in USDC (for 1099-DIV
    / 1042-S preparation); with --shares, the shares received, apart from any USDC total."""
    from corpactions.reports.payouts import encode
    from corpactions.reports.payouts import tax_year as totals

    db.require_current_schema()
    with db.session_scope() as session:
        cash, received = totals(session, year)
    _write(encode(received if shares else cash, fmt), out)

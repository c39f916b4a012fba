"""``corpactions reserves``: custodian statements in, checks of backing, their history."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import typer

from corpactions import db
from corpactions.cli.render import JSON_OPTION, print_json, print_table
from corpactions.errors import UserInputError

app = typer.Typer(
    help="Proof of backing: custodian statements, checks of supply against custody.",
    no_args_is_help=True,
)
auditors = typer.Typer(help="Auditors whose signatures over statements are accepted.")
app.add_typer(auditors, name="auditors")


@app.command("ingest")
def ingest_file(
    path: str = typer.Argument(..., help="Statement file, or - for standard input."),
    fmt: str = typer.Option(
        "semt002", "--format", help="semt002 (ISO 20022 semt.002), csv or json."
    ),
    auditor: str | None = typer.Option(None, "--auditor", help="Registered auditor's name."),
    signature: str | None = typer.Option(
        None, "--signature", help="The auditor's ed25519 signature over the file's sha256."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Take a custodian's statement of holdings in: one version per instrument position, bad
    positions (or the whole file) quarantined with the reason. Exits 0 when the file was read."""
    from corpactions.cli.feeds import read_input
    from corpactions.config import get_settings
    from corpactions.reserves.ingest import ingest_statement
    from corpactions.reserves.statements import FORMATS

    if fmt not in FORMATS:
        raise UserInputError(f"--format {fmt} is not one of {', '.join(FORMATS)}")
    db.require_current_schema()
    origin = "standard input" if path == "-" else f"file {Path(path).resolve()}"
    payload = read_input(path, get_settings().feed_max_bytes)
    with db.session_scope() as session:
        report = ingest_statement(
            session=session,
            payload=payload,
            fmt=fmt,
            origin=origin,
            auditor=auditor,
            signature=signature,
        )
    if as_json:
        print_json(report.as_dict())
        return
    typer.echo(
        f"{path}: {len(report.accepted)} accepted ({report.amended} amended), "
        f"{report.duplicate} duplicate, {len(report.quarantined)} quarantined; sha256 "
        f"{report.sha256}"
    )
    for reason in report.quarantined:
        typer.echo(f"  quarantined {reason}")


@app.command("check")
def check(
    symbol: str = typer.Argument(..., help="The instrument's ticker."),
    publish: bool = typer.Option(
        True, "--publish/--no-publish", help="Write the result on chain in a memo."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Check the token supply now against the custodian's latest statement, record it and
    publish it on chain. Exits 1 when the instrument is not backed."""
    from corpactions.reserves.backing import check_as_dict, check_instrument
    from corpactions.reserves.publish import publish_check

    db.require_current_schema()
    result = check_instrument(session_factory=db.session_scope, symbol=symbol)
    if publish and result.statement_sha256 is not None and result.id is not None:
        asyncio.run(publish_check(result.id, session_factory=db.session_scope))
    with db.session_scope() as session:
        from corpactions.models import BackingCheck

        stored = session.get(BackingCheck, result.id)
        assert stored is not None
        data = check_as_dict(stored)
    if as_json:
        print_json(data)
    else:
        _print_check(symbol.upper(), data)
    if data["verdict"] != "backed":
        raise typer.Exit(1)


def _print_check(symbol: str, data: dict[str, Any]) -> None:
    if data["verdict"] == "backed":
        head = f"{symbol} backed 1:1 at slot {data['slot']}"
    else:
        head = f"{symbol} NOT backed ({data['verdict']}) at slot {data['slot']}"
    typer.echo(
        f"{head}: {data['tokens_outstanding']} tokens outstanding (supply {data['supply']}, "
        f"multiplier {data['multiplier'] or '1'}, excluded {data['excluded_total']}), "
        f"custodian {data['custodian_shares']} shares (statement {data['statement_id']}), "
        f"difference {data['difference_shares']}, tolerance {data['tolerance_shares']}"
    )
    if data["memo_signature"]:
        typer.echo(f"  published in {data['memo_signature']}")


@app.command("show")
def show(
    symbol: str = typer.Argument(..., help="The instrument's ticker."),
    limit: int = typer.Option(20, "--limit", min=1, max=1000, help="Checks to list."),
    as_json: bool = JSON_OPTION,
) -> None:
    """The instrument's checks of backing, newest first, with their memo signatures."""
    from corpactions.reserves.backing import check_as_dict, history, instrument_by_symbol

    db.require_current_schema()
    with db.session_scope() as session:
        instrument = instrument_by_symbol(session, symbol)
        rows = [check_as_dict(c) for c in history(session, instrument.id or 0, limit)]
    if as_json:
        print_json(rows)
        return
    print_table(
        f"Backing of {symbol.upper()}",
        rows,
        [
            "id",
            "trigger",
            "slot",
            "tokens_outstanding",
            "custodian_shares",
            "difference_shares",
            "verdict",
            "memo_signature",
        ],
    )


@app.command("publish")
def publish_all(as_json: bool = JSON_OPTION) -> None:
    """Publish every recorded check not yet on chain (the scheduler also does this)."""
    from corpactions.reserves.publish import publish_pending

    db.require_current_schema()
    report = asyncio.run(publish_pending(session_factory=db.session_scope))
    if as_json:
        print_json(report)
    else:
        typer.echo(f"{len(report['published'])} check(s) published or resumed")


@app.command("quarantine")
def quarantine(as_json: bool = JSON_OPTION) -> None:
    """Refused statements and positions: reason, origin, position, raw payload."""
    from sqlmodel import col, select

    from corpactions.models import QuarantinedStatement

    db.require_current_schema()
    with db.session_scope() as session:
        rows = [
            r.model_dump()
            for r in session.exec(
                select(QuarantinedStatement).order_by(col(QuarantinedStatement.id))
            )
        ]
    if as_json:
        print_json(rows)
    else:
        print_table("Quarantined statements", rows, ["id", "source", "position", "reason"])


@auditors.command("add")
def add_auditor(
    name: str = typer.Argument(..., help="The auditor's name."),
    public_key: str = typer.Option(..., "--public-key", help="Its ed25519 public key, base58."),
) -> None:
    """Register an auditor whose signature over a statement's sha256 is accepted."""
    from corpactions.reserves.ingest import register_auditor

    db.require_current_schema()
    with db.session_scope() as session:
        register_auditor(session=session, name=name, public_key=public_key)
    typer.echo(f"auditor {name} registered")

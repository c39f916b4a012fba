"""``corpactions snapshot``: take and inspect record-date holder snapshots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import typer

from corpactions import db
from corpactions.cli.render import (
    JSON_OPTION,
    amount,
    print_json,
    print_records,
    status_line,
)
from corpactions.errors import NotFound, UserInputError
from corpactions.instruments import get_instrument
from corpactions.models import CorporateAction, Instrument, Snapshot
from corpactions.units import shares_of

app = typer.Typer(
    help="Record-date holder snapshots (getProgramAccounts, proven against supply).",
    no_args_is_help=True,
)


def snapshot_dict(
    snapshot: Snapshot, symbol: str, holders: pl.DataFrame | None = None, top: int = 10
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": snapshot.id,
        "symbol": symbol,
        "action_id": snapshot.action_id,
        "slot": snapshot.slot,
        "block_time": snapshot.block_time,
        "supply": str(snapshot.supply),
        "account_count": snapshot.account_count,
        "owner_count": snapshot.owner_count,
        "excluded_total": str(snapshot.excluded_total),
        "multiplier": snapshot.multiplier,
        "pending_multiplier": snapshot.pending_multiplier,
        "pending_multiplier_at": snapshot.pending_multiplier_at,
        "path": snapshot.path,
        "sha256": snapshot.sha256,
        "superseded_by": snapshot.superseded_by,
        "created_at": snapshot.created_at,
    }
    if holders is not None:
        from snapshots.parse import owners_as_base58

        data["frozen_owners"] = int(holders["frozen"].sum())
        # the top holders among those at or above the top-th largest amount: no sort of all
        floor = holders["amount"].top_k(top).min() if top and holders.height else None
        top_rows = (
            (holders.filter(pl.col("amount") >= floor) if floor is not None else holders)
            .sort(["amount", "owner"], descending=[True, False])
            .head(top)
        )
        data["top_holders"] = [
            {
                "owner": r["owner"],
                "amount": str(r["amount"]),
                "accounts": r["accounts"],
                "frozen": r["frozen"],
                "excluded": r["excluded"],
            }
            for r in owners_as_base58(top_rows).iter_rows(named=True)
        ]
    return data


@app.command()
def take(
    action_id: int | None = typer.Option(
        None, "--action", help="Snapshot for this corporate action."
    ),
    mint: str | None = typer.Option(
        None, "--mint", help="Snapshot a registered instrument's mint now."
    ),
    rpc: str | None = typer.Option(
        None, "--rpc", help="JSON-RPC URL (default: CORPACTIONS_RPC_URL)."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Folder for the Parquet file (default: data dir)."
    ),
    supersede: bool = typer.Option(
        False, "--supersede", help="Replace the action's current snapshot."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Read every holder of the mint, prove the total against supply, store the snapshot."""
    from snapshots.take import take_snapshot

    if (action_id is None) == (mint is None):
        raise UserInputError("give exactly one of --action ID or --mint MINT")
    db.require_current_schema()
    with db.session_scope() as session:
        action: CorporateAction | None = None
        if action_id is not None:
            action = session.get(CorporateAction, action_id)
            if action is None:
                raise NotFound(
                    f"no corporate action {action_id}", hint="see 'corpactions actions list'"
                )
            instrument = session.get(Instrument, action.instrument_id)
            if instrument is None:
                raise NotFound(f"action {action_id} names an instrument that does not exist")
        else:
            instrument = get_instrument(session=session, symbol_or_mint=mint or "")
        first_line = f"snapshot of {instrument.symbol}: reading supply"
        with status_line(first_line, quiet=as_json) as update:

            def stage(name: str, detail: dict[str, Any]) -> None:
                text = ", ".join(f"{k} {v}" for k, v in detail.items())
                update(f"snapshot of {instrument.symbol}: {name} ({text})")

            summary = take_snapshot(
                session=session,
                instrument=instrument,
                action=action,
                rpc_url=rpc,
                out_dir=out,
                supersede=supersede,
                stage=stage,
            )
        # the holders just written (and hashed): reading the file back would prove nothing more
        data = snapshot_dict(summary.snapshot, instrument.symbol, summary.holders)
        data["attempts"] = summary.attempts
        data["pages"] = summary.pages
    if as_json:
        print_json(data)
        return
    typer.echo(
        f"snapshot {data['id']} of {instrument.symbol} at slot {data['slot']}: "
        f"{data['owner_count']} owners, {data['account_count']} accounts, "
        f"supply {data['supply']} (reconciled, {data['attempts']} read(s))"
    )
    typer.echo(f"  file {data['path']}")
    typer.echo(f"  sha256 {data['sha256']}")


@app.command()
def show(
    snapshot_id: int = typer.Argument(..., help="Snapshot id."),
    top: int = typer.Option(10, "--top", min=0, max=1000, help="How many top holders to list."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Counts, slot, multiplier and top holders of a snapshot (the file's hash is verified)."""
    from snapshots.take import get_snapshot, load_holders

    db.require_current_schema()
    with db.session_scope() as session:
        snapshot = get_snapshot(session, snapshot_id)
        instrument = session.get(Instrument, snapshot.instrument_id)
        data = snapshot_dict(
            snapshot, instrument.symbol if instrument else "?", load_holders(snapshot), top
        )
        unit = shares_of(
            data["symbol"], instrument.decimals if instrument else 0, data["multiplier"]
        )
    if as_json:
        print_json(data)
        return
    typer.echo(
        f"snapshot {data['id']} of {data['symbol']} at slot {data['slot']}: "
        f"{data['owner_count']} owners, {data['account_count']} accounts, "
        f"supply {amount(data['supply'], unit)}"
        + (f" (UI multiplier {data['multiplier']} applied)" if data["multiplier"] else "")
    )
    print_records(
        "Top holders",
        [{**row, "amount": amount(row["amount"], unit)} for row in data["top_holders"]],
        heading=lambda row: str(row["owner"]),
        fields=[
            ("holds", "amount"),
            ("accounts", "accounts"),
            ("frozen", "frozen"),
            ("excluded", "excluded"),
        ],
    )

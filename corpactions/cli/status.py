"""``corpactions status``: where everything is, and what needs a person."""

from __future__ import annotations

from typing import Any

import typer

from corpactions import db
from corpactions.cli.render import JSON_OPTION, iso_time, print_json, print_records, print_table


def progress_line(run: dict[str, Any]) -> str:
    """``plan 7 (action 3): lines 120 of 200, batches 7 of 12, done in about 40 s (at
    2026-12-01T17:03:10+00:00)``; a multiplier plan shows its status."""
    if "lines_total" not in run:
        error = f" ({run['error']})" if run.get("error") else ""
        return f"{run['plan_id']} (action {run['action_id']}): {run['status']}{error}"
    eta = "estimate after the first finalized batch"
    if run["eta_seconds"] is not None:
        eta = f"done in about {run['eta_seconds']} s (at {iso_time(run['eta_at'])})"
    elif run["batches_total"] and run["batches_done"] == run["batches_total"]:
        eta = "every batch final; reconciling"
    return (
        f"plan {run['plan_id']} (action {run['action_id']}): lines {run['lines_done']} of "
        f"{run['lines_total']}, batches {run['batches_done']} of {run['batches_total']}, {eta}"
    )


def status(as_json: bool = JSON_OPTION) -> None:
    """Actions by stage, plans awaiting approval, batches in flight, failures with reasons."""
    from corpactions.status import overview

    db.require_current_schema()
    with db.session_scope() as session:
        data = overview(session)
    if as_json:
        print_json(data)
        return
    stages = ", ".join(f"{k} {v}" for k, v in data["actions_by_status"].items()) or "none"
    typer.echo(f"actions: {stages}; quarantined feed records: {data['quarantined_records']}")
    print_table(
        "Open actions",
        data["open_actions"],
        ["id", "symbol", "kind", "status", "record_date", "pay_date", "reason"],
    )
    print_records(
        "Plans awaiting approval",
        [
            {**row, "approvals": str(row["approvals"]).replace("/", " of ")}
            for row in data["plans_awaiting_approval"]
        ],
        heading=lambda row: f"plan {row['plan_id']} (action {row['action_id']}, {row['kind']})",
        whole=["plan_hash"],
        fields=[
            ("to send", "to_send_text"),
            ("lines", "lines"),
            ("approvals", "approvals"),
            ("maker", "maker"),
        ],
    )
    flight = ", ".join(f"{k} {v}" for k, v in data["batches_in_flight"].items()) or "none"
    if not data["plans_executing"]:
        typer.echo("plans executing: none")
    for run in data["plans_executing"]:
        typer.echo(progress_line(run))
    typer.echo(f"batches in flight: {flight}")
    print_records(
        "Failures",
        data["failures"],
        heading=_failure_heading,
        whole=["owner"],
        fields=[("reason", "reason"), ("arguments", "arguments"), ("at", "failed_at")],
    )


def _failure_heading(row: Any) -> str:
    where = [f"{k.removesuffix('_id')} {row[k]}" for k in ("plan_id", "action_id") if row.get(k)]
    return f"{row['what']}" + (f" ({', '.join(where)})" if where else "")

"""``corpactions status``: where everything is, and what needs a person."""

from __future__ import annotations

import typer

from corpactions import db
from corpactions.cli.render import JSON_OPTION, print_json, print_table


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
    print_table(
        "Plans awaiting approval",
        data["plans_awaiting_approval"],
        ["plan_id", "action_id", "lines", "to_send", "approvals", "maker", "plan_hash"],
    )
    flight = ", ".join(f"{k} {v}" for k, v in data["batches_in_flight"].items()) or "none"
    typer.echo(f"plans executing: {data['plans_executing'] or 'none'}; batches in flight: {flight}")
    if data["failures"]:
        print_table(
            "Failures",
            data["failures"],
            ["what", "symbol", "plan_id", "action_id", "owner", "arguments", "reason"],
        )
    else:
        typer.echo("failures: none")

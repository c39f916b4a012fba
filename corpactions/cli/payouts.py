"""``corpactions payouts``: compute, review, approve and pay payout plans."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from corpactions import db
from corpactions.cli.render import JSON_OPTION, print_json, print_table
from corpactions.models import PayoutPlan

app = typer.Typer(help="Payout plans: compute, review, approve, execute.", no_args_is_help=True)


def plan_summary(
    plan: PayoutPlan, by_class: list[dict[str, Any]], top: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "id": plan.id,
        "action_id": plan.action_id,
        "action_version": plan.action_version,
        "snapshot_id": plan.snapshot_id,
        "status": str(plan.status),
        "stale_reason": plan.stale_reason,
        "rate_per_share": plan.rate_per_share,
        "gross_pool": str(plan.gross_pool),
        "withheld_total": str(plan.withheld_total),
        "sent_total": str(plan.sent_total),
        "carried_total": str(plan.carried_total),
        "escrowed_total": str(plan.escrowed_total),
        "carried_in_total": str(plan.carried_in_total),
        "undistributed": str(plan.undistributed),
        "funded_amount": str(plan.inputs.get("funded_amount")),
        "line_count": plan.line_count,
        "plan_hash": plan.plan_hash,
        "created_by": plan.created_by,
        "created_at": plan.created_at,
        "reconciliation": {
            "sent + carried + escrowed + withheld": str(
                plan.sent_total + plan.carried_total + plan.escrowed_total + plan.withheld_total
            ),
            "gross pool + carried in": str(plan.gross_pool + plan.carried_in_total),
        },
        "by_tax_class": by_class,
        "top_lines": top,
    }


def _summary(session: Any, plan: PayoutPlan, top: int) -> dict[str, Any]:
    import polars as pl

    from corpactions.payouts.plan import by_tax_class, load_lines

    lines = load_lines(session, plan.id or 0)
    classes = [
        {k: str(v) if isinstance(v, int) and k != "lines" else v for k, v in row.items()}
        for row in by_tax_class(lines).iter_rows(named=True)
    ]
    top_rows = (
        lines.sort(["amount_due", "owner"], descending=[True, False])
        .head(top)
        .select(
            "owner",
            "shares",
            "gross",
            "withholding",
            "net",
            "carried_in",
            "amount_due",
            "status",
            "status_reason",
        )
    )
    return plan_summary(
        plan,
        classes,
        [
            {k: str(v) if isinstance(v, int) else v for k, v in r.items()}
            for r in top_rows.iter_rows(named=True)
        ],
    ) | {
        "status_counts": dict(lines.group_by("status").agg(pl.len()).iter_rows()),
    }


def _print_summary(data: dict[str, Any]) -> None:
    typer.echo(
        f"plan {data['id']} for action {data['action_id']} v{data['action_version']} "
        f"({data['status']}): {data['line_count']} lines, gross {data['gross_pool']}, "
        f"withheld {data['withheld_total']}, to send {data['sent_total']}, "
        f"carried {data['carried_total']}, escrowed {data['escrowed_total']}"
    )
    typer.echo(f"  reconciliation: {data['reconciliation']}")
    typer.echo(f"  plan hash {data['plan_hash']}")
    print_table(
        "By tax class", data["by_tax_class"], ["tax_class", "lines", "gross", "withheld", "net"]
    )


@app.command()
def compute(
    action_id: int = typer.Argument(..., help="The cash dividend's action id."),
    maker: str = typer.Option(
        "operator", "--maker", help="Who computes the plan (cannot approve it)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Build the payout plan from the action's current version and its snapshot."""
    from corpactions.payouts.plan import compute_plan

    db.require_current_schema()
    with db.session_scope() as session:
        result = compute_plan(session=session, action_id=action_id, maker=maker)
        data = _summary(session, result.plan, 10)
    if as_json:
        print_json(data)
    else:
        _print_summary(data)


@app.command()
def show(
    plan_id: int = typer.Argument(..., help="Plan id."),
    top: int = typer.Option(10, "--top", min=0, max=1000, help="Largest lines to list."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Totals, reconciliation, lines by tax class, the largest lines and the plan hash."""
    from corpactions.payouts.plan import get_plan

    db.require_current_schema()
    with db.session_scope() as session:
        data = _summary(session, get_plan(session, plan_id), top)
    if as_json:
        print_json(data)
        return
    _print_summary(data)
    print_table(
        "Largest lines",
        data["top_lines"],
        ["owner", "gross", "withholding", "net", "carried_in", "amount_due", "status"],
    )


@app.command()
def export(
    plan_id: int = typer.Argument(..., help="Plan id."),
    fmt: str = typer.Option("csv", "--format", help="csv or parquet."),
    out: Path | None = typer.Option(
        None, "--out", help="File to write (default: standard output)."
    ),
) -> None:
    """One row per holder: owner, gross, withholding, net, status, signature."""
    from corpactions.payouts.export import export_plan, write_export

    db.require_current_schema()
    with db.session_scope() as session:
        data = export_plan(session, plan_id, fmt)
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        write_export(data, out)
        typer.echo(f"wrote {out} ({len(data)} bytes)", err=True)

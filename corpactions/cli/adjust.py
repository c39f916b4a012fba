"""``corpactions adjust``: splits and reinvested dividends by UI multiplier (Token-2022)."""

from __future__ import annotations

import asyncio
from typing import Any

import typer

from corpactions import db
from corpactions.cli.render import JSON_OPTION, amount, echo_value, iso_time, print_json, text
from corpactions.models import MultiplierPlan
from corpactions.payouts.describe import unit_of
from corpactions.units import SPLIT_NOTE, kind_label

app = typer.Typer(
    help="Share-count adjustments by UI multiplier: splits, reverse splits, reinvestment.",
    no_args_is_help=True,
)


def plan_dict(plan: MultiplierPlan, approved_by: list[str] | None = None) -> dict[str, Any]:
    from corpactions.config import get_settings

    return {
        "id": plan.id,
        "action_id": plan.action_id,
        "kind": plan.kind,
        "status": str(plan.status),
        "factor": plan.factor,
        "old_multiplier": plan.old_multiplier,
        "new_multiplier": plan.new_multiplier,
        "effective_timestamp": plan.effective_timestamp,
        "pending_at_planning": plan.inputs.get("pending_at_planning"),
        "plan_hash": plan.plan_hash,
        "maker": plan.created_by,
        "approver": plan.approved_by,
        "approvals": approved_by if approved_by is not None else [],
        "approvals_required": get_settings().approvals_required,
        "signature": plan.signature,
        "check": plan.check,
        "error": plan.error,
    }


def _show(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(data)
        return
    typer.echo(
        f"multiplier plan {data['id']} ({kind_label(data['kind'])}, action {data['action_id']}, "
        f"{data['status']}): {data['old_multiplier']} x {data['factor']} = "
        f"{data['new_multiplier']} from {iso_time(data['effective_timestamp'])}"
    )
    typer.echo(f"  maker {data['maker']}")
    echo_value("plan hash", data["plan_hash"])
    if data["status"] == "draft" or data["approvals"]:
        names = ", ".join(data["approvals"]) or "none yet"
        typer.echo(
            f"  approvals: {len(data['approvals'])} of {data['approvals_required']} ({names})"
        )
    if data["pending_at_planning"]:
        typer.echo(
            f"  warning: a multiplier was pending when planned: {text(data['pending_at_planning'])}"
        )
    if data["signature"]:
        echo_value("signature", data["signature"])
    if data["check"]:
        typer.echo(f"  on-chain check: {text(data['check'])}")
    if data["error"]:
        typer.echo(f"  error: {data['error']}")


@app.command("compute")
def compute(
    action_id: int = typer.Argument(
        ..., help="A split, or a dividend of a reinvesting instrument."
    ),
    maker: str = typer.Option(..., "--maker", help="Who computes the plan."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Compute the multiplier plan from the chain's current multiplier and the action."""
    from corpactions.corporate.multiplier import compute_multiplier_plan

    db.require_current_schema()
    with db.session_scope() as session:
        plan = asyncio.run(compute_multiplier_plan(session, action_id, maker=maker))
        data = plan_dict(plan)
    _show(data, as_json)


@app.command("show")
def show(
    plan_id: int = typer.Argument(..., help="Multiplier plan id."), as_json: bool = JSON_OPTION
) -> None:
    """A multiplier plan: factor, old and new multiplier, effective time, hash, check."""
    from corpactions.corporate.decisions import approvers
    from corpactions.corporate.multiplier import get_multiplier_plan

    db.require_current_schema()
    with db.session_scope() as session:
        data = plan_dict(get_multiplier_plan(session, plan_id), approvers(session, plan_id))
    _show(data, as_json)


@app.command("approve")
def approve(
    plan_id: int = typer.Argument(..., help="Multiplier plan id."),
    plan_hash: str = typer.Option(..., "--plan-hash", help="The hash 'adjust show' printed."),
    approver: str = typer.Option(..., "--approver", help="Who approves (not the maker)."),
    note: str | None = typer.Option(None, "--note", help="Kept with the decision."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Approve exactly this plan (bound to its hash). The maker cannot approve; the plan is
    approved once CORPACTIONS_APPROVALS_REQUIRED operators have."""
    from corpactions.corporate.decisions import approve_multiplier_plan, approvers

    db.require_current_schema()
    with db.session_scope() as session:
        plan = approve_multiplier_plan(
            session, plan_id, plan_hash=plan_hash, approver=approver, note=note
        )
        data = plan_dict(plan, approvers(session, plan_id))
    _show(data, as_json)


@app.command("reject")
def reject(
    plan_id: int = typer.Argument(..., help="Multiplier plan id."),
    plan_hash: str = typer.Option(..., "--plan-hash", help="The hash 'adjust show' printed."),
    approver: str = typer.Option(..., "--approver", help="Who rejects."),
    note: str | None = typer.Option(None, "--note", help="Why; kept with the decision."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Reject exactly this plan: it is never sent; compute a new one for the action."""
    from corpactions.corporate.decisions import approvers, reject_multiplier_plan

    db.require_current_schema()
    with db.session_scope() as session:
        plan = reject_multiplier_plan(
            session, plan_id, plan_hash=plan_hash, approver=approver, note=note
        )
        data = plan_dict(plan, approvers(session, plan_id))
    _show(data, as_json)


@app.command("execute")
def execute(
    plan_id: int = typer.Argument(..., help="Multiplier plan id."),
    allow_overwrite: bool = typer.Option(
        False,
        "--allow-overwrite",
        help="Set the new multiplier even though another one is pending (it is overwritten).",
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Send the approved update exactly once and check the mint afterwards (re-runnable)."""
    from corpactions.corporate.multiplier import execute_multiplier_plan

    db.require_current_schema()
    plan = asyncio.run(
        execute_multiplier_plan(
            plan_id, session_factory=db.session_scope, allow_overwrite=allow_overwrite
        )
    )
    _show(plan_dict(plan), as_json)


@app.command("split")
def split(
    action_id: int = typer.Argument(
        ..., help="A forward split or stock dividend of a classic SPL instrument."
    ),
    maker: str = typer.Option(..., "--maker", help="Who computes the plans."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Compute a mint-based split or stock dividend from the snapshot: a plan minting the new
    tokens and, with cash in lieu, a USDC plan for the fractions. Approve and execute them with
    'payouts'."""
    from corpactions.corporate.splits import compute_split_plans

    db.require_current_schema()
    with db.session_scope() as session:
        plans = compute_split_plans(session=session, action_id=action_id, maker=maker)
        stock_unit = unit_of(session, plans.stock)
        cash_unit = unit_of(session, plans.cash) if plans.cash is not None else None
        data: dict[str, Any] = {
            "stock_plan": {
                "id": plans.stock.id,
                "lines": plans.stock.line_count,
                "minted": str(plans.stock.sent_total),
                "plan_hash": plans.stock.plan_hash,
            },
            "cash_in_lieu_plan": None
            if plans.cash is None
            else {
                "id": plans.cash.id,
                "lines": plans.cash.line_count,
                "usdc": str(plans.cash.sent_total),
                "plan_hash": plans.cash.plan_hash,
            },
        }
    if as_json:
        print_json(data)
        return
    stock = data["stock_plan"]
    typer.echo(
        f"{kind_label(plans.stock.kind)} plan {stock['id']}: mints "
        f"{amount(stock['minted'], stock_unit)} to {stock['lines']} holders ({SPLIT_NOTE})"
    )
    echo_value("plan hash", stock["plan_hash"])
    cash = data["cash_in_lieu_plan"]
    if cash and cash_unit is not None:
        typer.echo(
            f"cash in lieu plan {cash['id']}: {amount(cash['usdc'], cash_unit)} to "
            f"{cash['lines']} holders"
        )
        echo_value("plan hash", cash["plan_hash"])
    typer.echo("approve and execute each with 'corpactions payouts approve/execute'")


@app.command("split-check")
def split_check(
    plan_id: int = typer.Argument(..., help="A split's stock plan, after it was executed."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Read the chain again: each paid holder's balance is snapshot + minted; supply moved by
    the sum minted (also done automatically when the plan is reconciled)."""
    from corpactions.corporate.splits import verify_split

    db.require_current_schema()
    check = asyncio.run(verify_split(plan_id, session_factory=db.session_scope))
    if as_json:
        print_json(check)
        return
    typer.echo(
        f"split plan {plan_id}: {check['holders_checked']} holders checked, "
        f"{check['holders_differing']} differ; supply {check['supply_before']} -> "
        f"{check['supply_after']} (minted {check['minted_total']}): "
        f"{'matches' if check['matches'] else 'DOES NOT MATCH'}"
    )

"""``corpactions adjust``: splits and reinvested dividends by UI multiplier (Token-2022)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import typer

from corpactions import db
from corpactions.cli.render import JSON_OPTION, amount, echo_value, iso_time, print_json, text
from corpactions.cli.signing import (
    ACKNOWLEDGE_OPTION,
    KEY_OPTION,
    OPERATOR_OPTION,
    PURPOSE_OPTION,
    SIGNATURE_OPTION,
    decision_from,
    write_message,
)
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
    maker: str = typer.Option(
        "operator", "--maker", help="Who computes the plan, when not signing with --key."
    ),
    key: Path | None = typer.Option(
        None, "--key", help="Your maker keypair file: sign the plan as its maker."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Compute the multiplier plan from the chain's current multiplier and the action; with
    --key, sign it as its maker."""
    from corpactions.corporate import decisions
    from corpactions.corporate.multiplier import compute_multiplier_plan

    db.require_current_schema()
    with db.session_scope() as session:
        plan = asyncio.run(compute_multiplier_plan(session, action_id, maker=maker))
        if key is not None:
            plan_id = plan.id or 0
            decision = decision_from(
                session,
                lambda ack: decisions.decision_message(session, plan_id, "compute", ack),
                key=key,
                signature=None,
                operator=None,
                acknowledged=[],
            )
            plan = decisions.sign_multiplier_compute(session, plan_id, decision=decision)
        data = plan_dict(plan)
    _show(data, as_json)


@app.command("show")
def show(
    plan_id: int = typer.Argument(..., help="Multiplier plan id."), as_json: bool = JSON_OPTION
) -> None:
    """A multiplier plan: factor, old and new multiplier, effective time, hash, check."""
    from corpactions.corporate.decisions import approvers, get_multiplier_plan

    db.require_current_schema()
    with db.session_scope() as session:
        data = plan_dict(get_multiplier_plan(session, plan_id), approvers(session, plan_id))
    _show(data, as_json)


@app.command("approval-message")
def approval_message(
    plan_id: int = typer.Argument(..., help="Multiplier plan id."),
    purpose: str = PURPOSE_OPTION,
    acknowledged: list[str] = ACKNOWLEDGE_OPTION,
) -> None:
    """Print the exact bytes an operator signs to decide the plan (no trailing newline)."""
    from corpactions.corporate.decisions import decision_message

    db.require_current_schema()
    with db.session_scope() as session:
        message = decision_message(session, plan_id, purpose, acknowledged)
    write_message(message)


def _decide(
    plan_id: int,
    purpose: str,
    *,
    plan_hash: str | None,
    key: Path | None,
    signature: str | None,
    operator: str | None,
    acknowledged: list[str],
    note: str | None,
) -> dict[str, Any]:
    from corpactions.corporate import decisions

    db.require_current_schema()
    with db.session_scope() as session:
        decision = decision_from(
            session,
            lambda ack: decisions.decision_message(session, plan_id, purpose, ack),
            key=key,
            signature=signature,
            operator=operator,
            acknowledged=acknowledged,
        )
        if purpose == "approve":
            plan = decisions.approve_multiplier_plan(
                session, plan_id, decision=decision, plan_hash=plan_hash, note=note
            )
        elif purpose == "reject":
            plan = decisions.reject_multiplier_plan(
                session, plan_id, decision=decision, plan_hash=plan_hash, note=note
            )
        else:
            plan = decisions.sign_multiplier_compute(session, plan_id, decision=decision)
        return plan_dict(plan, decisions.approvers(session, plan_id))


@app.command("approve")
def approve(
    plan_id: int = typer.Argument(..., help="Multiplier plan id."),
    plan_hash: str | None = typer.Option(
        None, "--plan-hash", help="The hash 'adjust show' printed (checked when given)."
    ),
    key: Path | None = KEY_OPTION,
    signature: str | None = SIGNATURE_OPTION,
    operator: str | None = OPERATOR_OPTION,
    acknowledged: list[str] = ACKNOWLEDGE_OPTION,
    note: str | None = typer.Option(None, "--note", help="Kept with the decision."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Approve exactly this plan with your operator key. The maker's key cannot approve; the
    plan is approved once CORPACTIONS_APPROVALS_REQUIRED distinct keys have."""
    data = _decide(
        plan_id,
        "approve",
        plan_hash=plan_hash,
        key=key,
        signature=signature,
        operator=operator,
        acknowledged=acknowledged,
        note=note,
    )
    _show(data, as_json)


@app.command("reject")
def reject(
    plan_id: int = typer.Argument(..., help="Multiplier plan id."),
    plan_hash: str | None = typer.Option(
        None, "--plan-hash", help="The hash 'adjust show' printed (checked when given)."
    ),
    key: Path | None = KEY_OPTION,
    signature: str | None = SIGNATURE_OPTION,
    operator: str | None = OPERATOR_OPTION,
    note: str | None = typer.Option(None, "--note", help="Why; kept with the decision."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Reject exactly this plan: it is never sent; compute a new one for the action."""
    data = _decide(
        plan_id,
        "reject",
        plan_hash=plan_hash,
        key=key,
        signature=signature,
        operator=operator,
        acknowledged=[],
        note=note,
    )
    _show(data, as_json)


@app.command("sign-compute")
def sign_compute(
    plan_id: int = typer.Argument(..., help="A draft multiplier plan's id."),
    key: Path | None = KEY_OPTION,
    signature: str | None = SIGNATURE_OPTION,
    operator: str | None = OPERATOR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Sign as the plan's maker: from then on your key cannot approve it."""
    data = _decide(
        plan_id,
        "compute",
        plan_hash=None,
        key=key,
        signature=signature,
        operator=operator,
        acknowledged=[],
        note=None,
    )
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

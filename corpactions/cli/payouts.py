"""``corpactions payouts``: compute, review, approve and pay payout plans."""

from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from corpactions import db
from corpactions.cli.render import (
    JSON_OPTION,
    amount,
    echo_value,
    print_json,
    print_records,
    print_table,
    text,
)
from corpactions.cli.signing import (
    ACKNOWLEDGE_OPTION,
    KEY_OPTION,
    OPERATOR_OPTION,
    PURPOSE_OPTION,
    SIGNATURE_OPTION,
    decision_from,
    write_message,
)
from corpactions.errors import ConfigurationError, PlanError
from corpactions.logs import get_logger
from corpactions.models import PayoutPlan
from corpactions.payouts.describe import unit_of
from corpactions.units import SPLIT_NOTE, Unit, kind_label

if TYPE_CHECKING:
    from corpactions.execution.report import Report

log = get_logger(__name__)

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
        "kind": plan.kind,
        "asset": plan.asset,
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
        "inputs": plan.inputs,
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
        "unit": _unit_json(unit_of(session, plan)),
        "funding": _funding_summary(session, plan.id or 0),
    }


def _funding_summary(session: Any, plan_id: int) -> dict[str, Any] | None:
    from corpactions.execution.funding import funding_of

    row = funding_of(session, plan_id)
    if row is None:
        return None
    return {
        "status": str(row.status),
        "account": row.account,
        "amount": str(row.amount),
        "treasury": row.treasury,
        "signature": row.signature,
        "returned": None if row.returned is None else str(row.returned),
        "close_signature": row.close_signature,
    }


def _unit_json(unit: Unit) -> dict[str, Any]:
    return {
        "asset": unit.asset,
        "unit": unit.unit,
        "decimals": unit.decimals,
        "multiplier": unit.multiplier,
    }


def _unit(data: dict[str, Any]) -> Unit:
    return Unit(**data["unit"])


def _human_rows(rows: list[dict[str, Any]], unit: Unit, fields: tuple[str, ...]) -> list[Any]:
    """Rows with their amounts as human text with the unit (raw base units stay in --json)."""
    return [{k: amount(v, unit) if k in fields else v for k, v in row.items()} for row in rows]


def _print_summary(data: dict[str, Any]) -> None:
    unit = _unit(data)

    def show(key: str) -> str:
        return amount(data[key], unit)

    typer.echo(
        f"plan {data['id']}: {kind_label(data['kind'])} for action {data['action_id']} "
        f"v{data['action_version']} ({data['status']}), {data['line_count']} lines, "
        f"paid in {unit.label}"
    )
    for label, key in (
        ("gross", "gross_pool"),
        ("withheld", "withheld_total"),
        ("to send", "sent_total"),
        ("carried", "carried_total"),
        ("escrowed", "escrowed_total"),
        ("carried in", "carried_in_total"),
    ):
        typer.echo(f"  {label + ':':<12}{show(key):>40}")
    sides = list(data["reconciliation"].items())
    balanced = sides[0][1] == sides[1][1]
    typer.echo(
        f"  reconciliation: {sides[0][0]} = {amount(sides[0][1], unit)}; "
        f"{sides[1][0]} = {amount(sides[1][1], unit)} ({'equal' if balanced else 'NOT EQUAL'})"
    )
    if unit.is_shares:
        typer.echo(f"  note: {SPLIT_NOTE}")
    echo_value("plan hash", data["plan_hash"])
    funding = data.get("funding")
    if funding:
        typer.echo(f"  funding: {funding['status']}, {funding['amount']} into {funding['account']}")
    elif data["asset"] == "usdc":
        typer.echo(
            "  funding: none yet (funded from the treasury with 'payouts fund' once approved)"
        )
    print_table(
        "By tax class",
        _human_rows(data["by_tax_class"], unit, ("gross", "withheld", "net")),
        ["tax_class", "lines", "gross", "withheld", "net"],
    )


def _print_backing(backing: dict[str, Any] | None) -> None:
    if backing is None:
        return
    if backing["verdict"] == "backed":
        typer.echo(
            f"  backing: backed 1:1 at slot {backing['slot']} (statement {backing['statement_id']})"
        )
    else:
        typer.echo(
            f"  backing: FAILED ({backing['verdict']}) at slot {backing['slot']}: "
            f"{backing['tokens_outstanding']} tokens outstanding, custodian "
            f"{backing['custodian_shares']} shares, difference {backing['difference_shares']}; "
            "approving needs --acknowledge-backing-difference"
        )
    if "funding_difference" in backing:
        typer.echo(
            f"  funding: the custodian receives {backing['custodian_receives']}, the plan pays "
            f"{backing['plan_pays']}: difference {backing['funding_difference']} base units"
        )


BACKING_OPTION = typer.Option(
    False,
    "--acknowledge-backing-difference",
    help="Approve although the snapshot failed its backing check: the difference 'payouts show' "
    "prints goes into the signed message as an acknowledged line.",
)


def _with_backing(plan_id: int, acknowledged: list[str], acknowledge_backing: bool) -> list[str]:
    """The acknowledged lines, with the failed backing check's text when asked for."""
    if not acknowledge_backing:
        return acknowledged
    from corpactions.operators.decisions import ACKNOWLEDGED
    from corpactions.payouts.plan import get_plan
    from corpactions.reserves.backing import backing_acknowledgement_required

    db.require_current_schema()
    with db.session_scope() as session:
        required = backing_acknowledgement_required(session, get_plan(session, plan_id))
    if required is None:
        return acknowledged
    return [*acknowledged, required.removeprefix(ACKNOWLEDGED)]


@app.command()
def compute(
    action_id: int = typer.Argument(..., help="The cash dividend's action id."),
    maker: str = typer.Option(
        "operator", "--maker", help="Who computes the plan, when not signing with --key."
    ),
    key: Path | None = typer.Option(
        None, "--key", help="Your maker keypair file: sign the plan as its maker."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Build the payout plan from the action's current version and its snapshot; with --key,
    sign it as its maker (that key can then not approve it)."""
    from corpactions.execution.approval import decision_message
    from corpactions.execution.approval import sign_compute as sign_plan
    from corpactions.payouts.plan import compute_plan
    from corpactions.reserves.backing import funding_difference

    db.require_current_schema()
    with db.session_scope() as session:
        result = compute_plan(session=session, action_id=action_id, maker=maker)
        plan = result.plan
        if key is not None:
            plan_id = plan.id or 0
            decision = decision_from(
                session,
                lambda ack: decision_message(session, plan_id, "compute", ack),
                key=key,
                signature=None,
                operator=None,
                acknowledged=[],
            )
            plan = sign_plan(session=session, plan_id=plan_id, decision=decision)
        data = _summary(session, plan, 10)
        data["backing"] = funding_difference(session, plan)
    if as_json:
        print_json(data)
    else:
        _print_summary(data)
        _print_backing(data["backing"])


@app.command()
def show(
    plan_id: int = typer.Argument(..., help="Plan id."),
    top: int = typer.Option(10, "--top", min=0, max=1000, help="Largest lines to list."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Totals, reconciliation, lines by tax class, the largest lines and the plan hash."""
    from corpactions.execution.approval import plan_warnings
    from corpactions.payouts.plan import get_plan
    from corpactions.payouts.signoff import all_decisions as signed_decisions
    from corpactions.reserves.backing import funding_difference

    db.require_current_schema()
    with db.session_scope() as session:
        plan = get_plan(session, plan_id)
        data = _summary(session, plan, top)
        data["warnings"] = plan_warnings(session, plan)
        data["backing"] = funding_difference(session, plan)
        data["decisions"] = [
            {
                "decision": row.decision,
                "operator": row.approver,
                "pubkey": row.pubkey,
                "signed": row.signature is not None,
                "at": row.created_at,
            }
            for row in signed_decisions(session, plan_id)
        ]
        data["run_reconciliation"] = plan.reconciliation
        data["ledger_sha256"] = plan.ledger_sha256
        data["attestation_signature"] = plan.attestation_signature
    if as_json:
        print_json(data)
        return
    _print_summary(data)
    _print_backing(data["backing"])
    for warning in data["warnings"]:
        typer.echo(f"  warning: {warning}")
    for row in data["decisions"]:
        typer.echo(f"  {row['decision']} signed by {row['operator']} ({row['pubkey']})")
    if data["run_reconciliation"]:
        typer.echo(f"  after the run: {text(data['run_reconciliation'])}")
    if data["attestation_signature"]:
        echo_value("ledger sha256", data["ledger_sha256"])
        echo_value("attested in", data["attestation_signature"])
    print_records(
        "Largest lines",
        _human_rows(
            data["top_lines"],
            _unit(data),
            ("gross", "withholding", "net", "carried_in", "amount_due"),
        ),
        heading=lambda row: f"{row['owner']}  {row['status']}",
        fields=[
            ("due", "amount_due"),
            ("gross", "gross"),
            ("withheld", "withholding"),
            ("net", "net"),
            ("carried in", "carried_in"),
            ("reason", "status_reason"),
        ],
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


@app.command("approval-message")
def approval_message(
    plan_id: int = typer.Argument(..., help="Plan id."),
    purpose: str = PURPOSE_OPTION,
    acknowledged: list[str] = ACKNOWLEDGE_OPTION,
    acknowledge_backing: bool = BACKING_OPTION,
) -> None:
    """Print the exact bytes an operator signs to decide the plan (no trailing newline): sign
    them offline ('corpactions sign', a wallet), then 'payouts approve --signature'."""
    from corpactions.execution.approval import decision_message

    acknowledged = _with_backing(plan_id, acknowledged, acknowledge_backing)
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
    from corpactions.execution import approval

    db.require_current_schema()
    with db.session_scope() as session:
        decision = decision_from(
            session,
            lambda ack: approval.decision_message(session, plan_id, purpose, ack),
            key=key,
            signature=signature,
            operator=operator,
            acknowledged=acknowledged,
        )
        if purpose == "approve":
            plan = approval.approve(
                session=session, plan_id=plan_id, decision=decision, plan_hash=plan_hash, note=note
            )
        elif purpose == "reject":
            plan = approval.reject(
                session=session, plan_id=plan_id, decision=decision, plan_hash=plan_hash, note=note
            )
        else:
            plan = approval.sign_compute(
                session=session, plan_id=plan_id, decision=decision, note=note
            )
        return {
            "id": plan.id,
            "status": str(plan.status),
            "plan_hash": plan.plan_hash,
            "operator": decision.operator,
        }


@app.command()
def approve(
    plan_id: int = typer.Argument(..., help="Plan id."),
    plan_hash: str | None = typer.Option(
        None, "--plan-hash", help="The hash 'payouts show' printed (checked when given)."
    ),
    key: Path | None = KEY_OPTION,
    signature: str | None = SIGNATURE_OPTION,
    operator: str | None = OPERATOR_OPTION,
    acknowledged: list[str] = ACKNOWLEDGE_OPTION,
    acknowledge_backing: bool = BACKING_OPTION,
    note: str | None = typer.Option(None, "--note", help="Free text for the audit trail."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Approve exactly this plan with your operator key (a signature over its id, root, totals
    and the deployment). Refused, with nothing written, when the signature is not a live
    approver's over this plan, the key computed or already approved it, the plan is stale or
    decided, the treasury is short, or the snapshot failed its backing check and the signed
    message does not acknowledge it."""
    data = _decide(
        plan_id,
        "approve",
        plan_hash=plan_hash,
        key=key,
        signature=signature,
        operator=operator,
        acknowledged=_with_backing(plan_id, acknowledged, acknowledge_backing),
        note=note,
    )
    if as_json:
        print_json(data)
    else:
        typer.echo(
            f"plan {plan_id} approval by {data['operator']} recorded; plan is {data['status']}"
        )


@app.command()
def reject(
    plan_id: int = typer.Argument(..., help="Plan id."),
    plan_hash: str | None = typer.Option(
        None, "--plan-hash", help="The hash 'payouts show' printed (checked when given)."
    ),
    key: Path | None = KEY_OPTION,
    signature: str | None = SIGNATURE_OPTION,
    operator: str | None = OPERATOR_OPTION,
    note: str | None = typer.Option(None, "--note", help="Why (kept in the audit trail)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Reject the plan with your operator key; it can never be approved or paid."""
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
    if as_json:
        print_json(data)
    else:
        typer.echo(f"plan {plan_id} rejected by {data['operator']}")


@app.command("sign-compute")
def sign_compute(
    plan_id: int = typer.Argument(..., help="A draft plan's id."),
    key: Path | None = KEY_OPTION,
    signature: str | None = SIGNATURE_OPTION,
    operator: str | None = OPERATOR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Sign as the plan's maker (a plan the scheduler computed, or offline): from then on your
    key cannot approve it."""
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
    if as_json:
        print_json(data)
    else:
        typer.echo(f"plan {plan_id} made by {data['operator']} (signed)")


@app.command()
def execute(
    plan_id: int = typer.Argument(..., help="An approved plan's id."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be sent; send nothing."),
    force: bool = typer.Option(
        False,
        "--force",
        help="Run even while workers execute the plan (safe, every step is compare-and-set, "
        "but the work is done twice).",
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Pay an approved plan: batched transferChecked, exactly once; safe to rerun after any stop.

    Takes the same Redis claim as the workers' chain for the plan (when the broker is reachable),
    so a command and the workers do not execute one plan at the same time."""
    from corpactions.execution.protocol import dry_run as plan_dry_run

    db.require_current_schema()
    if dry_run:
        from corpactions.payouts.plan import get_plan
        from corpactions.reserves.backing import funding_difference

        with db.session_scope() as session:
            data = plan_dry_run(session, plan_id)
            data["backing"] = funding_difference(session, get_plan(session, plan_id))
        data["fees"] = _fee_estimate(plan_id)
        if as_json:
            print_json(data)
        else:
            typer.echo(
                f"plan {plan_id}: would send {data['amount_to_send']} base units "
                f"to {data['lines_to_send']} holders"
            )
            fees = data["fees"]
            if "error" in fees:
                typer.echo(f"fees: not estimated ({fees['error']})")
            else:
                typer.echo(
                    f"in {fees['transactions']} transactions ({fees['v0_transactions']} v0 "
                    f"with lookup tables), fees {fees['fee_lamports']} lamports "
                    f"({fees['fee_per_transfer_lamports']} per transfer; priority "
                    f"{fees['unit_price_microlamports']} micro-lamports per CU)"
                )
            _print_backing(data["backing"])
        return
    with ExitStack() as stack:
        if not force:
            _claim_plan(stack, plan_id)
        report = _execute_with_progress(plan_id, quiet=as_json)
    data = report.as_dict()
    if as_json:
        print_json(data)
        return
    unit = _plan_unit(plan_id)
    typer.echo(
        f"plan {plan_id} {data['status']}: {data['paid_lines']} lines paid "
        f"({amount(data['paid_total'], unit)}) "
        f"in {data['batches']} transactions, fees {data['fees']} lamports; "
        f"{data['held_lines']} held for claim, {data['failed_lines']} failed"
    )


def _plan_unit(plan_id: int) -> Unit:
    from corpactions.payouts.plan import get_plan

    with db.session_scope() as session:
        return unit_of(session, get_plan(session, plan_id))


def _fee_estimate(plan_id: int) -> dict[str, Any]:
    """The fees the plan's remaining lines would cost; the chain's refusal as one line."""
    import asyncio

    from corpactions.chain.rpc import Rpc
    from corpactions.config import get_settings
    from corpactions.errors import ChainError
    from corpactions.execution.estimate import estimate_fees
    from corpactions.execution.protocol import Context

    settings = get_settings()

    async def run() -> dict[str, Any]:
        ctx = Context.for_plan(settings, db.session_scope, plan_id, estimate=True)
        async with Rpc(settings=settings) as rpc:
            return await estimate_fees(rpc, db.session_scope, plan_id, ctx)

    try:
        return asyncio.run(run())
    except ChainError as exc:
        return {"error": exc.one_line()}


@app.command()
def fund(
    plan_id: int = typer.Argument(..., help="An approved USDC plan's id."),
    treasury_key: Path | None = typer.Option(
        None, "--treasury-key", help="The treasury owner's keypair file: sign and send here."
    ),
    export_to: Path | None = typer.Option(
        None, "--export", help="Write the unsigned funding transaction (base64) for a signer."
    ),
    signed_from: Path | None = typer.Option(
        None, "--signed", help="Submit the signed funding transaction (base64) a signer returned."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Move exactly the plan's to-send total from the treasury into the plan's own account
    (owned by the payout key), with a memo naming the plan root; exactly once."""
    from corpactions.chain.keys import load_keypair
    from corpactions.config import get_settings
    from corpactions.execution.funding import fund as fund_plan

    db.require_current_schema()
    outcome = fund_plan(
        plan_id,
        session_factory=db.session_scope,
        settings=get_settings(),
        treasury_key=load_keypair(treasury_key) if treasury_key is not None else None,
        export_to=export_to,
        signed_from=signed_from,
    )
    if as_json:
        print_json(outcome.as_dict())
    elif outcome.state == "exported":
        typer.echo(
            f"plan {plan_id}: unsigned funding of {outcome.amount} base units into "
            f"{outcome.account} written to {export_to}; have the treasury owner sign it, then "
            f"run 'corpactions payouts fund {plan_id} --signed FILE'"
        )
    else:
        typer.echo(
            f"plan {plan_id} funded: {outcome.amount} base units in {outcome.account} "
            f"({outcome.signature})"
        )


@app.command()
def close(
    plan_id: int = typer.Argument(..., help="A funded plan with nothing left in flight."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Return what is left in the plan's account (held and failed lines) to the treasury that
    funded it, and close the account (rent to the payout key). Done after reconciliation by
    itself; exactly once."""
    from corpactions.config import get_settings
    from corpactions.execution.funding import close as close_plan

    db.require_current_schema()
    row = close_plan(plan_id, session_factory=db.session_scope, settings=get_settings())
    data = {
        "plan_id": plan_id,
        "account": row.account,
        "returned": row.returned,
        "treasury": row.treasury,
        "signature": row.close_signature,
        "status": str(row.status),
    }
    if as_json:
        print_json(data)
    else:
        typer.echo(
            f"plan {plan_id}'s account {row.account} closed: {row.returned} base units back in "
            f"the treasury {row.treasury} ({row.close_signature})"
        )


def _claim_plan(stack: ExitStack, plan_id: int) -> None:
    """Hold the plan's executor claim for the run, or refuse naming who holds it."""
    from corpactions import locks

    name = locks.plan_chain(plan_id)
    try:
        held = stack.enter_context(locks.held_by_command(name))
    except ConfigurationError as exc:  # no broker: no worker chain can be running either
        log.info("executing without the workers' claim", plan=plan_id, reason=exc.message)
        return
    if not held:
        owner = locks.holder(name) or "another executor"
        who = "the workers" if owner == locks.WORKER_CHAIN else f"command {owner}"
        raise PlanError(
            f"plan {plan_id} is being executed by {who} right now",
            hint="watch it with 'corpactions status'; or pass --force to run here as well "
            "(safe, but the same work is done twice)",
        )


def _execute_with_progress(plan_id: int, *, quiet: bool) -> Report:
    from rich.progress import BarColumn, Progress, TextColumn

    from corpactions.execution.protocol import dry_run as plan_dry_run
    from corpactions.execution.protocol import execute_plan

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} lines"),
        disable=quiet,
        transient=True,
    ) as bar:
        with db.session_scope() as session:
            total = int(plan_dry_run(session, plan_id)["lines_to_send"]) or 1
        task = bar.add_task(f"paying plan {plan_id}", total=total)

        def progress(report: Report) -> None:
            bar.update(task, completed=report.paid_lines)

        return execute_plan(plan_id, session_factory=db.session_scope, progress=progress)


@app.command()
def tables(
    retire: bool = typer.Option(
        False,
        "--retire",
        help="Deactivate tables idle for CORPACTIONS_ALT_IDLE_DAYS and close deactivated ones "
        "(rent back to the payout authority).",
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """The address lookup tables of payees: entries, rent, signatures, last use."""
    import asyncio
    from dataclasses import asdict

    from corpactions.config import get_settings
    from corpactions.execution.lookup_tables import retire_for_settings, table_rows

    db.require_current_schema()
    retired = None
    if retire:
        retired = asdict(asyncio.run(retire_for_settings(db.session_scope, get_settings())))
    rows = table_rows(db.session_scope)
    if as_json:
        print_json({"tables": rows, "retired": retired})
        return
    if retired is not None:
        typer.echo(
            f"deactivated {retired['deactivated']}, closed {retired['closed']}, "
            f"reclaimed {retired['reclaimed_lamports']} lamports"
        )
    print_table(
        "lookup tables",
        rows,
        ["address", "status", "entries", "rent_lamports", "reclaimed_lamports", "last_used_at"],
    )


@app.command()
def ledger(
    plan_id: int = typer.Argument(..., help="An attested plan's id."),
    out: Path | None = typer.Option(
        None, "--out", help="File to write (default: standard output)."
    ),
) -> None:
    """The attested ledger file, checked against the sha256 published on chain."""
    from corpactions.execution.attest import read_ledger

    db.require_current_schema()
    with db.session_scope() as session:
        data = read_ledger(session, plan_id)
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        from corpactions.payouts.export import write_export

        write_export(data, out)
        typer.echo(f"wrote {out} ({len(data)} bytes)", err=True)


def verify_line(
    plan_id: int = typer.Argument(..., help="Plan id."),
    wallet: str = typer.Option(..., "--wallet", help="The holder wallet (base58)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Check a holder's line: its leaf recomputed, its proof walked to the plan root, and that
    root compared with the one the plan's attestation memo carries on chain (finalized)."""
    import asyncio

    from corpactions.addresses import parse_address
    from corpactions.chain.rpc import Rpc
    from corpactions.payouts.verify import verify_line as verify

    owner = parse_address(wallet, what="wallet")
    db.require_current_schema()

    async def run() -> dict[str, Any]:
        with db.session_scope() as session:
            async with Rpc() as rpc:
                return await verify(rpc, session, plan_id, owner)

    result = asyncio.run(run())
    if as_json:
        print_json(result)
    else:
        due = amount(result["amount_due"], _plan_unit(plan_id))
        typer.echo(f"plan {plan_id}, {owner}: {result['status']} {due}")
        typer.echo(
            f"  leaf {result['leaf_index']} of {result['leaf_count']}: {result['leaf_text']}"
        )
        typer.echo(f"  proof walks to root {result['root']}: {result['proof_reaches_root']}")
        typer.echo(
            f"  root attested on chain ({result['attestation_signature'] or 'not attested'}): "
            f"{result['attested_root'] or 'none'}"
        )
        typer.echo(f"verified: {'yes' if result['verified'] else 'NO'}")
    if not result["verified"]:
        raise typer.Exit(1)

"""``corpactions actions``: corporate actions and their version history."""

from __future__ import annotations

from typing import Any

import typer
from sqlmodel import Session, col, select

from corpactions import db
from corpactions.actions import entitlement_of
from corpactions.cli.render import JSON_OPTION, print_json, print_table
from corpactions.errors import NotFound, UserInputError
from corpactions.models import ActionStatus, CorporateAction, CorporateActionVersion, Instrument

app = typer.Typer(help="Corporate actions and their version history.", no_args_is_help=True)

VERSION_FIELDS = (
    "version",
    "function",
    "processing_status",
    "kind",
    "ex_date",
    "record_date",
    "pay_date",
    "effective_date",
    "currency",
    "gross_rate",
    "net_rate",
    "withholding_rate",
    "ratio_new",
    "ratio_old",
    "fraction_disposition",
    "received_at",
    "superseded_at",
    "payload_sha256",
)


def action_dict(session: Session, action: CorporateAction, *, history: bool) -> dict[str, Any]:
    instrument = session.get(Instrument, action.instrument_id)
    versions = session.exec(
        select(CorporateActionVersion)
        .where(CorporateActionVersion.action_id == action.id)
        .order_by(col(CorporateActionVersion.version))
    ).all()
    current = next((v for v in versions if v.version == action.current_version), None)
    data: dict[str, Any] = {
        "id": action.id,
        "symbol": instrument.symbol if instrument else None,
        "source": action.source,
        "source_ref": action.source_ref,
        "kind": str(action.kind),
        "status": str(action.status),
        "status_reason": action.status_reason,
        "current_version": action.current_version,
        "versions": len(versions),
        "updated_at": action.updated_at,
    }
    if current is not None:
        data.update({f: getattr(current, f) for f in VERSION_FIELDS if f not in ("version",)})
        data["details"] = current.details
        data["entitlement"] = entitlement_of(current).as_dict()
    if history:
        data["history"] = [
            {
                **{f: getattr(v, f) for f in VERSION_FIELDS},
                "current": v.version == action.current_version,
            }
            for v in versions
        ]
    return data


@app.command("list")
def list_actions(
    status: str | None = typer.Option(None, "--status", help="Only actions in this status."),
    symbol: str | None = typer.Option(None, "--symbol", help="Only this ticker."),
    as_json: bool = JSON_OPTION,
) -> None:
    """List corporate actions with their current terms."""
    if status is not None and status not in {s.value for s in ActionStatus}:
        raise UserInputError(
            f"--status {status!r} is not one of {', '.join(s.value for s in ActionStatus)}"
        )
    db.require_current_schema()
    with db.session_scope() as session:
        query = select(CorporateAction).order_by(col(CorporateAction.id))
        if status:
            query = query.where(CorporateAction.status == status)
        if symbol:
            query = query.join(Instrument).where(Instrument.symbol == symbol.upper())
        rows = [action_dict(session, a, history=False) for a in session.exec(query)]
    if as_json:
        print_json(rows)
        return
    print_table(
        "Corporate actions",
        rows,
        [
            "id",
            "symbol",
            "kind",
            "status",
            "record_date",
            "pay_date",
            "gross_rate",
            "current_version",
            "source",
        ],
    )


@app.command("show")
def show_action(
    action_id: int = typer.Argument(..., help="Action id."), as_json: bool = JSON_OPTION
) -> None:
    """One action with its whole version history."""
    db.require_current_schema()
    with db.session_scope() as session:
        action = session.get(CorporateAction, action_id)
        if action is None:
            raise NotFound(
                f"no corporate action {action_id}", hint="see 'corpactions actions list'"
            )
        data = action_dict(session, action, history=True)
    if as_json:
        print_json(data)
        return
    typer.echo(
        f"action {data['id']} {data['symbol']} {data['kind']} ({data['status']}), "
        f"source {data['source']} ref {data['source_ref']}, "
        f"version {data['current_version']} of {data['versions']}"
    )
    if data.get("entitlement"):
        rule = data["entitlement"]
        holders = (
            f"holders at the {rule['basis']} {rule['cutoff']}" if rule["cutoff"] else rule["basis"]
        )
        typer.echo(f"entitlement: {rule['rule']} rule, {holders}; {rule['why']}")
    if data["status"] == "needs_operator" and data.get("status_reason"):
        typer.echo(f"to do: {data['status_reason']}")
    print_table(
        "Versions",
        data["history"],
        [
            "version",
            "function",
            "processing_status",
            "record_date",
            "pay_date",
            "gross_rate",
            "ratio_new",
            "ratio_old",
            "received_at",
            "current",
        ],
    )

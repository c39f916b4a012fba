"""The API's reads: plain functions over a session (the routes only call and shape them)."""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from corpactions.api.money import display, money
from corpactions.api.schemas import (
    ActionDetail,
    ActionItem,
    ActionPage,
    ActionRef,
    PayoutItem,
    PayoutPage,
    PlanOut,
    PublicStatus,
    Shares,
    SnapshotOut,
    Summary,
    SummaryRow,
    VersionOut,
)
from corpactions.config import Settings
from corpactions.errors import NotFound
from corpactions.models import (
    CorporateAction,
    CorporateActionVersion,
    Instrument,
    LineStatus,
    PayoutLine,
    PayoutPlan,
    Snapshot,
)
from corpactions.payouts.plan import CARRY_IS_OWED
from snapshots.take import current_snapshot

PUBLIC_STATUS: dict[str, PublicStatus] = {
    LineStatus.paid: "paid",
    LineStatus.pending: "pending",
    LineStatus.batched: "pending",
    LineStatus.carried: "carried",
    LineStatus.escrowed: "escrowed",
    LineStatus.held_for_claim: "held_for_claim",
    LineStatus.failed: "failed",
}
VISIBLE_PLANS = [s.value for s in CARRY_IS_OWED]
"""A holder sees lines of approved (or later) plans: drafts, rejected and stale plans owe
nothing and are not shown."""


def _payout_decimals(plan_inputs: dict[str, Any], settings: Settings) -> int:
    return int(plan_inputs.get("payout_decimals", settings.payout_decimals))


def holder_payouts(
    session: Session,
    wallet: str,
    *,
    settings: Settings,
    symbol: str | None = None,
    since: date | None = None,
    until: date | None = None,
    cursor: int | None = None,
    limit: int = 100,
) -> PayoutPage:
    """A wallet's payout lines, newest first, ``limit`` at a time (keyset pagination on the
    line id, served by the (owner, id) index)."""
    day = sa.func.coalesce(CorporateActionVersion.pay_date, CorporateActionVersion.record_date)
    query = (
        sa.select(PayoutLine, PayoutPlan, CorporateAction, CorporateActionVersion, Instrument)
        .join(PayoutPlan, col(PayoutPlan.id) == col(PayoutLine.plan_id))
        .join(CorporateAction, col(CorporateAction.id) == col(PayoutPlan.action_id))
        .join(Instrument, col(Instrument.id) == col(CorporateAction.instrument_id))
        .join(
            CorporateActionVersion,
            (col(CorporateActionVersion.action_id) == col(CorporateAction.id))
            & (col(CorporateActionVersion.version) == col(PayoutPlan.action_version)),
        )
        .where(col(PayoutLine.owner) == wallet, col(PayoutPlan.status).in_(VISIBLE_PLANS))
    )
    if symbol is not None:
        query = query.where(col(Instrument.symbol) == symbol.upper())
    if since is not None:
        query = query.where(day >= since)
    if until is not None:
        query = query.where(day <= until)
    if cursor is not None:
        query = query.where(col(PayoutLine.id) < cursor)
    rows = session.execute(query.order_by(col(PayoutLine.id).desc()).limit(limit + 1)).all()
    multipliers = _multipliers(session, {plan.snapshot_id for _, plan, _, _, _ in rows})
    items = []
    for line, plan, action, version, instrument in rows[:limit]:
        decimals = _payout_decimals(plan.inputs, settings)
        items.append(
            PayoutItem(
                line_id=line.id or 0,
                plan_id=plan.id or 0,
                action=ActionRef(
                    id=action.id or 0,
                    symbol=instrument.symbol,
                    kind=str(action.kind),
                    ex_date=version.ex_date,
                    record_date=version.record_date,
                    pay_date=version.pay_date,
                    currency=version.currency,
                    rate_per_share=format(plan.rate_per_share, "f"),
                ),
                shares=Shares(
                    raw=str(line.shares),
                    ui_amount=display(
                        line.shares, instrument.decimals, multipliers.get(plan.snapshot_id)
                    ),
                ),
                gross=money(line.gross, decimals),
                withholding=money(line.withholding, decimals),
                net=money(line.net, decimals),
                carried_in=money(line.carried_in, decimals),
                amount_due=money(line.amount_due, decimals),
                status=PUBLIC_STATUS.get(str(line.status), "pending"),
                status_reason=line.status_reason,
                tax_class=line.tax_class,
                signature=line.signature,
                slot=line.slot,
            )
        )
    more = len(rows) > limit
    return PayoutPage(
        wallet=wallet,
        items=items,
        next_cursor=str(items[-1].line_id) if more and items else None,
    )


def _multipliers(session: Session, snapshot_ids: set[int]) -> dict[int, str | None]:
    if not snapshot_ids:
        return {}
    return {
        int(sid or 0): multiplier
        for sid, multiplier in session.exec(
            select(Snapshot.id, Snapshot.multiplier).where(col(Snapshot.id).in_(snapshot_ids))
        )
    }


def holder_summary(session: Session, wallet: str, *, settings: Settings) -> Summary:
    """Totals per symbol and year of payment (gross, withheld, net, paid): a holder's tax
    reporting view. Carried and escrowed amounts count in the year of their own action."""
    day = sa.func.coalesce(CorporateActionVersion.pay_date, CorporateActionVersion.record_date)
    rows = session.execute(
        sa.select(
            col(Instrument.symbol),
            day,
            col(PayoutLine.gross),
            col(PayoutLine.withholding),
            col(PayoutLine.net),
            col(PayoutLine.amount_due),
            col(PayoutLine.status),
            col(PayoutPlan.inputs),
        )
        .join(PayoutPlan, col(PayoutPlan.id) == col(PayoutLine.plan_id))
        .join(CorporateAction, col(CorporateAction.id) == col(PayoutPlan.action_id))
        .join(Instrument, col(Instrument.id) == col(CorporateAction.instrument_id))
        .join(
            CorporateActionVersion,
            (col(CorporateActionVersion.action_id) == col(CorporateAction.id))
            & (col(CorporateActionVersion.version) == col(PayoutPlan.action_version)),
        )
        .where(col(PayoutLine.owner) == wallet, col(PayoutPlan.status).in_(VISIBLE_PLANS))
    ).all()
    totals: dict[tuple[str, int], list[int]] = {}
    decimals_of: dict[tuple[str, int], int] = {}
    for symbol, when, gross, withheld, net, due, status, inputs in rows:
        year = when.year if when is not None else 0
        key = (symbol, year)
        bucket = totals.setdefault(key, [0, 0, 0, 0, 0])
        bucket[0] += 1
        bucket[1] += gross
        bucket[2] += withheld
        bucket[3] += net
        bucket[4] += due if status == LineStatus.paid else 0
        decimals_of[key] = _payout_decimals(inputs, settings)
    return Summary(
        wallet=wallet,
        rows=[
            SummaryRow(
                symbol=symbol,
                year=year,
                lines=bucket[0],
                gross=money(bucket[1], decimals_of[(symbol, year)]),
                withheld=money(bucket[2], decimals_of[(symbol, year)]),
                net=money(bucket[3], decimals_of[(symbol, year)]),
                paid=money(bucket[4], decimals_of[(symbol, year)]),
            )
            for (symbol, year), bucket in sorted(totals.items())
        ],
    )


def summary_csv(summary: Summary) -> str:
    header = "symbol,year,lines,gross,gross_display,withheld,withheld_display,net,net_display,"
    lines = [header + "paid,paid_display"]
    for row in summary.rows:
        cells = [row.symbol, str(row.year), str(row.lines)]
        for amount in (row.gross, row.withheld, row.net, row.paid):
            cells += [amount.base_units, amount.display]
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


def _current_version(session: Session, action: CorporateAction) -> CorporateActionVersion | None:
    return session.exec(
        select(CorporateActionVersion).where(
            CorporateActionVersion.action_id == action.id,
            CorporateActionVersion.version == action.current_version,
        )
    ).first()


def _action_item(
    action: CorporateAction, symbol: str, version: CorporateActionVersion | None
) -> dict[str, Any]:
    rate = None
    if version is not None:
        rate = version.gross_rate if version.gross_rate is not None else version.net_rate
    return {
        "id": action.id or 0,
        "symbol": symbol,
        "kind": str(action.kind),
        "status": str(action.status),
        "current_version": action.current_version,
        "ex_date": version.ex_date if version else None,
        "record_date": version.record_date if version else None,
        "pay_date": version.pay_date if version else None,
        "currency": version.currency if version else None,
        "rate_per_share": format(rate, "f") if rate is not None else None,
    }


def list_actions(
    session: Session,
    *,
    symbol: str | None = None,
    status: str | None = None,
    cursor: int | None = None,
    limit: int = 100,
) -> ActionPage:
    query = (
        select(CorporateAction, Instrument.symbol, CorporateActionVersion)
        .join(Instrument, col(Instrument.id) == col(CorporateAction.instrument_id))
        .join(
            CorporateActionVersion,
            (col(CorporateActionVersion.action_id) == col(CorporateAction.id))
            & (col(CorporateActionVersion.version) == col(CorporateAction.current_version)),
        )
    )
    if symbol is not None:
        query = query.where(Instrument.symbol == symbol.upper())
    if status is not None:
        query = query.where(CorporateAction.status == status)
    if cursor is not None:
        query = query.where(col(CorporateAction.id) < cursor)
    rows = session.exec(query.order_by(col(CorporateAction.id).desc()).limit(limit + 1)).all()
    items = [ActionItem(**_action_item(a, s, v)) for a, s, v in rows[:limit]]
    more = len(rows) > limit
    return ActionPage(items=items, next_cursor=str(items[-1].id) if more and items else None)


def action_detail(session: Session, action_id: int, *, settings: Settings) -> ActionDetail:
    action = session.get(CorporateAction, action_id)
    if action is None:
        raise NotFound(f"no corporate action {action_id}")
    instrument = session.get(Instrument, action.instrument_id)
    symbol = instrument.symbol if instrument else ""
    versions = session.exec(
        select(CorporateActionVersion)
        .where(CorporateActionVersion.action_id == action_id)
        .order_by(col(CorporateActionVersion.version))
    ).all()
    snapshot = current_snapshot(session, action_id)
    plans = session.exec(
        select(PayoutPlan).where(PayoutPlan.action_id == action_id).order_by(col(PayoutPlan.id))
    ).all()

    def text(value: Any) -> str | None:
        return format(value, "f") if value is not None else None

    return ActionDetail(
        **_action_item(action, symbol, _current_version(session, action)),
        status_reason=action.status_reason,
        versions=[
            VersionOut(
                version=v.version,
                function=v.function,
                ex_date=v.ex_date,
                record_date=v.record_date,
                pay_date=v.pay_date,
                effective_date=v.effective_date,
                gross_rate=text(v.gross_rate),
                net_rate=text(v.net_rate),
                ratio_new=text(v.ratio_new),
                ratio_old=text(v.ratio_old),
                payload_sha256=v.payload_sha256,
                received_at=v.received_at,
                superseded_at=v.superseded_at,
            )
            for v in versions
        ],
        snapshot=SnapshotOut(
            id=snapshot.id or 0,
            slot=snapshot.slot,
            block_time=snapshot.block_time,
            supply=str(snapshot.supply),
            account_count=snapshot.account_count,
            owner_count=snapshot.owner_count,
            excluded_total=str(snapshot.excluded_total),
            multiplier=snapshot.multiplier,
            sha256=snapshot.sha256,
            created_at=snapshot.created_at,
        )
        if snapshot is not None
        else None,
        plans=[_plan_out(plan, settings) for plan in plans],
    )


def _plan_out(plan: PayoutPlan, settings: Settings) -> PlanOut:
    decimals = _payout_decimals(plan.inputs, settings)
    return PlanOut(
        id=plan.id or 0,
        status=str(plan.status),
        plan_hash=plan.plan_hash,
        line_count=plan.line_count,
        gross_pool=money(plan.gross_pool, decimals),
        withheld_total=money(plan.withheld_total, decimals),
        sent_total=money(plan.sent_total, decimals),
        carried_total=money(plan.carried_total, decimals),
        escrowed_total=money(plan.escrowed_total, decimals),
        undistributed=money(plan.undistributed, decimals),
        created_at=plan.created_at,
        approved_at=plan.approved_at,
        paid_at=plan.paid_at,
        ledger_sha256=plan.ledger_sha256,
        attestation_signature=plan.attestation_signature,
    )

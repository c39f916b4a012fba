"""The API's reads: plain functions over a session (the routes only call and shape them)."""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from corpactions.actions import current_version, with_version_in_force
from corpactions.api.money import display, money, money_json
from corpactions.api.schemas import (
    ActionDetail,
    ActionItem,
    ActionPage,
    AdjustmentOut,
    Backing,
    BackingCheckOut,
    PlanOut,
    PublicStatus,
    SharesReceivedRow,
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
    MultiplierPlan,
    PayoutLine,
    PayoutPlan,
    Snapshot,
)
from corpactions.payouts.plan import CARRY_IS_OWED
from corpactions.reserves.backing import check_as_dict, history, instrument_by_symbol
from corpactions.units import SPLIT_NOTE, kind_label, plan_unit, rate_meaning, shares_of, usdc
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


def _visible_lines_of(query: Any, wallet: Any) -> Any:
    """``query`` over a wallet's payout lines joined to their plan, action, instrument and the
    action version the plan paid; only plans a holder may see."""
    return (
        query.select_from(PayoutLine)
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


@lru_cache(maxsize=16)
def _history_statement(by_symbol: bool, by_since: bool, by_until: bool, by_cursor: bool) -> Any:
    """The history query for one combination of filters, built once: values are bound
    parameters, so each request only binds and runs it."""
    day = sa.func.coalesce(CorporateActionVersion.pay_date, CorporateActionVersion.record_date)
    line, plan, version = PayoutLine, PayoutPlan, CorporateActionVersion
    query = sa.select(
        col(line.id),
        col(line.shares),
        col(line.gross),
        col(line.withholding),
        col(line.net),
        col(line.carried_in),
        col(line.amount_due),
        col(line.status),
        col(line.status_reason),
        col(line.tax_class),
        col(line.signature),
        col(line.slot),
        col(line.carried_into),
        col(plan.id),
        col(plan.rate_per_share),
        col(plan.inputs)["payout_decimals"].as_integer(),
        col(plan.kind),
        col(plan.asset),
        col(CorporateAction.id),
        col(CorporateAction.kind),
        col(Instrument.symbol),
        col(Instrument.decimals),
        col(version.ex_date),
        col(version.record_date),
        col(version.pay_date),
        col(version.currency),
        col(Snapshot.multiplier),
    )
    query = _visible_lines_of(query, sa.bindparam("wallet")).outerjoin(
        Snapshot, col(Snapshot.id) == col(plan.snapshot_id)
    )
    if by_symbol:
        query = query.where(col(Instrument.symbol) == sa.bindparam("symbol"))
    if by_since:
        query = query.where(day >= sa.bindparam("since"))
    if by_until:
        query = query.where(day <= sa.bindparam("until"))
    if by_cursor:
        query = query.where(col(line.id) < sa.bindparam("cursor"))
    return query.order_by(col(line.id).desc()).limit(sa.bindparam("limit"))


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
) -> dict[str, Any]:
    """A wallet's payout lines, newest first, ``limit`` at a time (keyset pagination on the
    line id, served by the (owner, id) index). Returns the ``PayoutPage`` shape as plain JSON
    data: this is the API's hot path, so it reads only the columns it shows, in one prepared
    shape of query, and builds no intermediate objects."""
    query = _history_statement(
        symbol is not None, since is not None, until is not None, cursor is not None
    )
    params: dict[str, Any] = {"wallet": wallet, "limit": limit + 1}
    if symbol is not None:
        params["symbol"] = symbol.upper()
    if since is not None:
        params["since"] = since
    if until is not None:
        params["until"] = until
    if cursor is not None:
        params["cursor"] = cursor
    rows = session.execute(query, params).all()
    items = []
    for (
        line_id,
        shares,
        gross,
        withholding,
        net,
        carried_in,
        amount_due,
        status,
        status_reason,
        tax_class,
        signature,
        slot,
        carried_into,
        plan_id,
        rate,
        payout_decimals,
        plan_kind,
        asset,
        action_id,
        kind,
        instrument_symbol,
        token_decimals,
        ex_date,
        record_date,
        pay_date,
        currency,
        multiplier,
    ) in rows[:limit]:
        decimals = settings.payout_decimals if payout_decimals is None else int(payout_decimals)
        unit = (
            shares_of(instrument_symbol, token_decimals, multiplier)
            if asset == "stock"
            else usdc(decimals)
        )
        items.append(
            {
                "line_id": line_id,
                "plan_id": plan_id,
                "action": {
                    "id": action_id,
                    "symbol": instrument_symbol,
                    "kind": str(kind),
                    "ex_date": ex_date,
                    "record_date": record_date,
                    "pay_date": pay_date,
                    "currency": currency,
                    "rate_per_share": format(rate, "f"),
                },
                "kind": plan_kind,
                "kind_label": kind_label(plan_kind),
                "rate_meaning": rate_meaning(plan_kind),
                "shares": {
                    "raw": str(shares),
                    "ui_amount": display(int(shares), token_decimals, multiplier),
                },
                "gross": money_json(gross, unit),
                "withholding": money_json(withholding, unit),
                "net": money_json(net, unit),
                "carried_in": money_json(carried_in, unit),
                "amount_due": money_json(amount_due, unit),
                "status": PUBLIC_STATUS.get(str(status), "pending"),
                "status_reason": status_reason,
                "tax_class": tax_class,
                "signature": signature,
                "slot": slot,
                "carried_into_plan": carried_into,
            }
        )
    more = len(rows) > limit
    return {
        "wallet": wallet,
        "items": items,
        "next_cursor": str(items[-1]["line_id"]) if more and items else None,
    }


def holder_summary(session: Session, wallet: str, *, settings: Settings) -> Summary:
    """Totals per symbol and year of payment (gross, withheld, net, paid): a holder's tax
    reporting view, in USDC only. Carried and escrowed amounts count in the year of their own
    action. Shares minted by a split or stock dividend are no income in USDC: they are counted
    apart, as shares received (with the cost-basis note)."""
    day = sa.func.coalesce(CorporateActionVersion.pay_date, CorporateActionVersion.record_date)
    query = _visible_lines_of(
        sa.select(
            col(Instrument.symbol),
            day,
            col(PayoutLine.gross),
            col(PayoutLine.withholding),
            col(PayoutLine.net),
            col(PayoutLine.amount_due),
            col(PayoutLine.status),
            col(PayoutPlan.inputs),
            col(PayoutPlan.kind),
            col(PayoutPlan.asset),
            col(Instrument.decimals),
        ),
        wallet,
    )
    rows = session.execute(query).all()
    totals: dict[tuple[str, int], list[int]] = {}
    decimals_of: dict[tuple[str, int], int] = {}
    shares: dict[tuple[str, int, str], list[int]] = {}
    for symbol, when, gross, withheld, net, due, status, inputs, kind, asset, decimals in rows:
        year = when.year if when is not None else 0
        if asset == "stock":
            got = shares.setdefault((symbol, year, kind), [0, 0, 0, decimals])
            got[0] += 1
            got[1] += due
            got[2] += due if status == LineStatus.paid else 0
            continue
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
                gross=money(bucket[1], usdc(decimals_of[(symbol, year)])),
                withheld=money(bucket[2], usdc(decimals_of[(symbol, year)])),
                net=money(bucket[3], usdc(decimals_of[(symbol, year)])),
                paid=money(bucket[4], usdc(decimals_of[(symbol, year)])),
            )
            for (symbol, year), bucket in sorted(totals.items())
        ],
        shares_received=[
            SharesReceivedRow(
                symbol=symbol,
                year=year,
                kind=kind,
                kind_label=kind_label(kind),
                lines=got[0],
                shares=money(got[1], shares_of(symbol, got[3])),
                delivered=money(got[2], shares_of(symbol, got[3])),
            )
            for (symbol, year, kind), got in sorted(shares.items())
        ],
        shares_note=SPLIT_NOTE,
    )


def summary_csv(summary: Summary) -> str:
    """The tax summary in USDC (one row per symbol and year); shares received are not income
    and are not in it (they are in the JSON summary's ``shares_received``)."""
    header = "symbol,year,lines,gross,gross_display,withheld,withheld_display,net,net_display,"
    lines = [header + "paid,paid_display,asset"]
    for row in summary.rows:
        cells = [row.symbol, str(row.year), str(row.lines)]
        for amount in (row.gross, row.withheld, row.net, row.paid):
            cells += [amount.base_units, amount.display]
        lines.append(",".join([*cells, row.gross.asset]))
    return "\n".join(lines) + "\n"


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
    query = with_version_in_force()
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
        **_action_item(action, symbol, current_version(session, action)),
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
        plans=[_plan_out(plan, settings, instrument) for plan in plans],
        adjustments=[
            AdjustmentOut(
                id=a.id or 0,
                kind=a.kind,
                status=str(a.status),
                factor=a.factor,
                old_multiplier=a.old_multiplier,
                new_multiplier=a.new_multiplier,
                effective_timestamp=a.effective_timestamp,
                plan_hash=a.plan_hash,
                signature=a.signature,
                check=a.check,
            )
            for a in session.exec(
                select(MultiplierPlan)
                .where(MultiplierPlan.action_id == action_id)
                .order_by(col(MultiplierPlan.id))
            )
        ],
    )


def _plan_out(plan: PayoutPlan, settings: Settings, instrument: Instrument | None) -> PlanOut:
    decimals = plan_unit(
        asset=plan.asset,
        inputs=plan.inputs,
        symbol=instrument.symbol if instrument else "",
        payout_decimals=settings.payout_decimals,
        token_decimals=instrument.decimals if instrument else None,
    )
    return PlanOut(
        id=plan.id or 0,
        kind=plan.kind,
        kind_label=kind_label(plan.kind),
        asset=plan.asset,
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
        chain_check=plan.reconciliation,
    )


def instrument_backing(session: Session, symbol: str, limit: int = 100) -> Backing:
    """The instrument's latest check of backing and its history, newest first."""
    instrument = instrument_by_symbol(session, symbol)
    checks = [
        BackingCheckOut.model_validate(check_as_dict(c))
        for c in history(session, instrument.id or 0, limit)
    ]
    return Backing(
        symbol=instrument.symbol,
        mint=instrument.mint,
        latest=checks[0] if checks else None,
        history=checks,
    )

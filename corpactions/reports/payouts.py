"""Period reports for accountants, read from the ledger.

``payout_lines``: every line of the plans paid in a period (approved or later; by pay date, or
record date when there is none): action, plan, hash, approvers, wallet, tax class, decimal
amounts with asset and unit, status, signature. ``tax_year``: per wallet and tax class, the
year's USDC gross, withheld and net (1099-DIV / 1042-S preparation); shares received from
splits and stock dividends are a table of their own, never in USDC totals.

Amounts are decimal text (exact; each row says its asset and unit) next to the integer base
units; no float anywhere.
"""

from __future__ import annotations

import io
from datetime import date
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlmodel import Session, col, select

from corpactions.config import Settings, get_settings
from corpactions.errors import UserInputError
from corpactions.models import (
    Approval,
    CorporateAction,
    CorporateActionVersion,
    Instrument,
    LineStatus,
    PayoutLine,
    PayoutPlan,
)
from corpactions.payouts.plan import CARRY_IS_OWED
from corpactions.units import SPLIT_NOTE, decimal_text, kind_label, plan_unit

AMOUNTS = ("gross", "withholding", "net", "carried_in", "amount_due")
FORMATS = ("csv", "parquet")


def _day() -> Any:
    return sa.func.coalesce(CorporateActionVersion.pay_date, CorporateActionVersion.record_date)


def _lines_between(session: Session, since: date, until: date) -> list[Any]:
    if until < since:
        raise UserInputError(f"--to {until} is before --from {since}")
    day = _day()
    query = (
        sa.select(
            PayoutLine,
            PayoutPlan,
            col(CorporateAction.kind),
            col(Instrument.symbol),
            col(Instrument.decimals),
            day.label("day"),
            col(CorporateActionVersion.record_date),
        )
        .select_from(PayoutLine)
        .join(PayoutPlan, col(PayoutPlan.id) == col(PayoutLine.plan_id))
        .join(CorporateAction, col(CorporateAction.id) == col(PayoutPlan.action_id))
        .join(Instrument, col(Instrument.id) == col(CorporateAction.instrument_id))
        .join(
            CorporateActionVersion,
            (col(CorporateActionVersion.action_id) == col(CorporateAction.id))
            & (col(CorporateActionVersion.version) == col(PayoutPlan.action_version)),
        )
        .where(
            col(PayoutPlan.status).in_([s.value for s in CARRY_IS_OWED]),
            day >= since,
            day <= until,
        )
        .order_by(col(PayoutPlan.id), col(PayoutLine.id))
    )
    return list(session.execute(query).all())


def _approvers(session: Session, plan_ids: set[int]) -> dict[int, str]:
    found: dict[int, list[str]] = {}
    for approval in session.exec(
        select(Approval)
        .where(col(Approval.plan_id).in_(plan_ids), Approval.decision == "approve")
        .order_by(col(Approval.id))
    ):
        found.setdefault(approval.plan_id, []).append(
            f"{approval.approver} at {approval.created_at.isoformat()}"
        )
    return {plan_id: "; ".join(names) for plan_id, names in found.items()}


def payout_lines(
    session: Session, since: date, until: date, *, settings: Settings | None = None
) -> pl.DataFrame:
    """One row per payout line of the period, with its plan, action and approvers."""
    settings = settings or get_settings()
    rows = _lines_between(session, since, until)
    approvers = _approvers(session, {plan.id or 0 for _, plan, *_ in rows})
    out: list[dict[str, Any]] = []
    for line, plan, action_kind, symbol, token_decimals, day, record_date in rows:
        unit = plan_unit(
            asset=plan.asset,
            inputs=plan.inputs,
            symbol=symbol,
            payout_decimals=settings.payout_decimals,
            token_decimals=token_decimals,
        )
        row: dict[str, Any] = {
            "pay_date": day,
            "record_date": record_date,
            "symbol": symbol,
            "action_id": plan.action_id,
            "action_kind": str(action_kind),
            "plan_id": plan.id,
            "plan_kind": kind_label(plan.kind),
            "plan_status": str(plan.status),
            "plan_hash": plan.plan_hash,
            "plan_maker": plan.created_by,
            "approvers": approvers.get(plan.id or 0, ""),
            "attestation_signature": plan.attestation_signature,
            "wallet": line.owner,
            "tax_class": line.tax_class,
            "shares_held": decimal_text(line.shares, token_decimals),
            "asset": unit.asset,
            "unit": unit.unit,
        }
        for name in AMOUNTS:
            row[name] = decimal_text(getattr(line, name), unit.decimals)
        for name in AMOUNTS:
            row[f"{name}_base_units"] = str(getattr(line, name))
        row |= {
            "status": str(line.status),
            "status_reason": line.status_reason,
            "signature": line.signature,
            "slot": line.slot,
        }
        out.append(row)
    return pl.DataFrame(out, schema=_LINE_SCHEMA, orient="row") if out else _empty(_LINE_SCHEMA)


_TEXT = pl.String
_LINE_SCHEMA: dict[str, Any] = {
    "pay_date": pl.Date,
    "record_date": pl.Date,
    "symbol": _TEXT,
    "action_id": pl.Int64,
    "action_kind": _TEXT,
    "plan_id": pl.Int64,
    "plan_kind": _TEXT,
    "plan_status": _TEXT,
    "plan_hash": _TEXT,
    "plan_maker": _TEXT,
    "approvers": _TEXT,
    "attestation_signature": _TEXT,
    "wallet": _TEXT,
    "tax_class": _TEXT,
    "shares_held": _TEXT,
    "asset": _TEXT,
    "unit": _TEXT,
    **{name: _TEXT for name in AMOUNTS},
    **{f"{name}_base_units": _TEXT for name in AMOUNTS},
    "status": _TEXT,
    "status_reason": _TEXT,
    "signature": _TEXT,
    "slot": pl.Int64,
}


def _empty(schema: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(schema=schema)


def tax_year(
    session: Session, year: int, *, settings: Settings | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per wallet and tax class: the year's USDC gross, withheld, net and paid (1099-DIV /
    1042-S preparation); and, apart, per wallet the shares received from splits and stock
    dividends (not income here: a split changes share count, not cost)."""
    settings = settings or get_settings()
    rows = _lines_between(session, date(year, 1, 1), date(year, 12, 31))
    cash: dict[tuple[str, str], list[int]] = {}
    cash_decimals = settings.payout_decimals
    shares: dict[tuple[str, str, str], list[int]] = {}
    for line, plan, _kind, symbol, token_decimals, _day, _record in rows:
        if plan.asset == "stock":
            got = shares.setdefault((line.owner, symbol, kind_label(plan.kind)), [0, 0, 0])
            got[0] += 1
            got[1] += line.amount_due
            got[2] = token_decimals
            continue
        cash_decimals = int(plan.inputs.get("payout_decimals", cash_decimals))
        tax_class = line.tax_class or settings.default_tax_class
        bucket = cash.setdefault((line.owner, tax_class), [0, 0, 0, 0, 0])
        bucket[0] += 1
        bucket[1] += line.gross
        bucket[2] += line.withholding
        bucket[3] += line.net
        bucket[4] += line.amount_due if line.status == LineStatus.paid else 0
    cash_rows = [
        {
            "year": year,
            "wallet": wallet,
            "tax_class": tax_class,
            "payouts": b[0],
            "asset": "USDC",
            "gross": decimal_text(b[1], cash_decimals),
            "withheld": decimal_text(b[2], cash_decimals),
            "net": decimal_text(b[3], cash_decimals),
            "paid": decimal_text(b[4], cash_decimals),
            "gross_base_units": str(b[1]),
            "withheld_base_units": str(b[2]),
            "net_base_units": str(b[3]),
            "paid_base_units": str(b[4]),
        }
        for (wallet, tax_class), b in sorted(cash.items())
    ]
    share_rows = [
        {
            "year": year,
            "wallet": wallet,
            "symbol": symbol,
            "kind": kind,
            "distributions": g[0],
            "unit": "shares",
            "shares_received": decimal_text(g[1], g[2]),
            "shares_received_base_units": str(g[1]),
            "cost_basis_note": SPLIT_NOTE,
        }
        for (wallet, symbol, kind), g in sorted(shares.items())
    ]
    cash_schema = {k: (pl.Int64 if k in ("year", "payouts") else _TEXT) for k in _CASH_COLUMNS}
    share_schema = {
        k: (pl.Int64 if k in ("year", "distributions") else _TEXT) for k in _SHARE_COLUMNS
    }
    return (
        pl.DataFrame(cash_rows, schema=cash_schema) if cash_rows else _empty(cash_schema),
        pl.DataFrame(share_rows, schema=share_schema) if share_rows else _empty(share_schema),
    )


_CASH_COLUMNS = (
    "year",
    "wallet",
    "tax_class",
    "payouts",
    "asset",
    "gross",
    "withheld",
    "net",
    "paid",
    "gross_base_units",
    "withheld_base_units",
    "net_base_units",
    "paid_base_units",
)
_SHARE_COLUMNS = (
    "year",
    "wallet",
    "symbol",
    "kind",
    "distributions",
    "unit",
    "shares_received",
    "shares_received_base_units",
    "cost_basis_note",
)


def encode(frame: pl.DataFrame, fmt: str) -> bytes:
    if fmt not in FORMATS:
        raise UserInputError(f"--format must be csv or parquet, not {fmt!r}")
    buffer = io.BytesIO()
    if fmt == "csv":
        frame.write_csv(buffer)
    else:
        frame.write_parquet(buffer, compression="zstd")
    return buffer.getvalue()

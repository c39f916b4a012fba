"""Forward splits and stock dividends of classic SPL stock mints: new tokens minted to every
holder, pro rata (a 5 % stock dividend is a 105:100 ratio, issued like a split).

From the record-date snapshot, a holder of ``a`` raw units is entitled to ``a x (new - old) / old``
more. The fraction disposition decides what happens to what is not a whole share (one share is
10**decimals raw units, the tokens being 1:1 backed):

- ``DIST`` (or none given): fractions are issued, down to one raw unit;
- ``RDDN``: new tokens are rounded down to whole shares; the fraction is forfeited;
- ``CINL``: rounded down to whole shares, the fraction paid in USDC at ``cash_in_lieu_price``
  (rounded down to a USDC base unit) through the ordinary payout path.

The result is two plans with the usual approval and exactly-once execution: a ``stock`` plan whose
lines are ``mintToChecked`` (the payout authority being the mint authority) and, for CINL, a
``usdc`` plan of cash-in-lieu lines. A reverse split cannot burn holders' tokens on a classic
mint: it is refused; Token-2022 instruments take splits by multiplier (``corporate.multiplier``).
A split whose tokens outstanding after it would differ from the custodian's shares x ratio (its
statement as of the record date) beyond ``CORPACTIONS_PEG_TOLERANCE_SHARES`` is refused before
any plan is stored. After the stock plan is paid, ``verify_split`` reads the chain again: every
holder's balance must be the snapshot balance plus the minted amount, and supply must have moved
by the sum minted.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

import polars as pl
from solders.pubkey import Pubkey
from sqlmodel import Session

from corpactions.actions import entitlement_date
from corpactions.chain.rpc import Rpc
from corpactions.config import Settings, get_settings
from corpactions.corporate.common import action_in_force, reverse_split_refused
from corpactions.db import SessionFactory
from corpactions.errors import PlanError
from corpactions.logs import get_logger
from corpactions.models import (
    ActionKind,
    CorporateAction,
    Instrument,
    LineStatus,
    PayoutPlan,
    TokenProgram,
)
from corpactions.payouts.plan import FROZEN_REASON, load_lines, store_plan
from corpactions.reserves.backing import refuse_peg_breaking_split
from snapshots.fetch import read_token_accounts
from snapshots.parse import aggregate_holders, owners_as_base58
from snapshots.take import current_snapshot, load_holders, record_date_cutoff

log = get_logger(__name__)
DISPOSITIONS = ("DIST", "RDDN", "CINL")
SHARE_ACTIONS = (ActionKind.forward_split, ActionKind.reverse_split, ActionKind.stock_dividend)
"""Actions that change how many shares each holder has (a stock dividend of 5 % is 105:100)."""


@dataclass(frozen=True)
class SplitPlans:
    stock: PayoutPlan
    cash: PayoutPlan | None


def split_lines(
    holders: pl.DataFrame,
    *,
    ratio: Fraction,
    unit: int,
    disposition: str,
    price_units: Fraction | None,
    frozen_policy: str,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Pure: (stock lines, cash-in-lieu lines) from holders (owner base58, amount, frozen).
    Integer arithmetic throughout (Int128)."""
    p, q = ratio.numerator, ratio.denominator
    extra = pl.col("amount").cast(pl.Int128) * (p - q)  # over q: the exact new raw units
    minted = extra // q if disposition == "DIST" else extra // (q * unit) * unit
    # Every holder, excluded wallets too: a split changes every outstanding share (the issuer's
    # inventory included), so supply keeps tracking the shares behind the tokens.
    base = holders.with_columns(minted=minted)
    if disposition == "CINL":
        assert price_units is not None
        fraction = extra - pl.col("minted") * q  # raw units x q not issued
        cash = fraction * price_units.numerator // (q * unit * price_units.denominator)
    else:
        cash = pl.lit(0, dtype=pl.Int128)
    base = base.with_columns(cash=cash)
    escrow = pl.col("frozen") & pl.lit(frozen_policy == "escrow")

    def lines(amount: str) -> pl.DataFrame:
        return (
            base.filter(pl.col(amount) > 0)
            .select(
                "owner",
                shares=pl.col("amount").cast(pl.UInt64),
                gross=pl.col(amount).cast(pl.Int64),
                withholding=pl.lit(0, dtype=pl.Int64),
                net=pl.col(amount).cast(pl.Int64),
                carried_in=pl.lit(0, dtype=pl.Int64),
                amount_due=pl.col(amount).cast(pl.Int64),
                status=pl.when(escrow)
                .then(pl.lit(LineStatus.escrowed.value))
                .otherwise(pl.lit(LineStatus.pending.value)),
                status_reason=pl.when(escrow)
                .then(pl.lit(FROZEN_REASON))
                .otherwise(pl.lit(None, dtype=pl.String)),
                tax_class=pl.lit(None, dtype=pl.String),
            )
            .sort("owner")
        )

    # Frozen accounts cannot receive minted tokens; cash in lieu follows the frozen policy too.
    return lines("minted"), lines("cash")


def compute_split_plans(
    *, session: Session, action_id: int, maker: str, settings: Settings | None = None
) -> SplitPlans:
    settings = settings or get_settings()
    action, instrument, version = action_in_force(session, action_id)
    if action.kind not in SHARE_ACTIONS:
        raise PlanError(f"action {action_id} is a {action.kind}, not a split or stock dividend")
    if instrument.token_program == TokenProgram.token2022:
        raise PlanError(
            f"{instrument.symbol} is a Token-2022 mint: its splits move the UI multiplier",
            hint=f"corpactions adjust compute {action_id}",
        )
    if action.kind == ActionKind.reverse_split:
        raise reverse_split_refused(instrument.symbol)
    if not version.ratio_new or not version.ratio_old:
        raise PlanError(f"action {action_id} has no new-to-old ratio")
    ratio = Fraction(version.ratio_new) / Fraction(version.ratio_old)
    disposition = version.fraction_disposition or "DIST"
    if disposition not in DISPOSITIONS:
        raise PlanError(
            f"fraction disposition {disposition} is not handled",
            hint=f"this project issues {', '.join(DISPOSITIONS)}",
        )
    price = version.details.get("cash_in_lieu_price")
    price_units = None
    if disposition == "CINL":
        if price in (None, ""):
            raise PlanError(
                "cash in lieu needs a price per share",
                hint="give cash_in_lieu_price in the feed record",
            )
        price_units = Fraction(Decimal(str(price))) * 10**settings.payout_decimals
    snapshot = current_snapshot(session, action_id)
    if snapshot is None:
        raise PlanError(f"action {action_id} has no current snapshot")
    day = entitlement_date(version)
    cutoff = record_date_cutoff(day, settings) if day else snapshot.created_at
    refuse_peg_breaking_split(
        session,
        action_id=action_id,
        instrument=instrument,
        snapshot=snapshot,
        ratio=ratio,
        cutoff=cutoff,
        settings=settings,
    )
    holders = owners_as_base58(load_holders(snapshot))
    stock, cash = split_lines(
        holders,
        ratio=ratio,
        unit=10**instrument.decimals,
        disposition=disposition,
        price_units=price_units,
        frozen_policy=settings.frozen_policy,
    )
    inputs: dict[str, Any] = {
        "action_id": action_id,
        "action_version": version.version,
        "version_payload_sha256": version.payload_sha256,
        "symbol": instrument.symbol,
        "mint": instrument.mint,
        "snapshot_id": snapshot.id,
        "snapshot_sha256": snapshot.sha256,
        "snapshot_supply": str(snapshot.supply),
        "ratio": f"{ratio.numerator}/{ratio.denominator}",
        "fraction_disposition": disposition,
        "token_decimals": instrument.decimals,
        "frozen_policy": settings.frozen_policy,
    }
    stock_plan = store_plan(
        session,
        action=action,
        version=version,
        snapshot=snapshot,
        lines=stock,
        inputs={**inputs, "asset": "stock", "funded_amount": int(stock["gross"].sum() or 0)},
        maker=maker,
        rate=Decimal(ratio.numerator) / Decimal(ratio.denominator),
        kind="stock_dividend" if action.kind == ActionKind.stock_dividend else "split",
        asset="stock",
    )
    cash_plan = None
    if cash.height:
        cash_plan = store_plan(
            session,
            action=action,
            version=version,
            snapshot=snapshot,
            lines=cash,
            inputs={
                **inputs,
                "asset": "usdc",
                "usdc_mint": settings.usdc_mint,
                "payout_decimals": settings.payout_decimals,
                "cash_in_lieu_price": str(price),
                "funded_amount": int(cash["gross"].sum() or 0),
            },
            maker=maker,
            rate=Decimal(str(price)),
            kind="cash_in_lieu",
            asset="usdc",
        )
    return SplitPlans(stock_plan, cash_plan)


async def verify_split(
    plan_id: int, *, session_factory: SessionFactory, settings: Settings | None = None
) -> dict[str, Any]:
    """Read the chain again after a split's stock plan: every holder that was paid now holds
    the snapshot balance plus what was minted; supply moved by exactly the sum minted. Stored in
    the plan's reconciliation."""
    settings = settings or get_settings()
    with session_factory() as session:
        plan = session.get(PayoutPlan, plan_id)
        if plan is None or plan.asset != "stock":
            raise PlanError(f"plan {plan_id} is not a split's stock plan")
        action = session.get(CorporateAction, plan.action_id)
        instrument = session.get(Instrument, action.instrument_id) if action else None
        assert instrument is not None
        lines = load_lines(session, plan_id).filter(pl.col("status") == LineStatus.paid.value)
        mint = Pubkey.from_string(instrument.mint)
        snapshot_supply = int(plan.inputs["snapshot_supply"])
    async with Rpc(settings=settings) as rpc:
        chain = await read_token_accounts(rpc, mint, token_2022=False, settings=settings)
    supply = chain.supply  # read with the accounts and proven equal to their sum
    now = owners_as_base58(aggregate_holders(chain.accounts.lazy())).select(
        "owner", now=pl.col("amount").cast(pl.Int128)
    )
    compared = lines.select(
        "owner", expected=pl.col("shares").cast(pl.Int128) + pl.col("amount_due")
    ).join(now, on="owner", how="left")
    wrong = compared.filter(pl.col("now").is_null() | (pl.col("now") != pl.col("expected")))
    minted = int(lines["amount_due"].sum() or 0)
    check = {
        "holders_checked": compared.height,
        "holders_differing": wrong.height,
        "first_differing": wrong.head(5).select("owner").to_series().to_list(),
        "minted_total": str(minted),
        "supply_before": str(snapshot_supply),
        "supply_after": str(supply),
        "supply_moved_by_minted": supply - snapshot_supply == minted,
    }
    check["matches"] = wrong.height == 0 and bool(check["supply_moved_by_minted"])
    with session_factory() as session:
        stored = session.get(PayoutPlan, plan_id)
        assert stored is not None
        stored.reconciliation = {**stored.reconciliation, "split_check": check}
        session.add(stored)
    log.info("split checked on chain", plan=plan_id, matches=check["matches"])
    return check

"""Splits, reverse splits and dividend reinvestment on Token-2022 mints with ScaledUiAmount.

Raw balances never change: the issuer's update instruction (``[43, 1]``, multiplier f64 and
effective timestamp) moves the UI multiplier at the action's effective time. The plan is computed
from the chain's current multiplier and the action, bound to a hash, approved by as many checkers
as payout plans need (``corpactions.corporate.decisions``), then sent as one transaction exactly
once (signed bytes persisted before the send; a rerun asks the chain first) and checked on the
mint afterwards.

Exactness: the factor is a fraction (2/1 for a 1:2 split, 1/10 for a 10:1 reverse split,
1 + net dividend / reinvestment price for a reinvestment); the new multiplier is
old x factor computed exactly and rounded once to the nearest float64, the type the mint stores.

The known hazard: setting a multiplier while another is pending (effective in the future)
overwrites the pending one. That is refused unless the operator explicitly allows it.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, time
from decimal import Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import sqlalchemy as sa
from solders.message import Message
from solders.pubkey import Pubkey
from solders.transaction import Transaction
from sqlmodel import Session

from corpactions.chain import layout, tokens
from corpactions.chain.keys import load_keypair
from corpactions.chain.rpc import Rpc
from corpactions.config import Settings, get_settings
from corpactions.corporate.common import action_in_force, reverse_split_refused
from corpactions.corporate.decisions import get_multiplier_plan, verify_signed_multiplier_approvals
from corpactions.db import SessionFactory
from corpactions.errors import MultiplierChanged, PendingMultiplier, PlanError
from corpactions.execution.crashpoints import crash_point
from corpactions.execution.sendonce import Attempt, settle
from corpactions.logs import get_logger
from corpactions.models import (
    ActionKind,
    AdjustmentStatus,
    CorporateAction,
    CorporateActionVersion,
    Instrument,
    MultiplierPlan,
    TokenProgram,
)
from corpactions.models.types import utcnow

log = get_logger(__name__)
KINDS = (
    ActionKind.forward_split,
    ActionKind.reverse_split,
    ActionKind.stock_dividend,
    ActionKind.cash_dividend,
)


def factor_of(
    action: CorporateAction, version: CorporateActionVersion, settings: Settings
) -> tuple[str, Fraction]:
    """(kind, exact factor) of an action that moves the multiplier."""
    if action.kind in (
        ActionKind.forward_split,
        ActionKind.reverse_split,
        ActionKind.stock_dividend,
    ):
        if not version.ratio_new or not version.ratio_old:
            raise PlanError(f"action {action.id} has no new-to-old ratio")
        factor = Fraction(version.ratio_new) / Fraction(version.ratio_old)
        return str(action.kind), factor
    if action.kind == ActionKind.cash_dividend:
        price = version.details.get("reinvestment_price")
        if price in (None, ""):
            raise PlanError(
                f"action {action.id} has no reinvestment price",
                hint="a reinvested dividend needs reinvestment_price in the feed record",
            )
        price_value = Fraction(Decimal(str(price)))
        if price_value <= 0:
            raise PlanError(f"reinvestment price {price} is not positive")
        if version.net_rate is not None:
            net = Fraction(version.net_rate)
        elif version.gross_rate is not None:
            tax = settings.tax_rates.get(settings.default_tax_class, Decimal(0))
            net = Fraction(version.gross_rate) * (1 - Fraction(tax))
        else:
            raise PlanError(f"action {action.id} has no rate per share")
        return "reinvestment", 1 + net / price_value
    raise PlanError(f"a {action.kind} does not move the multiplier")


def _effective_timestamp(version: CorporateActionVersion, settings: Settings) -> int:
    day: date | None = version.effective_date or version.ex_date or version.pay_date
    if day is None:
        raise PlanError("the action has no effective date", hint="the feed must give one")
    moment = datetime.combine(day, time(0), ZoneInfo(settings.record_date_timezone))
    return int(moment.timestamp())


async def read_scaled(rpc: Rpc, mint: str) -> layout.ScaledUiAmount:
    account = await rpc.account(Pubkey.from_string(mint))
    if account is None:
        raise PlanError(f"mint {mint} does not exist on this chain")
    decoded = layout.decode_mint(bytes(account.data))
    if decoded.scaled_ui_amount is None:
        raise PlanError(f"mint {mint} has no ScaledUiAmount extension")
    return decoded.scaled_ui_amount


def pending_of(scaled: layout.ScaledUiAmount, now: int) -> dict[str, Any] | None:
    """The multiplier change still to take effect, if any."""
    if scaled.new_multiplier_effective_timestamp > now and (
        scaled.new_multiplier != scaled.multiplier
    ):
        return {
            "multiplier": repr(scaled.new_multiplier),
            "effective_timestamp": scaled.new_multiplier_effective_timestamp,
        }
    return None


def _hash(inputs: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(inputs, option=orjson.OPT_SORT_KEYS)).hexdigest()


async def compute_multiplier_plan(
    session: Session, action_id: int, *, maker: str, settings: Settings | None = None
) -> MultiplierPlan:
    settings = settings or get_settings()
    action, instrument, version = action_in_force(session, action_id)
    if action.kind == ActionKind.cash_dividend and instrument.dividend_mode != "reinvest":
        raise PlanError(
            f"{instrument.symbol} pays cash dividends in USDC",
            hint="use 'payouts compute'; or set the instrument's dividend mode to reinvest",
        )
    if instrument.token_program != TokenProgram.token2022:
        if action.kind == ActionKind.reverse_split:
            raise reverse_split_refused(instrument.symbol)
        raise PlanError(
            f"{instrument.symbol} is a classic SPL mint: it has no UI multiplier",
            hint="multiplier changes need a Token-2022 mint with ScaledUiAmount",
        )
    kind, factor = factor_of(action, version, settings)
    async with Rpc(settings=settings) as rpc:
        scaled = await read_scaled(rpc, instrument.mint)
        now = int(datetime.now(UTC).timestamp())
        pending = pending_of(scaled, now)
    base = scaled.new_multiplier if pending else scaled.multiplier
    new = float(Fraction(base) * factor)  # exact product, one rounding to float64
    factor_text = f"{factor.numerator}/{factor.denominator}"
    effective = _effective_timestamp(version, settings)
    inputs: dict[str, Any] = {
        "action_id": action_id,
        "action_version": version.version,
        "version_payload_sha256": version.payload_sha256,
        "mint": instrument.mint,
        "kind": kind,
        "factor": factor_text,
        "old_multiplier": repr(base),
        "new_multiplier": repr(new),
        "effective_timestamp": effective,
        "pending_at_planning": pending,
    }
    plan = MultiplierPlan(
        action_id=action_id,
        action_version=version.version,
        instrument_id=instrument.id or 0,
        kind=kind,
        factor=factor_text,
        old_multiplier=repr(base),
        new_multiplier=repr(new),
        effective_timestamp=effective,
        inputs=inputs,
        plan_hash=_hash(inputs),
        created_by=maker,
    )
    session.add(plan)
    session.flush()
    log.info("multiplier plan computed", plan=plan.id, **{k: inputs[k] for k in ("kind", "factor")})
    return plan


def _verify(scaled: layout.ScaledUiAmount, plan: MultiplierPlan, now: int) -> dict[str, Any]:
    expected = float(plan.new_multiplier)
    if plan.effective_timestamp > now:
        shown = {
            "new_multiplier": repr(scaled.new_multiplier),
            "effective_timestamp": scaled.new_multiplier_effective_timestamp,
        }
        ok = (
            scaled.new_multiplier == expected
            and scaled.new_multiplier_effective_timestamp == plan.effective_timestamp
        )
    else:
        shown = {"multiplier": repr(scaled.multiplier)}
        ok = scaled.multiplier == expected
    return {
        "expected_multiplier": plan.new_multiplier,
        "expected_timestamp": plan.effective_timestamp,
        "on_chain": shown,
        "matches": ok,
    }


async def execute_multiplier_plan(
    plan_id: int,
    *,
    session_factory: SessionFactory,
    settings: Settings | None = None,
    allow_overwrite: bool = False,
) -> MultiplierPlan:
    """Send the approved update exactly once, then check the mint. Re-runnable at any point."""
    settings = settings or get_settings()
    authority = load_keypair(settings.authority_keypair_path)
    with session_factory() as session:
        plan = get_multiplier_plan(session, plan_id)
        if plan.status == AdjustmentStatus.approved:
            verify_signed_multiplier_approvals(session, plan)  # before anything is signed
        instrument = session.get(Instrument, plan.instrument_id)
        assert instrument is not None
        mint = instrument.mint
        state = (plan.status, plan.signature, plan.signed_tx, plan.last_valid_block_height)
    status, signature, signed, last_valid = state
    if status in (AdjustmentStatus.done, AdjustmentStatus.failed):
        return plan
    if status not in (AdjustmentStatus.approved, AdjustmentStatus.sent):
        raise PlanError(f"multiplier plan {plan_id} is {status}; only approved plans are sent")
    async with Rpc(settings=settings) as rpc:
        result = None
        if status == AdjustmentStatus.sent and signature and signed is not None:
            result = await settle(rpc, Attempt(signature, last_valid or 0, signed))
            if result.state == "expired":
                status = AdjustmentStatus.approved  # can never land: sign a new attempt
                result = None
        if status == AdjustmentStatus.approved:
            scaled = await read_scaled(rpc, mint)
            now = int(datetime.now(UTC).timestamp())
            if repr(scaled.new_multiplier if pending_of(scaled, now) else scaled.multiplier) != (
                plan.old_multiplier
            ):
                raise MultiplierChanged(
                    f"the mint's multiplier changed since plan {plan_id} was made",
                    hint="recompute the plan from the chain as it is now",
                )
            pending = pending_of(scaled, now)
            if pending and not allow_overwrite:
                raise PendingMultiplier(
                    f"mint {mint} has a pending multiplier {pending['multiplier']} effective at "
                    f"{pending['effective_timestamp']}; setting another overwrites it",
                    hint="wait until it takes effect, or pass --allow-overwrite if the new one "
                    "already accounts for it",
                )
            blockhash = await rpc.latest_blockhash()
            update = tokens.scaled_ui_amount_update(
                Pubkey.from_string(mint),
                authority.pubkey(),
                float(plan.new_multiplier),
                plan.effective_timestamp,
                layout.TOKEN_2022_PROGRAM_ID,
            )
            memo = tokens.memo(f"corpactions multiplier plan {plan_id}")
            tx = Transaction(
                [authority], Message([update, memo], authority.pubkey()), blockhash.blockhash
            )
            table = MultiplierPlan.__table__  # type: ignore[attr-defined]
            seen = (table.c.status == AdjustmentStatus.approved.value) | (
                (table.c.status == AdjustmentStatus.sent.value) & (table.c.signature == signature)
            )
            with session_factory() as session:  # compare-and-set on the state this run saw
                won = (
                    session.connection()
                    .execute(
                        sa.update(table)
                        .where(table.c.id == plan_id, seen)
                        .values(
                            signed_tx=bytes(tx),
                            signature=str(tx.signatures[0]),
                            last_valid_block_height=blockhash.last_valid_block_height,
                            status=AdjustmentStatus.sent.value,
                        )
                    )
                    .rowcount
                )
            if won != 1:
                raise PlanError(f"another executor is sending multiplier plan {plan_id}")
            crash_point("after_persist")  # persisted, not sent: a rerun sends these bytes
            sent = await rpc.send_raw(bytes(tx), skip_preflight=True)
            result = await settle(
                rpc, Attempt(str(sent), blockhash.last_valid_block_height, bytes(tx))
            )
        scaled = await read_scaled(rpc, mint)
    with session_factory() as session:
        plan = get_multiplier_plan(session, plan_id)
        if result is None or result.state != "landed":
            return plan  # not landed yet (or expired: the next run signs again): run again
        if result.err is not None:
            plan.status = AdjustmentStatus.failed
            plan.error = f"failed on chain: {result.err}"
        else:
            plan.check = _verify(scaled, plan, int(datetime.now(UTC).timestamp()))
            plan.status = (
                AdjustmentStatus.done if plan.check["matches"] else AdjustmentStatus.failed
            )
            if not plan.check["matches"]:
                plan.error = "the mint does not show the planned multiplier"
            plan.done_at = utcnow()
        session.add(plan)
        log.info("multiplier plan finished", plan=plan_id, status=str(plan.status))
        return plan

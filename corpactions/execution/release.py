"""Escrow release: a line held back at plan time is owed once the reason has lifted.

A line is escrowed when its wallet was blocked or its stock tokens were frozen at the record
date (frozen policy ``escrow``). When the wallet is unblocked (its current row in the wallet
registry), or none of its token accounts of the instrument's mint is frozen any more, the line
becomes *carried*: owed, and paid with the holder's next payout line (whose plan, carrying it
in, goes through approval like any other). Plan totals move with it (escrowed -> carried), so
every plan still reconciles.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from solders.pubkey import Pubkey
from sqlmodel import col, select

from corpactions.chain import layout
from corpactions.chain.rpc import Rpc
from corpactions.config import Settings, get_settings
from corpactions.db import SessionFactory
from corpactions.logs import get_logger
from corpactions.models import (
    CorporateAction,
    Instrument,
    LineStatus,
    PayoutLine,
    PayoutPlan,
)
from corpactions.payouts.plan import BLOCKED_PREFIX, CARRY_IS_OWED, FROZEN_REASON
from corpactions.wallets.registry import blocked_now

log = get_logger(__name__)


async def _still_frozen(rpc: Rpc, owner: str, mint: str) -> bool:
    """True while any of the owner's token accounts of ``mint`` is frozen."""
    result = await rpc.call_json(
        "getTokenAccountsByOwner", [owner, {"mint": mint}, {"encoding": "base64"}]
    )
    for item in result["value"]:
        data = base64.b64decode(item["account"]["data"][0])
        if layout.decode_token_account(data).state == 2:
            return True
    return False


async def release_escrow(
    *, session_factory: SessionFactory, settings: Settings | None = None
) -> dict[str, Any]:
    """Release every escrowed line whose reason no longer holds; returns the released ids."""
    settings = settings or get_settings()
    with session_factory() as session:
        rows = session.exec(
            select(PayoutLine.id, PayoutLine.owner, PayoutLine.status_reason, Instrument.mint)
            .join(PayoutPlan, col(PayoutPlan.id) == col(PayoutLine.plan_id))
            .join(CorporateAction, col(CorporateAction.id) == col(PayoutPlan.action_id))
            .join(Instrument, col(Instrument.id) == col(CorporateAction.instrument_id))
            .where(
                PayoutLine.status == LineStatus.escrowed,
                col(PayoutPlan.status).in_(CARRY_IS_OWED),
                PayoutPlan.asset == "usdc",  # carried amounts are USDC owed
            )
        ).all()
        blocked = blocked_now(session)
    releasable: list[tuple[int, str]] = []
    async with Rpc(settings=settings) as rpc:
        for line_id, owner, status_reason, mint in rows:
            reason = status_reason or ""
            if owner in blocked:
                continue
            if reason.startswith(BLOCKED_PREFIX):
                releasable.append((line_id or 0, "wallet unblocked"))
            elif reason == FROZEN_REASON and not await _still_frozen(
                rpc, owner, str(Pubkey.from_string(mint))
            ):
                releasable.append((line_id or 0, "stock tokens no longer frozen"))
    released: list[int] = []
    for line_id, why in releasable:
        with session_factory() as session:
            line = session.get(PayoutLine, line_id)
            if line is None or line.status != LineStatus.escrowed:
                continue  # released by another worker meanwhile
            plan = session.get(PayoutPlan, line.plan_id)
            assert plan is not None
            line.status = LineStatus.carried
            line.status_reason = (
                f"released from escrow {datetime.now(UTC):%Y-%m-%d} ({why}); "
                f"was: {line.status_reason}"
            )[:500]
            plan.escrowed_total -= line.amount_due
            plan.carried_total += line.amount_due
            session.add(line)
            session.add(plan)
            released.append(line_id)
        log.info("escrow released", line=line_id, reason=why)
    return {"released": released}

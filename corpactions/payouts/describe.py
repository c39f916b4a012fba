"""The unit of a stored plan's amounts (USDC, or shares of its instrument), read from the ledger."""

from __future__ import annotations

from sqlmodel import Session

from corpactions.config import Settings, get_settings
from corpactions.models import CorporateAction, Instrument, PayoutPlan, Snapshot
from corpactions.units import Unit, plan_unit


def unit_of(session: Session, plan: PayoutPlan, settings: Settings | None = None) -> Unit:
    settings = settings or get_settings()
    action = session.get(CorporateAction, plan.action_id)
    instrument = session.get(Instrument, action.instrument_id) if action else None
    snapshot = session.get(Snapshot, plan.snapshot_id) if plan.asset == "stock" else None
    return plan_unit(
        asset=plan.asset,
        inputs=plan.inputs,
        symbol=instrument.symbol if instrument else str(plan.inputs.get("symbol", "")),
        payout_decimals=settings.payout_decimals,
        token_decimals=instrument.decimals if instrument else None,
        multiplier=snapshot.multiplier if snapshot else None,
    )

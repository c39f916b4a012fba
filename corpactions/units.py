"""What an amount is: its asset, its unit and how to show it, and what a payout kind is called.

A plan delivers either USDC (cash dividends, cash in lieu; ``payout_decimals``) or new shares of
the instrument (a classic mint's forward split or stock dividend; the instrument's decimals).
The two never add up: USDC totals and the tax summary count USDC only, shares received are
reported apart. A Token-2022 UI multiplier scales shares for display only; every amount stays
integer base units underneath.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

KIND_LABELS = {
    "cash_dividend": "cash dividend",
    "stock_dividend": "stock dividend",
    "split": "forward split (shares)",
    "forward_split": "forward split (shares)",
    "reverse_split": "reverse split",
    "cash_in_lieu": "cash in lieu",
    "reinvestment": "dividend reinvestment (shares)",
    "meeting": "shareholder meeting",
    "ticker_change": "ticker change",
}
"""Payout-plan kinds and action kinds, named as an operator or holder says them."""

RATE_MEANINGS = {
    "cash_dividend": "USD per share",
    "cash_in_lieu": "USD price per share (fractions paid in cash)",
    "split": "shares after per share before",
    "stock_dividend": "shares after per share before",
}
"""What a plan's ``rate_per_share`` is, by plan kind."""

SPLIT_NOTE = "a split changes share count, not cost"
"""The cost-basis note that goes with every report of shares received."""


def kind_label(kind: str) -> str:
    return KIND_LABELS.get(kind, kind.replace("_", " "))


def rate_meaning(kind: str) -> str:
    return RATE_MEANINGS.get(kind, "per share")


@dataclass(frozen=True)
class Unit:
    """How one plan's amounts are counted."""

    asset: str
    """``USDC``, or the instrument's symbol for shares."""
    unit: str
    """``USDC`` or ``shares``."""
    decimals: int
    multiplier: str | None = None
    """Token-2022 UI multiplier in force (shares only): applied to what is shown, never stored."""

    @property
    def is_shares(self) -> bool:
        return self.unit == "shares"

    @property
    def label(self) -> str:
        return "USDC" if not self.is_shares else f"{self.asset} shares"


USDC = "USDC"


def usdc(decimals: int) -> Unit:
    return Unit(asset=USDC, unit=USDC, decimals=decimals)


def shares_of(symbol: str, decimals: int, multiplier: str | None = None) -> Unit:
    return Unit(asset=symbol, unit="shares", decimals=decimals, multiplier=multiplier)


def plan_unit(
    *,
    asset: str,
    inputs: dict[str, Any],
    symbol: str,
    payout_decimals: int,
    token_decimals: int | None = None,
    multiplier: str | None = None,
) -> Unit:
    """The unit of a plan's amounts from its ``asset`` (``usdc`` or ``stock``) and inputs."""
    if asset == "stock":
        decimals = inputs.get("token_decimals", token_decimals)
        return shares_of(symbol, int(decimals if decimals is not None else 0), multiplier)
    return usdc(int(inputs.get("payout_decimals", payout_decimals)))


def decimal_text(base_units: int, decimals: int, multiplier: str | None = None) -> str:
    """Exact decimal text of ``base_units`` / 10**decimals (times a UI multiplier, if any)."""
    value = Decimal(base_units).scaleb(-decimals)
    if multiplier is not None:
        value *= Decimal(multiplier)
    return f"{value:.{decimals}f}"


def human(base_units: int | str, unit: Unit) -> str:
    """``1,234.567890 USDC`` or ``196.00000000 AAPL shares``: grouped, every decimal, the unit."""
    value = Decimal(int(base_units)).scaleb(-unit.decimals)
    if unit.multiplier is not None:
        value *= Decimal(unit.multiplier)
    return f"{value:,.{unit.decimals}f} {unit.label}"

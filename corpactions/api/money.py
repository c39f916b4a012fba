"""Amounts as the API shows them: integer base units (a string), a decimal display string, and
what they count (``asset`` USDC or the instrument's symbol; ``unit`` USDC or shares)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from corpactions.units import Unit, decimal_text


class Money(BaseModel):
    base_units: str = Field(description="Integer amount in the token's base units.")
    display: str = Field(
        description="The same amount as a decimal, all decimals shown (shares of a Token-2022 "
        "mint with its UI multiplier applied)."
    )
    asset: str = Field(description="USDC, or the instrument's symbol for shares.")
    unit: str = Field(description="USDC or shares.")


def money(base_units: int, unit: Unit) -> Money:
    return Money(**money_json(base_units, unit))


def money_json(base_units: int, unit: Unit) -> dict[str, str]:
    """``Money`` as plain JSON data (the history's hot path builds no model objects)."""
    return {
        "base_units": str(base_units),
        "display": decimal_text(base_units, unit.decimals, unit.multiplier),
        "asset": unit.asset,
        "unit": unit.unit,
    }


def display(base_units: int, decimals: int, multiplier: str | None = None) -> str:
    """Exact decimal text of ``base_units`` / 10**decimals (times a UI multiplier, if any)."""
    return decimal_text(base_units, decimals, multiplier)

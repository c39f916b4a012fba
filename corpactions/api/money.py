"""Amounts as the API shows them: integer base units (a string) and a decimal display string."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, Field


class Money(BaseModel):
    base_units: str = Field(description="Integer amount in the token's base units.")
    display: str = Field(description="The same amount as a decimal, all decimals shown.")


def money(base_units: int, decimals: int) -> Money:
    return Money(base_units=str(base_units), display=display(base_units, decimals))


def money_json(base_units: int, decimals: int) -> dict[str, str]:
    """``Money`` as plain JSON data (the history's hot path builds no model objects)."""
    return {"base_units": str(base_units), "display": display(base_units, decimals)}


def display(base_units: int, decimals: int, multiplier: str | None = None) -> str:
    """Exact decimal text of ``base_units`` / 10**decimals (times a UI multiplier, if any)."""
    value = Decimal(base_units).scaleb(-decimals)
    if multiplier is not None:
        value *= Decimal(multiplier)
    return f"{value:.{decimals}f}"

"""Routes: an instrument's backing — token supply against the custodian's shares."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from corpactions.api import queries
from corpactions.api.deps import SYMBOL, LimitQuery, ReadSession
from corpactions.api.schemas import ERRORS, Backing

router = APIRouter(tags=["instruments"])


@router.get(
    "/v1/instruments/{symbol}/backing",
    response_model=Backing,
    responses=ERRORS,
    summary="Token supply against the custodian's shares: the latest check and its history",
)
def instrument_backing(
    symbol: Annotated[str, Path(description="Ticker, e.g. AAPL.", pattern=SYMBOL)],
    session: ReadSession,
    limit: LimitQuery = 100,
) -> Backing:
    return queries.instrument_backing(session, symbol, limit)

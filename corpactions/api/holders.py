"""Routes: a holder wallet's payouts, yearly summary, line proofs and ballots."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated

import orjson
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import PlainTextResponse, Response

from corpactions.api import meetings, queries
from corpactions.api.deps import (
    MAX_ID,
    AppSettings,
    CursorQuery,
    LimitQuery,
    ReadSession,
    SymbolQuery,
    Wallet,
)
from corpactions.api.schemas import ERRORS, LineProof, PayoutPage, Problem, Summary
from corpactions.payouts.verify import line_proof

router = APIRouter(tags=["holders"])


class Format(StrEnum):
    json = "json"
    csv = "csv"


@router.get(
    "/v1/holders/{wallet}/payouts",
    response_model=PayoutPage,
    responses=ERRORS,
    summary="A wallet's payout lines, newest first",
)
def holder_payouts(
    wallet: Wallet,
    session: ReadSession,
    settings: AppSettings,
    symbol: SymbolQuery = None,
    since: Annotated[
        date | None, Query(alias="from", description="Earliest pay date, YYYY-MM-DD.")
    ] = None,
    until: Annotated[date | None, Query(alias="to", description="Latest pay date, YYYY-MM-DD.")] = (
        None
    ),
    cursor: CursorQuery = None,
    limit: LimitQuery = 100,
) -> Response:
    page = queries.holder_payouts(
        session,
        wallet,
        settings=settings,
        symbol=symbol,
        since=since,
        until=until,
        cursor=cursor,
        limit=limit,
    )
    # The documented PayoutPage shape, serialized directly (the hot path; the schema tests
    # check every response against the documented schema).
    return Response(orjson.dumps(page), media_type="application/json")


@router.get(
    "/v1/holders/{wallet}/summary",
    response_model=Summary,
    responses={
        **ERRORS,
        200: {"content": {"text/csv": {}}, "description": "JSON, or CSV when asked."},
    },
    summary="USDC totals per symbol and year (gross, withheld, net, paid); shares apart",
)
def holder_summary(
    wallet: Wallet,
    session: ReadSession,
    settings: AppSettings,
    request: Request,
    fmt: Annotated[
        Format | None,
        Query(alias="format", description="csv for a CSV file (or Accept: text/csv)."),
    ] = None,
) -> Summary | Response:
    summary = queries.holder_summary(session, wallet, settings=settings)
    wants_csv = fmt == Format.csv or (
        fmt is None and "text/csv" in request.headers.get("accept", "")
    )
    if wants_csv:
        return PlainTextResponse(
            queries.summary_csv(summary),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{wallet}-payouts.csv"'},
        )
    return summary


@router.get(
    "/v1/holders/{wallet}/proofs/{plan_id}",
    response_model=LineProof,
    responses={
        **ERRORS,
        409: {"model": Problem, "description": "The plan has no Merkle root."},
    },
    summary="A holder's line with its Merkle proof up to the plan root",
)
def holder_proof(
    wallet: Wallet, plan_id: Annotated[int, Path(ge=1, le=MAX_ID)], session: ReadSession
) -> LineProof:
    return LineProof(**line_proof(session, plan_id, wallet))


@router.get(
    "/v1/holders/{wallet}/ballots",
    response_model=list[meetings.BallotOut],
    responses=ERRORS,
    summary="A wallet's ballots (current and replaced), newest first",
)
def holder_ballots(wallet: Wallet, session: ReadSession) -> list[meetings.BallotOut]:
    return meetings.wallet_ballots(session, wallet)

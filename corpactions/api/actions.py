"""Routes: corporate actions, one action's history and plans, an attested plan's ledger file."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import PlainTextResponse

from corpactions.api import queries
from corpactions.api.deps import (
    MAX_ID,
    AppSettings,
    CursorQuery,
    LimitQuery,
    ReadSession,
    SymbolQuery,
)
from corpactions.api.schemas import ERRORS, ActionDetail, ActionPage, Problem
from corpactions.execution.attest import read_ledger
from corpactions.models import ActionStatus

router = APIRouter(tags=["actions"])


@router.get("/v1/actions", response_model=ActionPage, responses=ERRORS, summary="Actions")
def list_actions(
    session: ReadSession,
    symbol: SymbolQuery = None,
    status: Annotated[ActionStatus | None, Query(description="Action status.")] = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = 100,
) -> ActionPage:
    return queries.list_actions(
        session,
        symbol=symbol,
        status=status.value if status else None,
        cursor=cursor,
        limit=limit,
    )


@router.get(
    "/v1/actions/{action_id}",
    response_model=ActionDetail,
    responses=ERRORS,
    summary="One action: versions, snapshot, plans, attestation",
)
def get_action(
    action_id: Annotated[int, Path(ge=1, le=MAX_ID)], session: ReadSession, settings: AppSettings
) -> ActionDetail:
    return queries.action_detail(session, action_id, settings=settings)


@router.get(
    "/v1/plans/{plan_id}/ledger",
    response_model=None,
    responses={
        **ERRORS,
        200: {"content": {"text/csv": {}}, "description": "The attested ledger file."},
        409: {"model": Problem, "description": "The plan has no attested ledger yet."},
    },
    summary="The exact ledger file whose sha256 was attested on chain",
)
def plan_ledger(
    plan_id: Annotated[int, Path(ge=1, le=MAX_ID)], session: ReadSession
) -> PlainTextResponse:
    data = read_ledger(session, plan_id)
    return PlainTextResponse(
        data.decode(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="plan-{plan_id}-ledger.csv"'},
    )

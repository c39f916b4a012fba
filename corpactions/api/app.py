"""The FastAPI application: the holder page at ``/``, read routes over the ledger, and one
write, a wallet-signed ballot (``POST /v1/meetings/{id}/ballots``).

User input is validated before any query (a bad wallet, id, date or cursor is a 422 with a
readable message, an unknown id a 404), so no request a person can make is a 500. Request
bodies are limited before they are parsed (``corpactions.api.limits``: a ballot to its 4 KiB
message and envelope, a 413 otherwise); every GET route also answers HEAD. A ledger outage on
any route is a 503 that names no host, driver or URL. The work is in ``corpactions.api.queries``
and ``corpactions.api.meetings``; routes only call and shape it.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Annotated

import orjson
import sqlalchemy as sa
from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from sqlalchemy.exc import InterfaceError, OperationalError

from corpactions import __version__, db
from corpactions.addresses import parse_address
from corpactions.api import meetings, queries, reports
from corpactions.api.deps import MAX_ID, ReadSession
from corpactions.api.limits import BodyLimit, HeadAsGet
from corpactions.api.schemas import (
    ActionDetail,
    ActionPage,
    LineProof,
    PayoutPage,
    Problem,
    Summary,
)
from corpactions.config import Settings, get_settings
from corpactions.errors import (
    BallotRejected,
    CorpactionsError,
    LedgerError,
    MeetingError,
    NotFound,
    PlanError,
    UserInputError,
)
from corpactions.execution.attest import read_ledger
from corpactions.logs import get_logger
from corpactions.models import ActionStatus
from corpactions.payouts.verify import line_proof

log = get_logger(__name__)
LEDGER_UNAVAILABLE = "the ledger database is unavailable"
SYMBOL = r"^[A-Za-z0-9.\-]{1,16}$"
ERRORS: dict[int | str, dict[str, object]] = {
    404: {"model": Problem, "description": "No such wallet history, action or plan."},
    422: {"model": Problem, "description": "A parameter is not acceptable; detail says why."},
}


class Format(StrEnum):
    json = "json"
    csv = "csv"


async def _wallet(
    wallet: Annotated[str, Path(description="Holder wallet, base58 (32 bytes).", max_length=64)],
) -> str:
    return parse_address(wallet, what="wallet")


Wallet = Annotated[str, Depends(_wallet)]


SymbolQuery = Annotated[
    str | None, Query(description="Ticker, e.g. AAPL.", pattern=SYMBOL, max_length=16)
]
CursorQuery = Annotated[
    int | None, Query(ge=1, le=MAX_ID, description="next_cursor of the previous page.")
]
LimitQuery = Annotated[int, Query(ge=1, le=500, description="Items per page.")]


def _status_of(exc: CorpactionsError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, UserInputError | BallotRejected):
        return 422
    if isinstance(exc, MeetingError):
        return 409
    if isinstance(exc, PlanError):
        return 409
    if isinstance(exc, LedgerError):
        return 503
    return 500


@cache
def _page_template() -> str:
    return (resources.files("corpactions.api") / "static" / "index.html").read_text()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="corpactions holder payout history",
        version=__version__,
        description="Read-only history of corporate-action payouts per holder wallet. Amounts "
        "are integer base units (strings) with a decimal display string; times are UTC.",
    )
    if settings.api_cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.api_cors_origins,
            allow_methods=["GET"],
            allow_headers=["*"],
        )

    app.add_middleware(BodyLimit)
    app.add_middleware(HeadAsGet)

    @app.exception_handler(CorpactionsError)
    async def _ours(_: Request, exc: CorpactionsError) -> JSONResponse:
        status = _status_of(exc)
        if status >= 500:
            log.error("request failed", error=exc.one_line())
        if isinstance(exc, LedgerError):  # its message may name the database's host or URL
            return JSONResponse({"detail": LEDGER_UNAVAILABLE}, status_code=503)
        return JSONResponse({"detail": exc.one_line()}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        """One readable line, like every other error: ``<parameter>: <what is wrong>``."""
        parts = []
        for error in exc.errors():
            where = [str(p) for p in error.get("loc", ()) if p not in ("path", "query")]
            parts.append(f"{'.'.join(where) or 'request'}: {error.get('msg', 'invalid')}")
        return JSONResponse({"detail": "; ".join(parts)}, status_code=422)

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def _database(_: Request, exc: OperationalError | InterfaceError) -> JSONResponse:
        log.error("ledger database error", error=str(exc.orig))
        return JSONResponse({"detail": LEDGER_UNAVAILABLE}, status_code=503)

    @app.get(
        "/v1/holders/{wallet}/payouts",
        response_model=PayoutPage,
        responses=ERRORS,
        summary="A wallet's payout lines, newest first",
    )
    def holder_payouts(
        wallet: Wallet,
        session: ReadSession,
        symbol: SymbolQuery = None,
        since: Annotated[
            date | None, Query(alias="from", description="Earliest pay date, YYYY-MM-DD.")
        ] = None,
        until: Annotated[
            date | None, Query(alias="to", description="Latest pay date, YYYY-MM-DD.")
        ] = None,
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

    @app.get(
        "/v1/holders/{wallet}/summary",
        response_model=Summary,
        responses={
            **ERRORS,
            200: {"content": {"text/csv": {}}, "description": "JSON, or CSV when asked."},
        },
        summary="Totals per symbol and year: gross, withheld, net, paid",
    )
    def holder_summary(
        wallet: Wallet,
        session: ReadSession,
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

    @app.get("/v1/actions", response_model=ActionPage, responses=ERRORS, summary="Actions")
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

    @app.get(
        "/v1/actions/{action_id}",
        response_model=ActionDetail,
        responses=ERRORS,
        summary="One action: versions, snapshot, plans, attestation",
    )
    def get_action(
        action_id: Annotated[int, Path(ge=1, le=MAX_ID)], session: ReadSession
    ) -> ActionDetail:
        return queries.action_detail(session, action_id, settings=settings)

    @app.get(
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

    @app.get(
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

    @app.get(
        "/v1/holders/{wallet}/ballots",
        response_model=list[meetings.BallotOut],
        responses=ERRORS,
        summary="A wallet's ballots (current and replaced), newest first",
    )
    def holder_ballots(wallet: Wallet, session: ReadSession) -> list[meetings.BallotOut]:
        return meetings.wallet_ballots(session, wallet)

    app.include_router(meetings.router)
    app.include_router(reports.router)

    @app.get("/healthz", summary="The ledger database answers")
    def healthz(session: ReadSession) -> dict[str, str]:
        session.execute(sa.text("SELECT 1"))
        return {"status": "ok"}

    @app.get("/readyz", summary="The ledger schema is the one this code needs")
    def readyz() -> JSONResponse:
        try:
            db.require_current_schema()
        except CorpactionsError as exc:
            log.warning("not ready", error=exc.one_line())
            detail = "the ledger schema is not the one this code needs"
            if "cannot reach" in exc.message or "no ledger" in exc.message:
                detail = LEDGER_UNAVAILABLE
            return JSONResponse({"status": "not ready", "detail": detail}, 503)
        return JSONResponse({"status": "ready"})

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def holder_page() -> HTMLResponse:
        page = _page_template().replace(
            "{{EXPLORER_TX_URL}}", settings.explorer_tx_url.replace('"', "&quot;")
        )
        return HTMLResponse(page)

    return app

"""The FastAPI application: the holder page at ``/``, read routes over the ledger, and one
write, a wallet-signed ballot (``POST /v1/meetings/{id}/ballots``).

User input is validated before any query (a bad wallet, id, date or cursor is a 422 with a
readable message, an unknown id a 404), so no request a person can make is a 500. Request
bodies are limited before they are parsed (``corpactions.api.limits``: a ballot to its 4 KiB
message and envelope, a 413 otherwise); every GET route also answers HEAD. A ledger outage on
any route is a 503 that names no host, driver or URL. Routes live in one ``APIRouter`` per
resource (``holders``, ``actions``, ``meetings``, ``reports``, ``service``: the page and health);
they only call the domain (``corpactions.api.queries`` and the rooms below) and shape its answer.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError

from corpactions import __version__
from corpactions.api import actions, holders, instruments, meetings, reports, service
from corpactions.api.limits import BodyLimit, HeadAsGet
from corpactions.api.service import LEDGER_UNAVAILABLE
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
from corpactions.logs import get_logger

log = get_logger(__name__)
ROUTERS = (
    holders.router,
    actions.router,
    instruments.router,
    meetings.router,
    reports.router,
    service.router,
)
"""One router per resource; each module holds its routes and only calls the domain."""


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


async def _ours(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CorpactionsError)
    status = _status_of(exc)
    if status >= 500:
        log.error("request failed", error=exc.one_line())
    if isinstance(exc, LedgerError):  # its message may name the database's host or URL
        return JSONResponse({"detail": LEDGER_UNAVAILABLE}, status_code=503)
    return JSONResponse({"detail": exc.one_line()}, status_code=status)


async def _invalid(_: Request, exc: Exception) -> JSONResponse:
    """One readable line, like every other error: ``<parameter>: <what is wrong>``."""
    assert isinstance(exc, RequestValidationError)
    parts = []
    for error in exc.errors():
        where = [str(p) for p in error.get("loc", ()) if p not in ("path", "query")]
        parts.append(f"{'.'.join(where) or 'request'}: {error.get('msg', 'invalid')}")
    return JSONResponse({"detail": "; ".join(parts)}, status_code=422)


async def _database(_: Request, exc: Exception) -> JSONResponse:
    log.error("ledger database error", error=str(getattr(exc, "orig", exc)))
    return JSONResponse({"detail": LEDGER_UNAVAILABLE}, status_code=503)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="corpactions holder payout history",
        version=__version__,
        description="Corporate-action payouts per holder wallet, actions, meetings and period "
        "reports; wallet-signed ballots are the one write. Amounts are integer base units "
        "(strings) with a decimal display string, their asset and unit; times are UTC.",
    )
    app.state.settings = settings
    if settings.api_cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.api_cors_origins,
            allow_methods=["GET"],
            allow_headers=["*"],
        )
    app.add_middleware(BodyLimit)
    app.add_middleware(HeadAsGet)
    app.add_exception_handler(CorpactionsError, _ours)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(OperationalError, _database)
    app.add_exception_handler(InterfaceError, _database)
    for router in ROUTERS:
        app.include_router(router)
    return app

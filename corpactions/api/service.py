"""Routes: the holder page at ``/``, liveness and readiness."""

from __future__ import annotations

from functools import cache
from importlib import resources

import sqlalchemy as sa
from fastapi import APIRouter
from fastapi.responses import HTMLResponse, JSONResponse

from corpactions import db
from corpactions.api.deps import AppSettings, ReadSession
from corpactions.errors import CorpactionsError
from corpactions.logs import get_logger

log = get_logger(__name__)
router = APIRouter()
LEDGER_UNAVAILABLE = "the ledger database is unavailable"


@cache
def _page_template() -> str:
    return (resources.files("corpactions.api") / "static" / "index.html").read_text()


@router.get("/healthz", summary="The ledger database answers")
def healthz(session: ReadSession) -> dict[str, str]:
    session.execute(sa.text("SELECT 1"))
    return {"status": "ok"}


@router.get("/readyz", summary="The ledger schema is the one this code needs")
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


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def holder_page(settings: AppSettings) -> HTMLResponse:
    page = _page_template().replace(
        "{{EXPLORER_TX_URL}}", settings.explorer_tx_url.replace('"', "&quot;")
    )
    return HTMLResponse(page)

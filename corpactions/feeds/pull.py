"""Pull corporate actions for the registered tickers from Polygon or Alpaca, then ingest them."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from sqlmodel import Session

from corpactions.config import Settings, get_settings
from corpactions.errors import ConfigurationError, UserInputError
from corpactions.feeds import alpaca, polygon
from corpactions.feeds.formats import FeedFormat, PayloadTooLarge, at_page, parse_payload
from corpactions.feeds.http import get, pages
from corpactions.feeds.ingest import IngestReport, ingest, quarantine
from corpactions.feeds.normalized import (
    MalformedPayload,
    NormalizedAction,
    Rejected,
    escape_controls,
)
from corpactions.instruments import list_instruments
from corpactions.logs import get_logger

log = get_logger(__name__)
SOURCES = ("polygon", "alpaca")
ALPACA_WINDOW_DAYS = 90


def _retry(settings: Settings) -> dict[str, Any]:
    return {"max_retries": settings.feed_max_retries, "max_bytes": settings.feed_max_bytes}


async def _polygon(
    settings: Settings, symbols: list[str], since: date
) -> list[NormalizedAction | Rejected]:
    if settings.polygon_api_key is None:
        raise ConfigurationError("no Polygon API key", hint="set CORPACTIONS_POLYGON_API_KEY")
    headers = {"Authorization": f"Bearer {settings.polygon_api_key.get_secret_value()}"}
    base = settings.polygon_base_url.rstrip("/")
    dividends, splits = (
        ("/v3/reference/dividends", "/v3/reference/splits")
        if settings.polygon_api == "v3"
        else ("/stocks/v1/dividends", "/stocks/v1/splits")
    )
    records: list[NormalizedAction | Rejected] = []
    page = 0
    async with httpx.AsyncClient(timeout=settings.feed_timeout_seconds) as client:
        for symbol in symbols:
            for path, date_field in ((dividends, "ex_dividend_date"), (splits, "execution_date")):
                params = {"ticker": symbol, f"{date_field}.gte": since.isoformat(), "limit": 1000}
                async for body in pages(
                    client, base + path, params=params, headers=headers, **_retry(settings)
                ):
                    page += 1
                    records.extend(_page(polygon.SOURCE, FeedFormat.polygon, body, page, settings))
    return records


def _page(
    source: str, fmt: FeedFormat, body: bytes, page: int, settings: Settings
) -> list[NormalizedAction | Rejected]:
    """The records of one provider response, positioned by page; an unreadable or oversized
    response is one refused record of its own."""
    if len(body) > settings.feed_max_bytes:
        reason = (
            f"response is larger than {settings.feed_max_bytes} bytes "
            "(CORPACTIONS_FEED_MAX_BYTES); not read"
        )
        raw = escape_controls(body[:4096].decode(errors="replace"))
        return [Rejected.of(source, reason, raw, position=f"page {page}")]
    try:
        return at_page(parse_payload(fmt, body), page)
    except MalformedPayload as exc:
        raw = escape_controls(body.decode(errors="replace"))
        return [Rejected.of(source, exc.message, raw, position=f"page {page}")]


async def _alpaca(
    settings: Settings, symbols: list[str], since: date, until: date
) -> list[NormalizedAction | Rejected]:
    if not settings.alpaca_key_id or settings.alpaca_secret_key is None:
        raise ConfigurationError(
            "no Alpaca API credentials",
            hint="set CORPACTIONS_ALPACA_KEY_ID and CORPACTIONS_ALPACA_SECRET_KEY",
        )
    headers = {
        "APCA-API-KEY-ID": settings.alpaca_key_id,
        "APCA-API-SECRET-KEY": settings.alpaca_secret_key.get_secret_value(),
    }
    url = settings.alpaca_base_url.rstrip("/") + "/v2/corporate_actions/announcements"
    records: list[NormalizedAction | Rejected] = []
    page = 0
    async with httpx.AsyncClient(timeout=settings.feed_timeout_seconds) as client:
        for symbol in symbols:
            start = since
            while start <= until:  # the endpoint takes at most 90 days per request
                end = min(start + timedelta(days=ALPACA_WINDOW_DAYS - 1), until)
                params = {
                    "ca_types": "dividend,split",
                    "since": start.isoformat(),
                    "until": end.isoformat(),
                    "symbol": symbol,
                }
                body = await get(client, url, params=params, headers=headers, **_retry(settings))
                page += 1
                records.extend(_page(alpaca.SOURCE, FeedFormat.alpaca, body, page, settings))
                start = end + timedelta(days=1)
    return records


def pull(
    *,
    session: Session,
    source: str,
    since: date | None = None,
    until: date | None = None,
    settings: Settings | None = None,
) -> IngestReport:
    """Fetch every page for every active instrument from ``source`` and ingest it."""
    settings = settings or get_settings()
    if source not in SOURCES:
        raise UserInputError(f"unknown feed source {source!r}; choose {' or '.join(SOURCES)}")
    pulled_at = datetime.now(UTC)
    today = pulled_at.date()
    start = since or today - timedelta(days=settings.feed_lookback_days)
    end = until or today + timedelta(days=ALPACA_WINDOW_DAYS)
    if start > end:
        raise UserInputError(f"--since {start} is after the end of the window {end}")
    symbols = [i.symbol for i in list_instruments(session=session, active_only=True)]
    if not symbols:
        raise UserInputError(
            "no instruments are registered", hint="add one with 'corpactions instruments add'"
        )
    if source == "polygon":
        records = asyncio.run(_polygon(settings, symbols, start))
    else:
        records = asyncio.run(_alpaca(settings, symbols, start, end))
    log.info(
        "feed pulled", source=source, symbols=len(symbols), records=len(records), since=str(start)
    )
    origin = f"{source} pull at {pulled_at.isoformat(timespec='seconds')}"
    return ingest(records, session=session, origin=origin, fmt=source)


def pull_configured(
    *, session: Session, settings: Settings | None = None
) -> dict[str, dict[str, Any]]:
    """Pull every source whose credentials are set (the scheduled task)."""
    settings = settings or get_settings()
    reports: dict[str, dict[str, Any]] = {}
    if settings.polygon_api_key is not None:
        reports["polygon"] = pull(session=session, source="polygon", settings=settings).as_dict()
    if settings.alpaca_key_id and settings.alpaca_secret_key is not None:
        reports["alpaca"] = pull(session=session, source="alpaca", settings=settings).as_dict()
    return reports


def quarantine_malformed(
    session: Session,
    source: str,
    error: MalformedPayload,
    raw: bytes,
    *,
    origin: str | None = None,
    fmt: str | None = None,
) -> IngestReport:
    """One quarantine entry for a whole payload that could not be read (position 'file')."""
    report = IngestReport()
    kept = error.head if isinstance(error, PayloadTooLarge) else raw
    record = Rejected.of(source, error.message, kept.decode(errors="replace"), position="file")
    quarantine(session, [record], report, origin=origin, fmt=fmt)
    return report

"""The shared HTTP client of the feed pulls: timeouts, retries with backoff on 429/5xx (honouring
``Retry-After``), paging to the end by ``next_url``, and one error type for what cannot be had."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import orjson

from corpactions.errors import FeedError
from corpactions.logs import get_logger

log = get_logger(__name__)
_RETRY_STATUSES = {429, 500, 502, 503, 504}


class FeedUnavailable(FeedError):
    """The provider did not answer usefully after the retries; try again later."""

    transient = True


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return 0.0
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 0.0
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


async def _body(response: httpx.Response, max_bytes: int | None) -> bytes:
    """The response body, read in chunks; past ``max_bytes`` reading stops and what was read
    (``max_bytes + 1`` bytes) is returned for the caller to refuse, never the whole."""
    if max_bytes is None:
        return await response.aread()
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            break
    return b"".join(chunks)[: max_bytes + 1]


async def get(
    client: httpx.AsyncClient,
    url: str,
    *,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    max_retries: int = 5,
    backoff: float = 0.5,
    max_wait: float = 60.0,
    max_bytes: int | None = None,
) -> bytes:
    delay = backoff
    for attempt in range(max_retries + 1):
        try:
            async with client.stream("GET", url, params=params, headers=headers) as response:
                if response.status_code == 200:
                    return await _body(response, max_bytes)
                await response.aread()
        except httpx.TransportError as exc:
            if attempt >= max_retries:
                raise FeedUnavailable(
                    f"{url} did not answer: {exc}", hint="retried; try later"
                ) from exc
            wait = delay
        else:
            if response.status_code in (401, 403):
                raise FeedError(
                    f"{url} refused the credentials (HTTP {response.status_code})",
                    hint="check CORPACTIONS_POLYGON_API_KEY or CORPACTIONS_ALPACA_*",
                )
            if response.status_code not in _RETRY_STATUSES or attempt >= max_retries:
                raise FeedUnavailable(
                    f"{url} answered HTTP {response.status_code}: {response.text[:200]}",
                    hint="retried with backoff; try later or check the provider's status",
                )
            wait = max(delay, retry_after_seconds(response.headers.get("retry-after")))
        wait = min(wait, max_wait)
        log.info("feed request retried", url=url, attempt=attempt + 1, wait=round(wait, 2))
        await asyncio.sleep(wait * (1 + random.random() / 10))  # noqa: S311 - jitter
        delay = min(delay * 2, max_wait)
    raise AssertionError("unreachable")  # pragma: no cover


async def pages(
    client: httpx.AsyncClient,
    url: str,
    *,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    max_pages: int = 10_000,
    **retry: Any,
) -> AsyncIterator[bytes]:
    """Every page of a listing that links the next one with ``next_url``."""
    next_url: str | None = url
    first = True
    count = 0
    while next_url:
        body = await get(
            client, next_url, params=params if first else None, headers=headers, **retry
        )
        first = False
        count += 1
        yield body
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            return  # the caller quarantines the unreadable page; nothing links onward
        candidate = document.get("next_url") if isinstance(document, dict) else None
        next_url = candidate if isinstance(candidate, str) and candidate else None
        if count >= max_pages:
            raise FeedUnavailable(f"{url} still had more pages after {max_pages}")

"""One large JSON-RPC response, read whole: the getProgramAccounts body of a snapshot.

A mint with a million holders answers getProgramAccounts with hundreds of megabytes. Read
through httpx's async stream that body arrives in ~7,500 chunks of 64 KiB, each a trip through
the event loop and h11 (1.5-2.6 s for 490 MB here); ``http.client`` reads a body of known
length in 4 MiB reads straight into one preallocated buffer (0.6 s), in a worker thread so the
caller's event loop is not blocked, and reports each arrival to a receiver that can start on
the body before it is complete (``snapshots.scan.StreamScan``). Chunked transfer and
gzip/deflate encodings are read too (whole, then handed over).
Every other call (supply, mint, block time) stays on ``corpactions.chain.rpc.Rpc``; this
module only posts one request and returns the raw body, with the same error translation
(429/5xx/no answer: transient and retried with backoff; any other status: refused).
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import random
import zlib
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlsplit

import orjson

from corpactions.errors import RpcRefused, TransientRpcError

_RETRY_STATUSES = {429, 500, 502, 503, 504}
_DECODERS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


def _transient(message: str, retry_after: str | None = None) -> TransientRpcError:
    error = TransientRpcError(message)
    try:
        error.retry_after = float(retry_after) if retry_after else 0.0  # type: ignore[attr-defined]
    except ValueError:
        error.retry_after = 0.0  # type: ignore[attr-defined]
    return error


class Receiver(Protocol):
    """Where a body of known length is read to as it arrives (``snapshots.scan.StreamScan``)."""

    buffer: bytearray

    def arrived(self, end: int) -> None: ...

    def abandon(self) -> None: ...


_READ = 1 << 22  # bytes per read into a receiver's buffer


def _read_into(response: http.client.HTTPResponse, receiver: Receiver) -> bytearray:
    view = memoryview(receiver.buffer)
    got = 0
    try:
        while got < len(view):
            count = response.readinto(view[got : got + _READ])
            if not count:
                break
            got += count
            receiver.arrived(got)
    except BaseException:
        receiver.abandon()
        raise
    if got < len(view):
        receiver.abandon()
        raise http.client.IncompleteRead(bytes(0), len(view) - got)
    return receiver.buffer


def post_once(
    url: str,
    body: bytes,
    *,
    timeout: float,
    method: str,
    receiver: Callable[[int], Receiver] | None = None,
) -> bytes | bytearray:
    """POST ``body`` to ``url`` and return the decoded response body (blocking). With
    ``receiver``, a plain body of known length is read into ``receiver(length).buffer`` and
    each arrival reported (a chunked or compressed body is read whole as without)."""
    parts = urlsplit(url)
    connection_class = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = {
        "Content-Type": "application/json",
        "Accept-Encoding": "gzip, deflate",
        "User-Agent": "corpactions",
    }
    if parts.username or parts.password:
        token = f"{parts.username or ''}:{parts.password or ''}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(token).decode()
    connection = connection_class(parts.hostname or "", parts.port, timeout=timeout)
    try:
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        length = response.getheader("Content-Length")
        plain = not response.getheader("Content-Encoding") and not response.chunked
        data: bytes | bytearray
        if receiver is not None and response.status == 200 and plain and length:
            data = _read_into(response, receiver(int(length)))
        else:
            data = response.read()
    except (OSError, http.client.HTTPException) as exc:
        raise _transient(f"RPC {method} at {url} failed: no answer ({exc})") from exc
    finally:
        connection.close()
    if response.status in _RETRY_STATUSES:
        raise _transient(
            f"RPC {method} at {url} failed: HTTP {response.status}",
            response.getheader("Retry-After"),
        )
    if response.status != 200:
        raise RpcRefused(f"RPC {method} at {url} answered HTTP {response.status}")
    encoding = (response.getheader("Content-Encoding") or "").strip().lower()
    if encoding in _DECODERS:
        try:
            return zlib.decompress(data, _DECODERS[encoding])
        except zlib.error as exc:
            raise _transient(f"RPC {method} at {url}: a corrupt {encoding} body") from exc
    if encoding not in ("", "identity"):
        raise RpcRefused(f"RPC {method} at {url} answered in an unknown encoding {encoding!r}")
    return data


async def call_raw(
    url: str,
    method: str,
    params: list[Any],
    *,
    timeout: float,
    max_retries: int = 6,
    backoff_seconds: float = 0.1,
    receiver: Callable[[int], Receiver] | None = None,
) -> bytes | bytearray:
    """POST one JSON-RPC request in a worker thread; the raw body, retried when transient
    (``receiver``: see ``post_once``)."""
    body = orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
    delay = backoff_seconds
    for attempt in range(max_retries + 1):
        try:
            return await asyncio.to_thread(
                post_once, url, body, timeout=timeout, method=method, receiver=receiver
            )
        except TransientRpcError as exc:
            if attempt >= max_retries:
                raise
            wait = max(delay, getattr(exc, "retry_after", 0.0))
            await asyncio.sleep(wait * (1 + random.random() / 4))  # noqa: S311 - jitter
            delay = min(delay * 2, 5.0)
    raise AssertionError("unreachable")  # pragma: no cover

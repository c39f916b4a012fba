"""The bulk reader of getProgramAccounts bodies: every transfer form gives the same accounts,
the scan that runs while the body arrives finds what the whole-body scan finds, and HTTP
failures are translated as the RPC client translates them."""

from __future__ import annotations

import asyncio
import gzip
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import orjson
import pytest
from polars.testing import assert_frame_equal

from corpactions.errors import RpcRefused, TransientRpcError
from snapshots import download, scan
from snapshots.parse import STATE_AT, TYPE_AT, parse_program_accounts
from tests.snapkit import SHAPES, item, token_account

MINT = bytes(range(32))


def _body(accounts: int) -> bytes:
    shapes = list(SHAPES)
    items = [
        item(
            f"{i % 9 + 1}" * 32,
            token_account(MINT, bytes([i % 251]) * 32, i, shape=shapes[i % len(shapes)]),
            order="sorted" if i % 2 else "struct",
        )
        for i in range(accounts)
    ]
    return orjson.dumps(
        {"jsonrpc": "2.0", "result": {"context": {"slot": 7}, "value": items}, "id": 1}
    )


class _Node(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    body = b""
    mode = "length"
    failures: ClassVar[list[int]] = []

    def log_message(self, *_args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        if self.failures:
            status = self.failures.pop(0)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            if status == 429:
                self.send_header("Retry-After", "0")
            self.end_headers()
            return
        body = self.body
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        if self.mode == "gzip":
            body = gzip.compress(body)
            self.send_header("Content-Encoding", "gzip")
        if self.mode == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for low in range(0, len(body), 7000):
                piece = body[low : low + 7000]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def node() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Node)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/?api-key=x"
    server.shutdown()
    server.server_close()


def _read(url: str, receiver: Any = None) -> bytes | bytearray:
    return asyncio.run(
        download.call_raw(
            url, "getProgramAccounts", [], timeout=10, backoff_seconds=0.01, receiver=receiver
        )
    )


@pytest.mark.parametrize("mode", ["length", "chunked", "gzip"])
def test_every_transfer_form_gives_the_same_accounts(node: str, mode: str) -> None:
    _Node.body, _Node.mode = _body(3000), mode
    scans: list[scan.StreamScan] = []

    def receiver(size: int) -> scan.StreamScan:
        scans.append(scan.StreamScan(size, state_at=STATE_AT, type_at=TYPE_AT))
        return scans[-1]

    raw = _read(node, receiver)
    assert bytes(raw) == _Node.body
    assert bool(scans) == (mode == "length")  # only a plain body of known length streams
    found = scans[-1].found() if scans else None
    page = parse_program_accounts(raw, found=found)
    assert page.decoder == "scan"
    assert_frame_equal(page.accounts, parse_program_accounts(_Node.body, decoder="exact").accounts)


def _streamed(body: bytes, step: int) -> tuple[bytearray, scan.Found]:
    stream = scan.StreamScan(len(body), state_at=STATE_AT, type_at=TYPE_AT)
    for low in range(0, len(body), step):
        high = min(low + step, len(body))
        stream.buffer[low:high] = body[low:high]
        stream.arrived(high)
    found = stream.found()
    assert found is not None
    return stream.buffer, found


@pytest.mark.parametrize("batch", [777, scan._BATCH])
def test_the_scan_while_arriving_finds_and_decodes_what_the_whole_body_scan_does(
    batch: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Arrivals of every size, chunk boundaries anywhere, strings decoded in batches as they
    arrive: the same columns as the scan of the whole body."""
    monkeypatch.setattr(scan, "_BATCH", batch)
    body = _body(20000)
    whole = scan.decode_by_scan(body, state_at=STATE_AT, type_at=TYPE_AT, parts=1)
    assert whole is not None
    for step in (4093, 1 << 16, scan._CHUNK - 5, scan._CHUNK + 17, len(body)):
        buffer, found = _streamed(body, step)
        assert found.decoded == whole.height  # all decoded before the end was read
        decoded = scan.decode_by_scan(buffer, state_at=STATE_AT, type_at=TYPE_AT, found=found)
        assert decoded is not None
        assert_frame_equal(whole, decoded)


def test_a_scan_that_breaks_gives_nothing_and_the_whole_body_is_scanned_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    body = _body(2000)
    calls = []

    def broken(*args: object) -> None:
        calls.append(args)
        raise RuntimeError("a bug")

    monkeypatch.setattr(scan, "_items_and_strings", broken)
    monkeypatch.setattr(threading, "excepthook", lambda _args: None)
    stream = scan.StreamScan(len(body), state_at=STATE_AT, type_at=TYPE_AT)
    stream.buffer[:] = body
    stream.arrived(len(body))
    assert stream.found() is None and calls
    monkeypatch.undo()
    page = parse_program_accounts(stream.buffer, found=None)
    assert page.decoder == "scan" and page.accounts.height == 2000


def test_an_item_without_its_string_is_caught_after_early_decoding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(scan, "_BATCH", 500)
    body = _body(3000)
    at = body.index(b'"data":["', len(body) * 3 // 4)  # a late account: after early batches
    broken = body[:at] + b'"data":"gone",' + body[at + len(b'"data":[') :]
    buffer, found = _streamed(broken, 1 << 16)
    assert scan.decode_by_scan(buffer, state_at=STATE_AT, type_at=TYPE_AT, found=found) is None


def test_busy_answers_are_retried_and_refusals_named(node: str) -> None:
    _Node.body, _Node.mode = _body(10), "length"
    _Node.failures[:] = [429, 503]
    assert _read(node) == _Node.body
    _Node.failures[:] = [404]
    with pytest.raises(RpcRefused, match="HTTP 404"):
        _read(node)
    with pytest.raises(TransientRpcError, match="no answer"):
        asyncio.run(download.call_raw("http://127.0.0.1:1", "m", [], timeout=1, max_retries=0))

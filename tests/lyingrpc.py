"""A JSON-RPC proxy in front of the local chain that lies the way a faulty provider or a node on
a minority fork can: about signature statuses, commitment, or by refusing requests.

It forwards every request unchanged and rewrites only the answers its mode names; the chain
behind it stays honest, so a test can read the truth from the chain directly.
"""

from __future__ import annotations

import base64
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import orjson
from solders.transaction import VersionedTransaction

FAILED = {"InstructionError": [0, {"Custom": 1}]}


class LyingRpc:
    """Modes: ``false_failure`` (every status says the transaction failed, at whatever level the
    node reported), ``false_success`` (every status says finalized success, and the first
    ``sendTransaction`` of each transaction is swallowed), ``unknown`` (no status is ever known),
    ``overclaim`` (every known status claims finalized), ``throttle`` (every third request is a
    429), ``hide`` (no status is ever known and ``getTransaction`` finds nothing: a node that
    hides landed transactions, as one on a minority fork or behind on history would)."""

    def __init__(self, upstream: str, mode: str) -> None:
        self.upstream = upstream
        self.mode = mode
        self.swallowed: set[str] = set()
        self.requests = 0
        self._client = httpx.Client(timeout=30)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status, answer = proxy.handle(body)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LyingRpc:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._client.close()

    def handle(self, body: bytes) -> tuple[int, bytes]:
        self.requests += 1
        if self.mode == "throttle" and self.requests % 3 == 0:
            return 429, b'{"jsonrpc":"2.0","error":{"code":429,"message":"Too many requests"}}'
        request = orjson.loads(body)
        batch = isinstance(request, list)
        calls = request if batch else [request]
        if self.mode == "false_success":
            kept = []
            swallowed = []
            for call in calls:
                if call.get("method") == "sendTransaction":
                    raw = call["params"][0]
                    if raw not in self.swallowed:
                        self.swallowed.add(raw)
                        swallowed.append(call)
                        continue
                kept.append(call)
            if swallowed and not kept:
                # answer as if accepted: the signature is what the client computed anyway
                return 200, orjson.dumps(
                    [self._accepted(c) for c in swallowed]
                    if batch
                    else self._accepted(swallowed[0])
                )
        upstream = self._client.post(self.upstream, content=body)
        if upstream.status_code != 200:
            return upstream.status_code, upstream.content
        answer = orjson.loads(upstream.content)
        answers = answer if isinstance(answer, list) else [answer]
        for call, reply in zip(calls, answers, strict=False):
            if call.get("method") == "getSignatureStatuses" and "result" in reply:
                reply["result"]["value"] = [self._status(v) for v in reply["result"]["value"]]
            if call.get("method") == "getTransaction" and self.mode == "hide" and "result" in reply:
                reply["result"] = None
        return 200, orjson.dumps(answer)

    @staticmethod
    def _accepted(call: dict[str, Any]) -> dict[str, Any]:

        raw = call["params"][0]
        encoding = (call["params"][1] if len(call["params"]) > 1 else {}).get("encoding")
        data = (
            base64.b64decode(raw) if encoding == "base64" else __import__("base58").b58decode(raw)
        )
        signature = str(VersionedTransaction.from_bytes(data).signatures[0])
        return {"jsonrpc": "2.0", "id": call.get("id"), "result": signature}

    def _status(self, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if self.mode in ("unknown", "hide"):
            return None
        if self.mode == "false_failure" and value is not None:
            return {**value, "err": FAILED, "status": {"Err": FAILED}}
        if self.mode == "overclaim" and value is not None:
            return {**value, "confirmationStatus": "finalized", "confirmations": None}
        if self.mode == "false_success":
            return {
                "slot": (value or {}).get("slot", 1),
                "confirmations": None,
                "err": None,
                "status": {"Ok": None},
                "confirmationStatus": "finalized",
            }
        return value

"""JSON-RPC over HTTP for the local chain (uvicorn + a small ASGI app), websocket PubSub on the
next port (as a node serves 8899 and 8900), and its clock.

``serve()`` runs in the foreground until SIGINT/SIGTERM and saves the state on the way out.
``LocalnetThread`` runs the same server in a background thread of this process on a free port
(the demo's embedded chain); tests start the real ``corpactions localnet`` command instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import orjson
import uvicorn
from websockets.asyncio.server import serve as websocket_serve

from corpactions.localnet.chain import ChainConfig, LocalChain
from corpactions.localnet.methods import dispatch
from corpactions.localnet.pubsub import PubSubHub, serve_connection
from corpactions.logs import get_logger

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

log = get_logger(__name__)
MAX_BODY_BYTES = 50 * 1024 * 1024
SAVE_EVERY_SECONDS = 2.0


class RpcApp:
    """ASGI application serving the Solana JSON-RPC methods of one ``LocalChain``."""

    def __init__(self, chain: LocalChain) -> None:
        self.chain = chain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["method"] == "GET" and scope["path"] == "/health":
            await _respond(send, 200, b"ok", b"text/plain")
            return
        if scope["method"] != "POST":
            await _respond(
                send,
                405,
                b"Used HTTP Method is not allowed. POST or OPTIONS is required",
                b"text/plain",
            )
            return
        status = self.chain.faults.http_error()
        if status is not None:
            refusal = orjson.dumps(
                {
                    "jsonrpc": "2.0",
                    "error": {
                        "code": status,
                        "message": "Too many requests" if status == 429 else "Service unavailable",
                    },
                    "id": None,
                }
            )
            await _respond(send, status, refusal, b"application/json", retry_after=b"0")
            return
        body = await _read_body(receive)
        if body is None:
            await _respond(send, 413, b"request too large", b"text/plain")
            return
        try:
            request = orjson.loads(body)
        except orjson.JSONDecodeError:
            error = {
                "jsonrpc": "2.0",
                "error": {"code": -32700, "message": "Parse error"},
                "id": None,
            }
            await _respond(send, 200, orjson.dumps(error), b"application/json")
            return
        payload = await asyncio.to_thread(self._handle, request)
        await _respond(send, 200, payload, b"application/json")

    def _handle(self, request: Any) -> bytes:
        try:
            if isinstance(request, list):
                if not request:
                    return orjson.dumps(
                        {
                            "jsonrpc": "2.0",
                            "error": {"code": -32600, "message": "Invalid request"},
                            "id": None,
                        }
                    )
                responses = [
                    r for r in (dispatch(self.chain, item) for item in request) if r is not None
                ]
                return orjson.dumps(responses)
            return orjson.dumps(dispatch(self.chain, request))
        except Exception as exc:  # a bug here must not kill the server; answer like a node does
            log.exception("localnet internal error", error=str(exc))
            request_id = request.get("id") if isinstance(request, dict) else None
            return orjson.dumps(
                {
                    "jsonrpc": "2.0",
                    "error": {"code": -32603, "message": "Internal error"},
                    "id": request_id,
                }
            )


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def _respond(
    send: Send, status: int, body: bytes, content_type: bytes, retry_after: bytes | None = None
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    if retry_after is not None:
        headers.append((b"retry-after", retry_after))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Clock(threading.Thread):
    """Advances one slot every ``slot_ms`` and saves the state every few seconds if it changed."""

    def __init__(self, chain: LocalChain) -> None:
        super().__init__(name="localnet-clock", daemon=True)
        self.chain = chain
        self.stopped = threading.Event()

    def run(self) -> None:
        slot_seconds = self.chain.config.slot_ms / 1000
        interval = slot_seconds if slot_seconds > 0 else SAVE_EVERY_SECONDS
        last_save = 0.0
        elapsed = 0.0
        while not self.stopped.wait(interval):
            if slot_seconds > 0:
                self.chain.advance(1)
            elapsed += interval
            if elapsed - last_save >= SAVE_EVERY_SECONDS:
                last_save = elapsed
                try:
                    self.chain.save_if_dirty()
                except OSError as exc:
                    log.warning("localnet state not saved", error=str(exc))

    def stop(self) -> None:
        self.stopped.set()


def bind_pair(host: str, port: int) -> tuple[socket.socket, socket.socket]:
    """Sockets for HTTP on ``port`` and websockets on ``port + 1``; port 0 picks a free pair."""
    if port:
        http = bind_socket(host, port)
        try:
            return http, bind_socket(host, port + 1)
        except OSError:
            http.close()
            raise
    for _ in range(100):
        http = bind_socket(host, 0)
        try:
            return http, bind_socket(host, http.getsockname()[1] + 1)
        except OSError:
            http.close()
    raise OSError("no two free neighbouring ports")


def websocket_url(http_url: str) -> str:
    """The PubSub URL of a local chain served at ``http_url`` (the next port)."""
    scheme_host, port = http_url.rsplit(":", 1)
    return f"ws{scheme_host[4:]}:{int(port) + 1}"


async def _serve_both(
    server: uvicorn.Server, chain: LocalChain, http: socket.socket, ws: socket.socket
) -> None:
    hub = PubSubHub(chain)
    quiet = logging.getLogger("corpactions.localnet.websockets")
    quiet.setLevel(logging.WARNING)
    handler = functools.partial(serve_connection, hub)
    async with websocket_serve(handler, sock=ws, logger=quiet):
        await server.serve(sockets=[http])


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()  # a port taken (the neighbour of a free one, often) must not leak the socket
        raise
    sock.set_inheritable(True)
    return sock


class _Server(uvicorn.Server):
    """uvicorn's server without its signal capture: we stop it ourselves and save state first
    (uvicorn would re-raise SIGTERM after shutdown and end the process before the save)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _uvicorn_server(chain: LocalChain) -> uvicorn.Server:
    config = uvicorn.Config(
        RpcApp(chain), log_level="warning", lifespan="off", access_log=False, timeout_keep_alive=30
    )
    return _Server(config)


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 8899,
    state_path: Path | None = None,
    config: ChainConfig | None = None,
    on_ready: Callable[[str, LocalChain], None] | None = None,
) -> None:
    """Serve JSON-RPC (and PubSub on the next port) until SIGINT/SIGTERM; then stop the clock
    and save the state."""
    chain = LocalChain(config, state_path)
    sock, ws_sock = bind_pair(host, port)
    url = f"http://{host}:{sock.getsockname()[1]}"
    clock = Clock(chain)
    clock.start()
    server = _uvicorn_server(chain)

    def stop(signum: int, _frame: object) -> None:
        log.info("localnet stopping", signal=signal.Signals(signum).name)
        server.should_exit = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if on_ready is not None:
        on_ready(url, chain)
    try:
        asyncio.run(_serve_both(server, chain, sock, ws_sock))
    finally:
        clock.stop()
        clock.join(timeout=5)
        chain.save()
        sock.close()
        ws_sock.close()
        log.info("localnet stopped", slot=chain.slot, state=str(state_path) if state_path else None)


class LocalnetThread:
    """The local chain served from a background thread of this process (demo, benchmarks)."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        state_path: Path | None = None,
        config: ChainConfig | None = None,
    ) -> None:
        self.chain = LocalChain(config, state_path)
        self._sock, self._ws_sock = bind_pair(host, port)
        self.url = f"http://{host}:{self._sock.getsockname()[1]}"
        self.ws_url = websocket_url(self.url)
        self._server = _uvicorn_server(self.chain)
        self._clock = Clock(self.chain)
        self._thread = threading.Thread(target=self._run, name="localnet-http", daemon=True)

    def _run(self) -> None:
        asyncio.run(_serve_both(self._server, self.chain, self._sock, self._ws_sock))

    def start(self, timeout: float = 10.0) -> LocalnetThread:
        self._clock.start()
        self._thread.start()
        waited = 0.0
        while not self._server.started:
            if waited > timeout or not self._thread.is_alive():
                raise RuntimeError("the local chain did not start")
            threading.Event().wait(0.02)
            waited += 0.02
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._clock.stop()
        self._clock.join(timeout=5)
        self.chain.save()
        self._sock.close()
        self._ws_sock.close()

    def __enter__(self) -> LocalnetThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

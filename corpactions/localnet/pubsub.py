"""Solana websocket PubSub for the local chain, served on the HTTP port + 1 as a node does.

Subscriptions: ``accountSubscribe``, ``programSubscribe``, ``signatureSubscribe``,
``logsSubscribe``, ``slotSubscribe``, ``slotsUpdatesSubscribe``, ``rootSubscribe`` and their
unsubscribes, with a node's message shapes. Subscriptions that take a commitment (finalized by
default, as on a node) are notified when the transaction's slot reaches it: at landing for
``processed`` (or when the chain has no finality lag), when its block closes for ``confirmed``,
``finality_lag`` slots later for ``finalized``. A ``signatureSubscribe`` for a transaction that
already reached its commitment is answered at once, then the subscription ends, as on a node.

The chain calls the hub (a ``ChainObserver``) under its lock from whichever thread changed it;
the hub builds the notifications there and hands them to each connection's queue on the event
loop, so a connection receives its subscription's id before any notification of it. Account
values are the account's state when the notification is built.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from solders.account import Account
from solders.pubkey import Pubkey
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from corpactions.chain import layout
from corpactions.localnet.chain import COMMITMENTS, Block, ChainRequestError, LocalChain, TxRecord
from corpactions.localnet.methods import compile_filters, encode_account
from corpactions.localnet.params import config_at, invalid_params, param, pubkey_param
from corpactions.logs import get_logger

log = get_logger(__name__)

_EMPTY_ACCOUNT = Account(lamports=0, data=b"", owner=layout.SYSTEM_PROGRAM_ID, executable=False)


@dataclass
class Subscription:
    id: int
    kind: str
    """account, program, signature, logs, slot, slotsUpdates, root."""
    commitment: str = "finalized"
    pubkey: Pubkey | None = None
    signature: str | None = None
    mentions: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    filters: list[Callable[[bytes], bool]] = field(default_factory=list)
    received: bool = False


@dataclass(eq=False)
class Connection:
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[bytes] = field(default_factory=asyncio.Queue)
    subscriptions: dict[int, Subscription] = field(default_factory=dict)

    def push(self, message: dict[str, Any]) -> None:
        """Queue a message from any thread; a connection whose loop has ended is passed over
        (the chain's own work must never fail for a client that went away)."""
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self.queue.put_nowait, orjson.dumps(message))


_SUBSCRIBE = {
    "accountSubscribe": "account",
    "programSubscribe": "program",
    "signatureSubscribe": "signature",
    "logsSubscribe": "logs",
    "slotSubscribe": "slot",
    "slotsUpdatesSubscribe": "slotsUpdates",
    "rootSubscribe": "root",
}
_UNSUBSCRIBE = {name.replace("Subscribe", "Unsubscribe"): kind for name, kind in _SUBSCRIBE.items()}
_NOTIFICATION = {kind: f"{kind}Notification" for kind in _SUBSCRIBE.values()}


def _commitment(config: dict[str, Any]) -> str:
    commitment = config.get("commitment") or "finalized"
    if commitment not in COMMITMENTS:
        raise invalid_params(f"Invalid params: unknown commitment {commitment!r}")
    return str(commitment)


class PubSubHub:
    """Every connection's subscriptions, fed by the chain (see the module docstring)."""

    def __init__(self, chain: LocalChain) -> None:
        self.chain = chain
        self.connections: set[Connection] = set()
        self._ids = itertools.count(1)
        self._last_root = chain.finalized_slot()
        chain.observers.append(self)

    # ----- requests (event loop thread) -------------------------------------------------------

    def handle(self, connection: Connection, raw: str | bytes) -> None:
        """Answer one request: the reply first, then any notification it brings at once."""
        try:
            request = orjson.loads(raw)
        except orjson.JSONDecodeError:
            connection.push(
                {"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": None}
            )
            return
        if not isinstance(request, dict) or not isinstance(request.get("method"), str):
            connection.push(
                {
                    "jsonrpc": "2.0",
                    "error": {"code": -32600, "message": "Invalid request"},
                    "id": None,
                }
            )
            return
        request_id = request.get("id")
        method = request["method"]
        params = request.get("params") or []
        try:
            with self.chain.lock:
                self._answer(connection, method, params, request_id)
        except ChainRequestError as exc:
            connection.push(
                {
                    "jsonrpc": "2.0",
                    "error": {"code": exc.code, "message": exc.message},
                    "id": request_id,
                }
            )

    def _answer(self, connection: Connection, method: str, params: Any, request_id: Any) -> None:
        if not isinstance(params, list):
            raise invalid_params("Invalid params")
        if method in _SUBSCRIBE:
            subscription = self._subscription(_SUBSCRIBE[method], params)
            connection.subscriptions[subscription.id] = subscription
            self.connections.add(connection)
            connection.push({"jsonrpc": "2.0", "result": subscription.id, "id": request_id})
            self._catch_up(connection, subscription)
        elif method in _UNSUBSCRIBE:
            number = param(params, 0, "subscription id")
            existing = connection.subscriptions.get(number)
            if existing is None or existing.kind != _UNSUBSCRIBE[method]:
                raise invalid_params("Invalid subscription id.")
            del connection.subscriptions[number]
            connection.push({"jsonrpc": "2.0", "result": True, "id": request_id})
        else:
            raise ChainRequestError(-32601, "Method not found")

    def _subscription(self, kind: str, params: list[Any]) -> Subscription:
        number = next(self._ids)
        if kind == "account":
            pubkey = pubkey_param(param(params, 0, "pubkey"))
            config = config_at(params, 1)
            return Subscription(number, kind, _commitment(config), pubkey=pubkey, config=config)
        if kind == "program":
            program = pubkey_param(param(params, 0, "program id"), "program id")
            config = config_at(params, 1)
            filters = compile_filters(config.get("filters"))
            return Subscription(
                number, kind, _commitment(config), pubkey=program, config=config, filters=filters
            )
        if kind == "signature":
            signature = param(params, 0, "signature")
            if not isinstance(signature, str):
                raise invalid_params("Invalid param: signature must be a string")
            config = config_at(params, 1)
            return Subscription(
                number,
                kind,
                _commitment(config),
                signature=signature,
                received=bool(config.get("enableReceivedNotification")),
            )
        if kind == "logs":
            target = param(params, 0, "filter")
            config = config_at(params, 1)
            mentions: str | None = None
            if isinstance(target, dict) and isinstance(target.get("mentions"), list):
                if len(target["mentions"]) != 1:
                    raise invalid_params(
                        "Invalid Request: Only 1 address supported in mentions filter"
                    )
                mentions = str(pubkey_param(target["mentions"][0], "mentions"))
            elif target not in ("all", "allWithVotes"):
                raise invalid_params("Invalid params: unknown logs filter")
            return Subscription(number, kind, _commitment(config), mentions=mentions)
        return Subscription(number, kind)

    def _catch_up(self, connection: Connection, subscription: Subscription) -> None:
        """A signature that already reached the subscription's commitment is answered now."""
        if subscription.kind != "signature" or subscription.signature is None:
            return
        record = self.chain.record(subscription.signature)
        if record is not None and self._reached(record.slot, subscription.commitment):
            self._notify_signature(connection, subscription, record)

    def drop(self, connection: Connection) -> None:
        with self.chain.lock:
            self.connections.discard(connection)

    # ----- chain events (chain thread, under the chain lock) ------------------------------------

    def _reached(self, slot: int, commitment: str) -> bool:
        return slot <= self.chain.commitment_slot(commitment)

    def landed(self, record: TxRecord) -> None:
        if not self.connections:
            return
        for connection in list(self.connections):
            for subscription in list(connection.subscriptions.values()):
                if (
                    subscription.kind == "signature"
                    and subscription.received
                    and subscription.signature == record.signature
                ):
                    self._push(connection, subscription, record.slot, "receivedSignature")
                if subscription.kind in ("account", "program", "signature", "logs") and (
                    self._reached(record.slot, subscription.commitment)
                ):
                    self._transaction_event(connection, subscription, record, record.slot)

    def advanced(self, closed: Block) -> None:
        if not self.connections:
            return
        chain = self.chain
        slot = chain.slot
        root = chain.finalized_slot()
        reached = {
            level: chain.block(chain.commitment_slot(level))
            for level in ("confirmed", "finalized")
            if chain.config.finality_lag > 0
        }
        now_ms = chain.now() * 1000
        for connection in list(self.connections):
            for subscription in list(connection.subscriptions.values()):
                kind = subscription.kind
                if kind == "slot":
                    self._push(
                        connection,
                        subscription,
                        None,
                        {"parent": closed.slot, "root": root, "slot": slot},
                    )
                elif kind == "slotsUpdates":
                    for update in (
                        {"type": "completed", "slot": closed.slot, "timestamp": now_ms},
                        {
                            "type": "createdBank",
                            "slot": slot,
                            "parent": closed.slot,
                            "timestamp": now_ms,
                        },
                        {
                            "type": "optimisticConfirmation",
                            "slot": chain.commitment_slot("confirmed"),
                            "timestamp": now_ms,
                        },
                        {"type": "root", "slot": root, "timestamp": now_ms},
                    ):
                        self._push(connection, subscription, None, update)
                elif kind == "root":
                    if root != self._last_root:
                        self._push(connection, subscription, None, root)
                else:
                    block = reached.get(subscription.commitment)
                    if block is None:
                        continue
                    for signature in block.signatures:
                        record = chain.record(signature)
                        if record is not None:
                            self._transaction_event(connection, subscription, record, block.slot)
        self._last_root = root

    # ----- notifications ------------------------------------------------------------------------

    def _transaction_event(
        self, connection: Connection, subscription: Subscription, record: TxRecord, slot: int
    ) -> None:
        kind = subscription.kind
        if kind == "signature":
            if subscription.signature == record.signature:
                self._notify_signature(connection, subscription, record)
        elif kind == "logs":
            if subscription.mentions is None or subscription.mentions in record.accounts:
                value = {"err": record.err, "logs": record.logs, "signature": record.signature}
                self._push(connection, subscription, slot, value)
        elif kind == "account":
            assert subscription.pubkey is not None
            if str(subscription.pubkey) in record.accounts:
                account = self.chain.get_account(subscription.pubkey) or _EMPTY_ACCOUNT
                self._push(connection, subscription, slot, self._encode(account, subscription))
        elif kind == "program":
            for key in record.accounts:
                owned = self.chain.get_account(Pubkey.from_string(key))
                if owned is None or owned.owner != subscription.pubkey:
                    continue
                if all(f(bytes(owned.data)) for f in subscription.filters):
                    value = {"pubkey": key, "account": self._encode(owned, subscription)}
                    self._push(connection, subscription, slot, value)

    def _encode(self, account: Account, subscription: Subscription) -> dict[str, Any]:
        config = dict(subscription.config)
        config.setdefault("encoding", "base64")
        return encode_account(self.chain, account, config)

    def _notify_signature(
        self, connection: Connection, subscription: Subscription, record: TxRecord
    ) -> None:
        self._push(connection, subscription, record.slot, {"err": record.err})
        connection.subscriptions.pop(subscription.id, None)  # one notification, then it ends

    def _push(
        self, connection: Connection, subscription: Subscription, slot: int | None, value: Any
    ) -> None:
        result = value if slot is None else {"context": {"slot": slot}, "value": value}
        connection.push(
            {
                "jsonrpc": "2.0",
                "method": _NOTIFICATION[subscription.kind],
                "params": {"result": result, "subscription": subscription.id},
            }
        )


async def serve_connection(hub: PubSubHub, websocket: ServerConnection) -> None:
    """One websocket client: requests in, replies and notifications out, in queue order."""
    connection = Connection(asyncio.get_running_loop())

    async def pump() -> None:
        while True:
            message = await connection.queue.get()
            await websocket.send(message.decode())

    sender = asyncio.create_task(pump())
    try:
        async for raw in websocket:
            hub.handle(connection, raw)
    except ConnectionClosed:
        pass
    finally:
        hub.drop(connection)
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)


__all__ = ["PubSubHub", "serve_connection"]

"""The one place that talks to Solana: solana-py's ``AsyncClient`` behind our error tree.

- HTTP 429 / 5xx and transport failures become ``TransientRpcError`` after ``max_retries``
  retries with exponential backoff (``Retry-After`` honoured).
- JSON-RPC errors become ``RpcRefused`` or, for ``sendTransaction`` preflight failures,
  ``TransactionRejected`` carrying the node's ``err`` value.
- ``call_raw`` posts a JSON-RPC request and returns the undecoded response body, for the bulk
  paths (snapshots) that parse with orjson instead of per-account Python objects.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

import httpx
import orjson
from solana.exceptions import SolanaRpcException
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Commitment
from solana.rpc.core import RPCException
from solana.rpc.models import TxOpts
from solders.account import Account
from solders.hash import Hash
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction_status import TransactionStatus

from corpactions.config import Settings, get_settings
from corpactions.errors import ChainError, RpcRefused, TransientRpcError
from corpactions.logs import get_logger

T = TypeVar("T")
log = get_logger(__name__)
_RETRY_STATUSES = {429, 500, 502, 503, 504}


class TransactionRejected(ChainError):
    """The node refused a transaction before it could land (preflight failure, bad signature)."""

    def __init__(self, message: str, *, err: Any = None, logs: Sequence[str] = ()) -> None:
        super().__init__(message, hint="the transaction was not sent; fix the cause and retry")
        self.err = err
        self.logs = list(logs)


@dataclass(frozen=True)
class Blockhash:
    blockhash: Hash
    last_valid_block_height: int


class Rpc:
    """An async Solana RPC session. Use as ``async with Rpc(url) as rpc: ...``."""

    def __init__(
        self,
        url: str | None = None,
        *,
        settings: Settings | None = None,
        commitment: str | None = None,
        timeout: float | None = None,
        max_retries: int = 6,
        backoff_seconds: float = 0.1,
        rate_limit: float = 0,
    ) -> None:
        settings = settings or get_settings()
        self.settings = settings
        self.endpoints = [url] if url else settings.rpc_endpoints
        self.quorum = 1 if url else settings.rpc_quorum
        self.commitment = Commitment(commitment or settings.commitment)
        self.timeout = timeout or settings.rpc_timeout_seconds
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self._clients = [
            AsyncClient(
                endpoint, commitment=self.commitment, timeout=self.timeout, rate_limit=rate_limit
            )
            for endpoint in self.endpoints
        ]
        self._active = 0
        self._http = httpx.AsyncClient(timeout=self.timeout)
        self._ids = 0
        self._peers: list[Rpc] | None = None

    @property
    def url(self) -> str:
        """The endpoint in use now (reads fail over to the next one when it does not answer)."""
        return self.endpoints[self._active]

    @property
    def _client(self) -> AsyncClient:
        return self._clients[self._active]

    def peers(self) -> list[Rpc]:
        """One session per configured endpoint, each on its own (no failover): the voters of a
        terminal decision (``corpactions.execution.sendonce``). A single endpoint is its own."""
        if len(self.endpoints) == 1:
            return [self]
        if self._peers is None:
            self._peers = [
                Rpc(
                    endpoint,
                    settings=self.settings,
                    commitment=str(self.commitment),
                    timeout=self.timeout,
                    max_retries=min(self.max_retries, 2),
                    backoff_seconds=self.backoff_seconds,
                )
                for endpoint in self.endpoints
            ]
        return self._peers

    async def __aenter__(self) -> Rpc:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        for client in self._clients:
            await client.close()
        await self._http.aclose()
        for peer in self._peers or []:
            await peer.close()

    # ----- retries and translation ------------------------------------------------------------

    async def _retrying(self, what: str, attempt_call: Callable[[], Awaitable[T]]) -> T:
        """Try, and on a transient failure try again: at the next endpoint at once when there
        are several, and after a backoff once every endpoint has failed in this round."""
        delay = self.backoff_seconds
        tries = (self.max_retries + 1) * len(self.endpoints)
        for attempt in range(tries):
            try:
                return await attempt_call()
            except TransientRpcError as exc:
                if attempt >= tries - 1:
                    raise
                if len(self.endpoints) > 1:
                    failed = self.url
                    self._active = (self._active + 1) % len(self.endpoints)
                    log.warning("rpc failover", method=what, failed=failed, next=self.url)
                    if (attempt + 1) % len(self.endpoints):
                        continue
                wait = max(delay, getattr(exc, "retry_after", 0.0))
                log.debug("rpc retry", method=what, attempt=attempt + 1, wait=round(wait, 3))
                await asyncio.sleep(wait * (1 + random.random() / 4))  # noqa: S311 - jitter
                delay = min(delay * 2, 5.0)
        raise AssertionError("unreachable")  # pragma: no cover

    def _transient(
        self,
        what: str,
        status: int | None,
        retry_after: str | None,
        cause: BaseException | None = None,
    ) -> TransientRpcError:
        """The error says which it was: the node did not answer (nothing listens, a timeout),
        or it answered and refused for now (429 rate limit, 5xx), with the hint that fits."""
        if status is None:
            if isinstance(cause, httpx.TimeoutException):
                reason = f"the node did not answer within {self.timeout:g} s"
            else:
                reason = "the node did not answer (connection failed)"
            hint = "check CORPACTIONS_RPC_URL and that the node is running and reachable"
        elif status == 429:
            reason = "the node refused: too many requests (HTTP 429)"
            hint = "retried automatically; lower the request rate or use another RPC node"
        else:
            reason = f"the node refused with a server error (HTTP {status})"
            hint = "retried automatically; check the node's health or use another RPC node"
        error = TransientRpcError(f"RPC {what} at {self.url}: {reason}", hint=hint)
        try:
            error.retry_after = float(retry_after) if retry_after else 0.0  # type: ignore[attr-defined]
        except ValueError:
            error.retry_after = 0.0  # type: ignore[attr-defined]
        return error

    def _translate(self, what: str, exc: Exception) -> Exception:
        if isinstance(exc, SolanaRpcException):
            cause = exc.__cause__
            response = getattr(cause, "response", None)
            status = getattr(response, "status_code", None)
            if status is None or status in _RETRY_STATUSES:
                retry_after = response.headers.get("retry-after") if response is not None else None
                return self._transient(what, status, retry_after, cause)
            return RpcRefused(f"RPC {what} at {self.url} answered HTTP {status}")
        if isinstance(exc, RPCException):
            error = exc.args[0] if exc.args else exc
            message = getattr(error, "message", str(error))
            data = getattr(error, "data", None)
            if what == "sendTransaction":
                err = getattr(data, "err", None)
                logs = getattr(data, "logs", None) or []
                return TransactionRejected(
                    f"the node refused the transaction: {message}", err=err, logs=logs
                )
            return RpcRefused(f"RPC {what} refused: {message}")
        return exc

    async def _typed(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        async def once() -> T:
            try:
                return await call()
            except (SolanaRpcException, RPCException) as exc:
                raise self._translate(what, exc) from exc

        return await self._retrying(what, once)

    async def call_raw(self, method: str, params: list[Any]) -> bytes:
        """POST one JSON-RPC request; return the raw response body (after HTTP checks)."""

        async def once() -> bytes:
            self._ids += 1
            body = orjson.dumps(
                {"jsonrpc": "2.0", "id": self._ids, "method": method, "params": params}
            )
            try:
                response = await self._http.post(
                    self.url, content=body, headers={"Content-Type": "application/json"}
                )
            except httpx.TransportError as exc:
                raise self._transient(method, None, None, exc) from exc
            if response.status_code in _RETRY_STATUSES:
                raise self._transient(
                    method, response.status_code, response.headers.get("retry-after")
                )
            if response.status_code != 200:
                raise RpcRefused(f"RPC {method} at {self.url} answered HTTP {response.status_code}")
            return response.content

        return await self._retrying(method, once)

    async def call_json(self, method: str, params: list[Any]) -> Any:
        """A raw JSON-RPC call whose ``result`` is returned decoded; errors become RpcRefused."""
        payload = orjson.loads(await self.call_raw(method, params))
        if "error" in payload:
            error = payload["error"]
            raise RpcRefused(
                f"RPC {method} refused: {error.get('message')} (code {error.get('code')})"
            )
        return payload["result"]

    # ----- typed calls ------------------------------------------------------------------------

    async def latest_blockhash(self) -> Blockhash:
        resp = await self._typed(
            "getLatestBlockhash",
            lambda: self._client.get_latest_blockhash(),  # noqa: PLW0108 - the client of each try
        )
        return Blockhash(resp.value.blockhash, resp.value.last_valid_block_height)

    async def block_height(self, commitment: str | None = None) -> int:
        level = Commitment(commitment) if commitment else self.commitment
        resp = await self._typed("getBlockHeight", lambda: self._client.get_block_height(level))
        return int(resp.value)

    async def slot(self) -> int:
        resp = await self._typed(
            "getSlot",
            lambda: self._client.get_slot(),  # noqa: PLW0108 - the client of each try
        )
        return int(resp.value)

    async def balance(self, pubkey: Pubkey) -> int:
        resp = await self._typed("getBalance", lambda: self._client.get_balance(pubkey))
        return int(resp.value)

    async def account(self, pubkey: Pubkey) -> Account | None:
        resp = await self._typed("getAccountInfo", lambda: self._client.get_account_info(pubkey))
        return resp.value

    async def accounts(self, pubkeys: Sequence[Pubkey]) -> list[Account | None]:
        """Accounts in the given order, 100 per request, a few requests in flight at once."""
        chunks = [list(pubkeys[start : start + 100]) for start in range(0, len(pubkeys), 100)]
        gate = asyncio.Semaphore(8)

        async def fetch(chunk: list[Pubkey]) -> list[Account | None]:
            async with gate:
                resp = await self._typed(
                    "getMultipleAccounts", lambda: self._client.get_multiple_accounts(chunk)
                )
                return list(resp.value)

        results = await asyncio.gather(*(fetch(chunk) for chunk in chunks))
        return [account for chunk in results for account in chunk]

    async def token_supply(self, mint: Pubkey) -> tuple[int, int]:
        """(raw supply, context slot)."""
        resp = await self._typed("getTokenSupply", lambda: self._client.get_token_supply(mint))
        return int(resp.value.amount), int(resp.context.slot)

    async def rent_exempt_minimum(self, size: int) -> int:
        resp = await self._typed(
            "getMinimumBalanceForRentExemption",
            lambda: self._client.get_minimum_balance_for_rent_exemption(size),
        )
        return int(resp.value)

    async def airdrop(self, pubkey: Pubkey, lamports: int) -> Signature:
        resp = await self._typed(
            "requestAirdrop", lambda: self._client.request_airdrop(pubkey, lamports)
        )
        return resp.value

    async def send_raw(self, tx_bytes: bytes, *, skip_preflight: bool = False) -> Signature:
        opts = TxOpts(skip_preflight=skip_preflight, skip_confirmation=True)
        resp = await self._typed(
            "sendTransaction", lambda: self._client.send_raw_transaction(tx_bytes, opts)
        )
        return resp.value

    async def signature_statuses(
        self, signatures: Sequence[Signature], *, search_history: bool = True
    ) -> list[TransactionStatus | None]:
        out: list[TransactionStatus | None] = []
        for start in range(0, len(signatures), 256):
            chunk = list(signatures[start : start + 256])

            async def fetch(chunk: list[Signature] = chunk) -> Any:
                return await self._client.get_signature_statuses(
                    chunk, search_transaction_history=search_history
                )

            resp = await self._typed("getSignatureStatuses", fetch)
            out.extend(resp.value)
        return out

    async def transaction(
        self, signature: Signature | str, commitment: str = "finalized"
    ) -> dict[str, Any] | None:
        """``getTransaction`` at ``commitment`` (JSON encoding, v0 transactions included): the
        node's answer, or None when it has no such transaction."""
        tx = await self.call_json(
            "getTransaction",
            [
                str(signature),
                {
                    "encoding": "json",
                    "commitment": commitment,
                    "maxSupportedTransactionVersion": 0,
                },
            ],
        )
        return tx if isinstance(tx, dict) else None

    async def transaction_status(
        self, signature: Signature, commitment: str = "confirmed"
    ) -> TransactionStatus | None:
        """The transaction itself read at ``commitment`` (``getTransaction``), as a status; for
        when a node's status answers cannot be taken alone."""
        tx = await self.transaction(signature, commitment)
        if tx is None or not isinstance(tx.get("meta"), dict):
            return None
        err = tx["meta"].get("err")
        return TransactionStatus.from_json(
            orjson.dumps(
                {
                    "slot": int(tx.get("slot") or 0),
                    "confirmations": None,
                    "status": {"Ok": None} if err is None else {"Err": err},
                    "err": err,
                    "confirmationStatus": commitment,
                }
            ).decode()
        )

    async def wait_landed(
        self, signatures: Sequence[Signature], *, timeout: float = 30.0, finalized: bool = False
    ) -> list[TransactionStatus]:
        """Poll until every signature has a status (at ``finalized`` when asked). A signature the
        status answers still do not know after a few polls is looked up as a transaction."""
        deadline = asyncio.get_running_loop().time() + timeout
        polls = 0
        while True:
            polls += 1
            statuses = await self.signature_statuses(signatures)
            if polls % 20 == 0:
                statuses = [
                    status
                    or await self.transaction_status(
                        signature, "finalized" if finalized else "confirmed"
                    )
                    for signature, status in zip(signatures, statuses, strict=True)
                ]
            done = [
                s is not None
                and (
                    not finalized
                    or str(s.confirmation_status) == "TransactionConfirmationStatus.Finalized"
                )
                for s in statuses
            ]
            if all(done):
                return [s for s in statuses if s is not None]
            if asyncio.get_running_loop().time() > deadline:
                missing = [str(sig) for sig, ok in zip(signatures, done, strict=True) if not ok]
                raise TransientRpcError(
                    f"{len(missing)} transaction(s) not landed after {timeout:.0f}s, "
                    f"first {missing[0]}"
                )
            await asyncio.sleep(0.05)


__all__ = ["Blockhash", "Rpc", "TransactionRejected"]

"""The one rule for every chain write: what has become of an attempt recorded before it was sent.

Every write of corpactions (payout batches, attestation memos, multiplier updates, address
lookup tables) follows the
same protocol: the signed bytes, their signature and the blockhash's ``lastValidBlockHeight`` are
recorded in the ledger by compare-and-set *before* the first send; afterwards only this module
decides what the attempt's fate is:

- ``landed``: the transaction as the chain finalized it (read with ``getTransaction`` at
  finalized), with its error if it failed; a status answer alone never decides this;
- ``pending``: it may still land (or has landed below finalized): wait; when the node does not
  know it at all, the same bytes are sent again (they can land at most once);
- ``expired``: the finalized chain is past its last valid block height and holds no such
  transaction: it can never land, and only now may a new attempt be signed.

The finalized height is read before the statuses: a transaction that landed at or below its last
valid height is then certain to be found by the finalized read that follows.

With several endpoints and a quorum (``CORPACTIONS_RPC_URLS``, ``CORPACTIONS_RPC_QUORUM``), each
endpoint judges every attempt on its own and a terminal fate (landed with a given error, or
expired) holds only when at least the quorum of them give that same fate; anything short of that
is ``pending``. One node hiding a landed transaction can then no longer make it "expired" (and
so signed again), nor can one node invent a landing or a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from corpactions.chain.rpc import Rpc, TransactionRejected
from corpactions.errors import TransientRpcError
from corpactions.execution.crashpoints import crash_point
from corpactions.logs import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class Attempt:
    signature: str
    last_valid_block_height: int
    signed: bytes | None = None
    """The recorded bytes; given, they are sent again while the attempt is unknown."""


@dataclass(frozen=True)
class Fate:
    state: Literal["landed", "pending", "expired"]
    slot: int = 0
    err: Any = None
    """For ``landed``: the error the finalized transaction shows (None: it succeeded)."""

    @property
    def succeeded(self) -> bool:
        return self.state == "landed" and self.err is None


CONCURRENCY = 16
PENDING = Fate("pending")
EXPIRED = Fate("expired")


async def finalized_transaction(rpc: Rpc, signature: str) -> Fate | None:
    """The transaction as the chain finalized it, or None if there is none (yet)."""
    tx = await rpc.transaction(signature)
    if tx is None or not isinstance(tx.get("meta"), dict):
        return None
    return Fate("landed", int(tx.get("slot") or 0), tx["meta"].get("err"))


async def fates(rpc: Rpc, attempts: Sequence[Attempt]) -> list[Fate]:
    """The fate of each recorded attempt (see the module docstring)."""
    if not attempts:
        return []
    if rpc.quorum <= 1:
        return await _fates_at(rpc, attempts)
    voters = rpc.peers()
    answers = await asyncio.gather(
        *(_fates_at(peer, attempts) for peer in voters), return_exceptions=True
    )
    ballots: list[list[Fate]] = []
    for peer, answer in zip(voters, answers, strict=True):
        if isinstance(answer, TransientRpcError):
            log.warning("rpc endpoint casts no vote", endpoint=peer.url, error=answer.message)
        elif isinstance(answer, BaseException):
            raise answer
        else:
            ballots.append(answer)
    if len(ballots) < rpc.quorum:
        raise TransientRpcError(
            f"only {len(ballots)} of {len(voters)} RPC endpoints answered; "
            f"a transaction's fate needs {rpc.quorum}",
            hint="check the endpoints in CORPACTIONS_RPC_URLS; the run resumes where it stopped",
        )
    return [agreed(rpc.quorum, [ballot[i] for ballot in ballots]) for i in range(len(attempts))]


def agreed(quorum: int, votes: Sequence[Fate]) -> Fate:
    """The terminal fate at least ``quorum`` votes give alike, else ``pending``."""
    tally: dict[tuple[str, bytes], list[Fate]] = {}
    for vote in votes:
        if vote.state != "pending":
            key = (vote.state, orjson.dumps(vote.err, option=orjson.OPT_SORT_KEYS))
            tally.setdefault(key, []).append(vote)
    for alike in tally.values():
        if len(alike) >= quorum:
            return min(alike, key=lambda fate: fate.slot)
    return PENDING


async def _fates_at(rpc: Rpc, attempts: Sequence[Attempt]) -> list[Fate]:
    finalized_height = await rpc.block_height("finalized")
    statuses = await rpc.signature_statuses(
        [Signature.from_string(a.signature) for a in attempts], search_history=True
    )
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(attempt: Attempt, status: Any) -> Fate:
        async with gate:
            return await _fate(rpc, attempt, status, finalized_height)

    return list(await asyncio.gather(*(one(a, s) for a, s in zip(attempts, statuses, strict=True))))


async def fate(rpc: Rpc, attempt: Attempt) -> Fate:
    return (await fates(rpc, [attempt]))[0]


async def _fate(rpc: Rpc, attempt: Attempt, status: Any, finalized_height: int) -> Fate:
    says_final = status is not None and "Finalized" in str(status.confirmation_status)
    past = finalized_height > attempt.last_valid_block_height
    if says_final or past or status is None:
        landed = await finalized_transaction(rpc, attempt.signature)
        if landed is not None:
            return landed
        if past:
            return EXPIRED
    if status is not None and not says_final:
        return PENDING  # processed or confirmed, success or error: only finality decides
    # unknown to the node, or "finalized" yet not readable at finalized: send the same bytes
    if attempt.signed is not None:
        with contextlib.suppress(TransactionRejected):
            await rpc.send_raw(attempt.signed, skip_preflight=True)
    return PENDING


async def settle(rpc: Rpc, attempt: Attempt, *, timeout: float = 120.0) -> Fate:
    """Ask for the attempt's fate until it is no longer pending, or ``timeout`` passes (then
    ``pending``: the caller runs again later; nothing is lost)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        found = await fate(rpc, attempt)
        if found.state != "pending" or loop.time() > deadline:
            return found
        await asyncio.sleep(0.25)


async def write_once(
    rpc: Rpc,
    tx: VersionedTransaction,
    last_valid_block_height: int,
    *,
    record: Callable[[bytes, str, int], bool],
    crash_prefix: str,
    timeout: float = 120.0,
) -> Fate | None:
    """Record a signed transaction, then send it and wait for its fate.

    ``record(signed_bytes, signature, last_valid)`` must store the attempt durably, as a
    compare-and-set against the attempt the caller saw (False: another executor recorded one
    first, and nothing is sent: None is returned). The caller resolves any earlier attempt with
    ``fate`` before signing a new one; this function never re-signs."""
    signed = bytes(tx)
    signature = str(tx.signatures[0])
    crash_point(f"{crash_prefix}_after_sign")
    if not record(signed, signature, last_valid_block_height):
        return None
    crash_point(f"{crash_prefix}_after_persist")
    with contextlib.suppress(TransactionRejected):
        await rpc.send_raw(signed, skip_preflight=True)
    crash_point(f"{crash_prefix}_after_send")
    return await settle(rpc, Attempt(signature, last_valid_block_height, signed), timeout=timeout)

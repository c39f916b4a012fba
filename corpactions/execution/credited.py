"""What a plan has already paid, read from the chain, checked before any of its batches is signed.

The ledger says which lines are paid; an edit of the ledger (a finalized batch set back to
pending) would have the executor pay those holders a second time. So before signing, the
executor reads the paying account's history (the treasury, or a stock plan's mint): every
successful finalized transaction whose memo names this plan, and each one's token balance
deltas. A line whose account has already been credited by one of them is never signed again;
the plan stops in ``discrepancy`` instead, naming the line and the transaction that paid it.

The history is read once per process and plan, then only what is newer (``until`` the newest
signature seen), so a run of many batches reads each of its own transactions once more.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from corpactions.chain.rpc import Rpc
from corpactions.errors import PlanError
from corpactions.execution.batching import memo_prefix
from corpactions.execution.reconcile import read_transaction
from corpactions.logs import get_logger
from corpactions.models import PayoutPlan, PlanStatus

PAGE = 1000
log = get_logger(__name__)


class PaidAlready(PlanError):
    """Lines the ledger wants paid have already been paid by this plan on chain."""

    default_hint = (
        "the ledger lost track of payments that are on chain: nothing more of the plan is "
        "signed; see the named transactions and the reconciliation in 'corpactions payouts show'"
    )


@dataclass
class Credited:
    """Token accounts this plan's transactions have credited on chain, with the signature."""

    plan_id: int
    source: str
    mint: str
    since: datetime | None
    accounts: dict[str, str] = field(default_factory=dict)
    newest: str | None = None
    unread: set[str] = field(default_factory=set)
    """Signatures of this plan found in the history but not yet read (not readable at finalized
    yet, or a read that failed)."""
    _locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = field(
        default_factory=weakref.WeakKeyDictionary
    )
    _reads: int = 0

    async def refresh(self, rpc: Rpc) -> None:
        """Read what is new in the history. Callers that arrive while a read is under way share
        it: the batches of a group signed together cost one read (each worker task runs its own
        event loop, hence a lock per loop)."""
        lock = self._locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())
        seen = self._reads
        async with lock:
            if self._reads != seen:
                return  # read while this caller waited: the batches signing together share it
            # kept unread until read: a read that fails midway leaves them for the next one
            self.unread.update(await self._new_signatures(rpc))
            for signature in sorted(self.unread):
                reading = await read_transaction(rpc, signature, self.mint, retries=1)
                if reading.missing and "no finalized" in reading.missing:
                    continue
                self.unread.discard(signature)
                for account, delta in reading.deltas.items():
                    if delta > 0 and account != self.source:
                        self.accounts.setdefault(account, signature)
            self._reads += 1  # only a read that completed is shared (a failed one raises)

    async def _new_signatures(self, rpc: Rpc) -> list[str]:
        marker = memo_prefix(self.plan_id)
        oldest = self.since.timestamp() - 3600 if self.since is not None else None
        found: list[str] = []
        before: str | None = None
        newest: str | None = None
        while True:
            options: dict[str, Any] = {"limit": PAGE, "commitment": "finalized"}
            if before:
                options["before"] = before
            if self.newest:
                options["until"] = self.newest
            page = await rpc.call_json("getSignaturesForAddress", [self.source, options]) or []
            if page and newest is None:
                newest = page[0]["signature"]
            found += [
                item["signature"]
                for item in page
                if item.get("err") is None and marker in (item.get("memo") or "")
            ]
            last_time = page[-1].get("blockTime") if page else None
            if len(page) < PAGE or (
                oldest is not None and last_time is not None and last_time < oldest
            ):
                break
            before = page[-1]["signature"]
        if newest is not None:
            self.newest = newest
        return found

    def paid_already(self, accounts: list[str]) -> list[tuple[str, str]]:
        """(account, signature) for each of ``accounts`` this plan has already credited."""
        return [(a, self.accounts[a]) for a in accounts if a in self.accounts]


_READ: dict[tuple[int, str, str], Credited] = {}


def credited_for(plan_id: int, source: str, mint: str, since: datetime | None) -> Credited:
    """The process's reading of what ``plan_id`` has credited from ``source``."""
    key = (plan_id, source, mint)
    if key not in _READ:
        _READ[key] = Credited(plan_id, source, mint, since)
    return _READ[key]


def stop_paid_again(session: Session, plan_id: int, again: list[tuple[str, str]]) -> PaidAlready:
    """Mark the plan ``discrepancy`` (committed with the session) for accounts it has already
    credited on chain, and return the error to raise: nothing of the batch is signed."""
    named = ", ".join(f"{account} (paid in {signature})" for account, signature in again[:5])
    reason = (
        f"{len(again)} line(s) the ledger shows unpaid were already paid by this plan on chain: "
        f"{named}{' ...' if len(again) > 5 else ''}"
    )
    plan = session.get(PayoutPlan, plan_id)
    if plan is not None:
        plan.status = PlanStatus.discrepancy
        plan.stale_reason = reason
        session.add(plan)
    log.error("a line would be paid twice; nothing signed", plan=plan_id, reason=reason)
    return PaidAlready(f"plan {plan_id}: {reason}")

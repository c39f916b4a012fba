"""Reconcile a paid plan from the chain, not from the ledger's own bookkeeping.

Every signature the plan's paid lines claim is read with ``getTransaction`` at finalized
commitment. A paid line must equal the token balance delta of the account it pays (its proven
``account``) in its own transaction; the treasury's outflow (or, for minted stock, the sum
minted) comes from the same deltas; no account may receive anything a line does not claim; and
paid + held + failed lines must add up to what the plan was approved to send, carried and
escrowed lines to their approved totals. A USDC plan pays from its own funded account: its
funding transaction must have moved exactly the to-send total out of the treasury into it, and
what the account holds now (or, once closed, what went back to the treasury) must be the funding
less the outflow. Any difference is listed line by line (ledger against chain) and the plan is
not attested.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, select

from corpactions.chain.rpc import Rpc
from corpactions.execution.batching import memo_prefix
from corpactions.logs import get_logger
from corpactions.models import FundingStatus, LineStatus, PayoutLine, PayoutPlan, PlanFunding

log = get_logger(__name__)
FETCH_CONCURRENCY = 8
MISSING_RETRIES = 5
"""A transaction the ledger calls finalized but the node does not show at finalized is asked for
again this many times (a second apart) before it counts as missing."""


@dataclass
class ChainReading:
    deltas: dict[str, int] = field(default_factory=dict)
    """Token account -> raw amount change of the plan's mint in this transaction."""
    missing: str | None = None
    """Why the transaction cannot count: not found at finalized, or failed on chain."""
    fee: int = 0


async def read_transaction(
    rpc: Rpc, signature: str, mint: str, *, retries: int = MISSING_RETRIES
) -> ChainReading:
    tx: Any = None
    for attempt in range(retries):
        tx = await rpc.transaction(signature)
        if tx is not None or attempt == retries - 1:
            break
        await asyncio.sleep(1.0)
    if tx is None:
        return ChainReading(missing="no finalized transaction with this signature")
    meta = tx.get("meta") or {}
    if meta.get("err") is not None:
        return ChainReading(missing=f"the transaction failed on chain: {meta['err']}")
    message = tx["transaction"]["message"]
    keys = list(message["accountKeys"])
    loaded = meta.get("loadedAddresses") or {}
    keys += list(loaded.get("writable") or []) + list(loaded.get("readonly") or [])
    reading = ChainReading(fee=int(meta.get("fee") or 0))
    for sign, entries in ((-1, meta.get("preTokenBalances")), (1, meta.get("postTokenBalances"))):
        for entry in entries or []:
            if entry.get("mint") != mint:
                continue
            account = keys[int(entry["accountIndex"])]
            amount = int(entry["uiTokenAmount"]["amount"])
            reading.deltas[account] = reading.deltas.get(account, 0) + sign * amount
    return reading


async def plan_signatures_on_chain(
    rpc: Rpc, address: str, plan_id: int, since: datetime | None
) -> set[str]:
    """Every successful transaction of ``address`` (the treasury, or a stock plan's mint) whose
    memo names this plan's batches, back to the plan's approval: found from the chain's history,
    not from the ledger, so a batch paid twice (or by a batch the ledger no longer shows) counts."""
    marker = memo_prefix(plan_id)
    oldest = since.timestamp() - 3600 if since is not None else None
    found: set[str] = set()
    before: str | None = None
    while True:
        options: dict[str, Any] = {"limit": 1000, "commitment": "finalized"}
        if before:
            options["before"] = before
        page = await rpc.call_json("getSignaturesForAddress", [address, options]) or []
        for item in page:
            if item.get("err") is None and marker in (item.get("memo") or ""):
                found.add(item["signature"])
        if len(page) < 1000:
            return found
        before = page[-1]["signature"]
        last_time = page[-1].get("blockTime")
        if oldest is not None and last_time is not None and last_time < oldest:
            return found


async def reconcile_from_chain(
    rpc: Rpc, session: Session, plan: PayoutPlan, *, mint: str, treasury: str | None
) -> dict[str, Any]:
    """The reconciliation report of ``plan`` read from the chain; ``report["matches"]`` says
    whether it may be attested."""
    lines = session.exec(select(PayoutLine).where(PayoutLine.plan_id == plan.id)).all()
    paid = [line for line in lines if line.status == LineStatus.paid]
    claimed_signatures = {line.signature for line in paid if line.signature}
    on_chain = await plan_signatures_on_chain(rpc, treasury or mint, plan.id or 0, plan.approved_at)
    signatures = sorted(claimed_signatures | on_chain)
    readings: dict[str, ChainReading] = {}
    for start in range(0, len(signatures), FETCH_CONCURRENCY):
        chunk = signatures[start : start + FETCH_CONCURRENCY]
        found = await asyncio.gather(*(read_transaction(rpc, s, mint) for s in chunk))
        readings.update(zip(chunk, found, strict=True))

    differences: list[dict[str, Any]] = []
    claimed: dict[str, set[str]] = {}
    recipient_total = 0
    self_paid = 0
    for line in paid:
        reading = readings.get(line.signature or "")
        if reading is None or reading.missing:
            differences.append(
                {
                    "line": line.id,
                    "owner": line.owner,
                    "ledger": line.amount_due,
                    "chain": 0,
                    "why": "marked paid without a finalized transaction delta"
                    + (f" ({reading.missing})" if reading and reading.missing else ""),
                    "signature": line.signature,
                }
            )
            continue
        claimed.setdefault(line.signature or "", set()).add(line.account or "")
        if treasury is not None and line.account == treasury:
            self_paid += line.amount_due  # the treasury's owner paid itself: no net change
            continue
        received = reading.deltas.get(line.account or "", 0)
        recipient_total += received
        if received != line.amount_due:
            differences.append(
                {
                    "line": line.id,
                    "owner": line.owner,
                    "ledger": line.amount_due,
                    "chain": received,
                    "why": "the account's delta in its transaction is not the line's amount",
                    "signature": line.signature,
                }
            )
    outflow = 0
    for signature, reading in readings.items():
        if reading.missing:
            continue
        for account, delta in reading.deltas.items():
            if account == treasury:
                outflow -= delta
            elif delta > 0 and account not in claimed.get(signature, set()):
                differences.append(
                    {
                        "line": None,
                        "owner": None,
                        "account": account,
                        "ledger": 0,
                        "chain": delta,
                        "why": "an account no paid line claims received tokens",
                        "signature": signature,
                    }
                )
    if treasury is None:  # minted: the outflow is what the recipients received
        outflow = sum(
            max(0, delta) for r in readings.values() if not r.missing for delta in r.deltas.values()
        )

    def total(*statuses: LineStatus) -> int:
        return sum(line.amount_due for line in lines if line.status in statuses)

    funding = await _funding_checks(rpc, session, plan, mint=mint, outflow=outflow)

    paid_total = total(LineStatus.paid)
    to_send = total(LineStatus.paid, LineStatus.held_for_claim, LineStatus.failed)
    checks = {
        "paid lines == recipient deltas (+ paid to the treasury itself)": [
            paid_total,
            recipient_total + self_paid,
        ],
        "recipient deltas == outflow": [recipient_total, outflow],
        "paid + held + failed == approved to send": [to_send, plan.sent_total],
        "carried == approved carried": [total(LineStatus.carried), plan.carried_total],
        "escrowed == approved escrowed": [total(LineStatus.escrowed), plan.escrowed_total],
        "open lines": [total(LineStatus.pending, LineStatus.batched), 0],
        **funding,
    }
    matches = not differences and all(a == b for a, b in checks.values())
    return {
        "verified_from": "token balance deltas of each finalized transaction, read again",
        "matches": matches,
        "paid_lines": len(paid),
        "paid_total": paid_total,
        "recipient_deltas": recipient_total,
        "treasury_outflow": outflow,
        "planned_to_send": plan.sent_total,
        "held_for_claim": total(LineStatus.held_for_claim),
        "transactions": len(signatures),
        "plan_transactions_found_on_chain": len(on_chain),
        "unclaimed_transactions": sorted(on_chain - claimed_signatures)[:100],
        "checks": checks,
        "differences": differences[:1000],
        "difference_count": len(differences),
        "reconciled_at": datetime.now(UTC).isoformat(),
    }


async def _funding_checks(
    rpc: Rpc, session: Session, plan: PayoutPlan, *, mint: str, outflow: int
) -> dict[str, list[int]]:
    """For a USDC plan: its funding and its account's remainder, read from the chain."""
    if plan.asset != "usdc":
        return {}
    funding = session.exec(select(PlanFunding).where(PlanFunding.plan_id == plan.id)).first()
    if funding is None or funding.status not in (
        FundingStatus.funded,
        FundingStatus.closing,
        FundingStatus.closed,
    ):
        return {"funded from the treasury == approved to send": [0, plan.sent_total]}
    reading = await read_transaction(rpc, funding.signature or "", mint)
    funded_in = 0 if reading.missing else reading.deltas.get(funding.account, 0)
    taken = 0 if reading.missing else -reading.deltas.get(funding.treasury, 0)
    checks = {
        "funded from the treasury == approved to send": [funded_in, plan.sent_total],
        "taken from the treasury == funded": [taken, funded_in],
    }
    closing = (
        await read_transaction(rpc, funding.close_signature, mint)
        if funding.status != FundingStatus.funded and funding.close_signature
        else None
    )
    if closing is not None and (not closing.missing or funding.status == FundingStatus.closed):
        returned = 0 if closing.missing else closing.deltas.get(funding.treasury, 0)
        checks["returned to the treasury == funded - outflow"] = [returned, funded_in - outflow]
    else:
        balance = await rpc.call_json(
            "getTokenAccountBalance", [funding.account, {"commitment": "finalized"}]
        )
        left = int(balance["value"]["amount"])
        checks["left in the plan account == funded - outflow"] = [left, funded_in - outflow]
    return checks

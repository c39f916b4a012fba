"""What a batch pays: its compute-unit price from the market, its fee in lamports.

The price is a percentile (``CORPACTIONS_PRIORITY_PERCENTILE``) of what the node's recent slots
charged to write-lock the batch's writable accounts (``getRecentPrioritizationFees`` with those
accounts), capped by ``CORPACTIONS_PRIORITY_MAX_MICROLAMPORTS``. The fee of a transaction is
5,000 lamports per signature plus ceil(price x CU limit / 10^6).
"""

from __future__ import annotations

from collections.abc import Sequence

from solders.pubkey import Pubkey

from corpactions.chain.rpc import Rpc
from corpactions.errors import ChainError

LAMPORTS_PER_SIGNATURE = 5_000
MAX_FEE_ACCOUNTS = 128
"""getRecentPrioritizationFees takes at most 128 addresses."""


def percentile(values: Sequence[int], pct: int) -> int:
    """Nearest-rank percentile of integers (0 for none)."""
    if not values:
        return 0
    ordered = sorted(values)
    rank = max(1, -(-pct * len(ordered) // 100))
    return ordered[min(rank, len(ordered)) - 1]


async def unit_price(rpc: Rpc, writable: Sequence[Pubkey], *, pct: int, cap: int) -> int:
    """Micro-lamports per CU for a transaction that write-locks ``writable``; 0 when the node
    does not answer (a priority fee is never worth failing a payout for)."""
    accounts = [str(a) for a in dict.fromkeys(writable)][:MAX_FEE_ACCOUNTS]
    try:
        answer = await rpc.call_json("getRecentPrioritizationFees", [accounts])
        fees = [int(item["prioritizationFee"]) for item in answer]
    except (ChainError, KeyError, TypeError, ValueError):
        return 0
    return min(cap, percentile(fees, pct))


def fee_lamports(signatures: int, unit_limit: int, price: int) -> int:
    return LAMPORTS_PER_SIGNATURE * signatures + -(-price * unit_limit // 1_000_000)

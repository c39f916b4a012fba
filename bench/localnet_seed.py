"""Seeding N holders on the local chain with real transactions.

Target (issue: local chain): 10k holders <= 60 s. Baseline, measured in the same run: the same
seeding with one holder per transaction (no packing to the 1232-byte limit).

    .venv/bin/python bench/localnet_seed.py [--holders 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from _common import LocalnetProcess, machine

from corpactions.localnet.seed import seed


def run(holders: int, packet_limit: int) -> tuple[float, int]:
    chain = LocalnetProcess("--slot-ms", "400")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            result = asyncio.run(
                seed(
                    rpc_url=chain.url,
                    keys_dir=Path(tmp),
                    holders=holders,
                    packet_limit=packet_limit,
                )
            )
            return time.perf_counter() - start, result.transactions
    finally:
        chain.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--holders", type=int, default=10_000)
    args = parser.parse_args()
    packed_s, packed_txs = run(args.holders, 1232)
    single_s, single_txs = run(args.holders, 0)
    print(f"machine: {machine()}")
    print(f"holders: {args.holders}")
    print(f"packed      : {packed_s:.1f} s, {packed_txs} transactions")
    print(f"baseline 1/tx: {single_s:.1f} s, {single_txs} transactions")
    print(
        f"ratio baseline/packed: {single_s / packed_s:.2f}x; target <= 60 s: {'met' if packed_s <= 60 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()

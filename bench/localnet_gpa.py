"""getProgramAccounts over 100k token accounts of one mint (plus other mints' accounts) on the
local chain, with the snapshot query: dataSize 165 + memcmp(0, mint) + 40-byte dataSlice.

Target (issue: local chain): <= 3 s. Baseline, measured in the same run: the same filtered query
without dataSlice (whole 165-byte accounts, what a naive client asks for).

    .venv/bin/python bench/localnet_gpa.py [--accounts 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import random
import tempfile
import time
from pathlib import Path

import orjson
from _common import LocalnetProcess, machine
from solders.pubkey import Pubkey

from corpactions.chain import layout
from corpactions.chain.rpc import Rpc
from corpactions.localnet.chain import STATE_VERSION


def plant_state(path: Path, mint: Pubkey, accounts: int, noise: int) -> None:
    rng = random.Random(1)
    other = Pubkey.new_unique()
    rows = []
    for i in range(accounts + noise):
        owner = bytes(Pubkey.new_unique())
        amount = rng.randrange(0, 10**12)
        data = (
            bytes(mint if i < accounts else other)
            + owner
            + amount.to_bytes(8, "little")
            + bytes(36)
            + b"\x01"
            + bytes(56)
        )
        rows.append(
            [
                str(Pubkey.new_unique()),
                2039280,
                str(layout.TOKEN_PROGRAM_ID),
                base64.b64encode(data).decode(),
            ]
        )
    path.write_bytes(
        orjson.dumps(
            {
                "version": STATE_VERSION,
                "slot": 1,
                "block_height": 1,
                "time_offset": 0,
                "accounts": rows,
                "history": [],
            }
        )
    )


async def query(url: str, mint: Pubkey, sliced: bool) -> tuple[float, int, int]:
    config: dict[str, object] = {
        "encoding": "base64",
        "filters": [{"dataSize": 165}, {"memcmp": {"offset": 0, "bytes": str(mint)}}],
    }
    if sliced:
        config["dataSlice"] = {"offset": 32, "length": 40}
    async with Rpc(url, timeout=120) as rpc:
        start = time.perf_counter()
        body = await rpc.call_raw("getProgramAccounts", [str(layout.TOKEN_PROGRAM_ID), config])
        elapsed = time.perf_counter() - start
    count = len(orjson.loads(body)["result"])
    return elapsed, count, len(body)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=100_000)
    args = parser.parse_args()
    mint = Pubkey.new_unique()
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state.json"
        plant_state(state, mint, args.accounts, args.accounts // 5)
        chain = LocalnetProcess("--slot-ms", "0", state=state)
        try:
            runs = {True: [], False: []}
            for _ in range(3):
                for sliced in (True, False):
                    runs[sliced].append(asyncio.run(query(chain.url, mint, sliced)))
        finally:
            chain.stop()
    best = {k: min(v) for k, v in runs.items()}
    target, baseline = best[True], best[False]
    assert target[1] == baseline[1] == args.accounts, (target, baseline)
    print(f"machine: {machine()}")
    print(f"accounts of the mint: {args.accounts} (+{args.accounts // 5} of another mint)")
    print(f"sliced (40 B)  : {target[0]:.3f} s, {target[2] / 1e6:.1f} MB response")
    print(f"baseline (full): {baseline[0]:.3f} s, {baseline[2] / 1e6:.1f} MB response")
    print(
        f"ratio baseline/sliced: {baseline[0] / target[0]:.2f}x; target <= 3 s: {'met' if target[0] <= 3 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()

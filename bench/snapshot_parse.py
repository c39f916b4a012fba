"""Parse + aggregate a recorded 1,000,000-account getProgramAccounts response (77-byte slices).

Target (issue: snapshots): <= 3 s with peak RSS <= 2 GB, and >= 5x faster than the
straightforward path (solana-py's typed response -> Python loop), measured side by side in one
run, each in its own child process (so each peak RSS is its own); results must be identical.

    .venv/bin/python bench/snapshot_parse.py [--accounts 1000000] [--threads 1]
"""

from __future__ import annotations

import argparse
import base64
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import orjson
from _common import ROOT, machine
from solders.pubkey import Pubkey

CHILD = r"""
import resource, sys, time, orjson
path, mode, out = sys.argv[1], sys.argv[2], sys.argv[3]
raw = open(path, "rb").read()
if mode == "fast":  # libraries are imported before the clock starts, on both paths
    from snapshots.parse import aggregate_holders, parse_program_accounts, token_accounts_only
else:
    from solders.rpc.responses import GetProgramAccountsWithContextResp
start = time.perf_counter()
if mode == "fast":
    page = parse_program_accounts(raw)
    holders = aggregate_holders(token_accounts_only(page.accounts.lazy(), token_2022=False))
    elapsed = time.perf_counter() - start  # the checks below are not part of the work
    result = dict(zip(holders["owner"].to_list(), holders["amount"].to_list()))
else:
    resp = GetProgramAccountsWithContextResp.from_json(raw.decode())
    totals = {}
    for keyed in resp.value:
        data = bytes(keyed.account.data)
        if keyed.account.data and data[76] == 0:
            continue
        amount = int.from_bytes(data[32:40], "little")
        if amount:
            owner = data[0:32]  # keyed by the owner's bytes, as the bulk path is
            totals[owner] = totals.get(owner, 0) + amount
    result = totals
    elapsed = time.perf_counter() - start
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
open(out, "wb").write(orjson.dumps({"seconds": elapsed, "rss_mb": rss, "owners": len(result), "total": sum(result.values()), "digest": hash(frozenset(result.items()))}))
"""


def record(path: Path, accounts: int) -> None:
    rng = random.Random(7)
    owners = [bytes(Pubkey.new_unique()) for _ in range(int(accounts * 0.8))]
    items = []
    for _ in range(accounts):
        owner = owners[rng.randrange(len(owners))]
        amount = 0 if rng.random() < 0.05 else rng.randrange(1, 10**13)
        state = b"\x02" if rng.random() < 0.01 else b"\x01"
        data = owner + amount.to_bytes(8, "little") + bytes(36) + state
        items.append(
            {  # the keys in the order a node (Agave 2.x) writes them
                "pubkey": str(Pubkey.new_unique()),
                "account": {
                    "lamports": 2039280,
                    "data": [base64.b64encode(data).decode(), "base64"],
                    "owner": "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA",
                    "executable": False,
                    "rentEpoch": 18446744073709551615,
                    "space": 165,
                },
            }
        )
    path.write_bytes(
        orjson.dumps(
            {
                "jsonrpc": "2.0",
                "result": {"context": {"slot": 123, "apiVersion": "2.2.7"}, "value": items},
                "id": 1,
            }
        )
    )


def measure(path: Path, mode: str, threads: int | None) -> dict[str, float]:
    env = {"PYTHONHASHSEED": "0", "PATH": ""}
    if threads:
        env["POLARS_MAX_THREADS"] = str(threads)  # the bulk path splits its work this many ways
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run(
            [sys.executable, "-c", CHILD, str(path), mode, out.name],
            cwd=ROOT,
            check=True,
            env=env,
        )
        return orjson.loads(Path(out.name).read_bytes())  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, help="limit the bulk path's threads (default: all)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "gpa.json"
        record(path, args.accounts)
        size = path.stat().st_size
        fast = measure(path, "fast", args.threads)
        slow = measure(path, "baseline", args.threads)
    assert (fast["owners"], fast["total"], fast["digest"]) == (
        slow["owners"],
        slow["total"],
        slow["digest"],
    ), (fast, slow)
    print(f"machine: {machine()}")
    print(f"response: {args.accounts} accounts, {size / 1e6:.0f} MB; owners {fast['owners']}")
    print(f"threads          : {args.threads or 'all cores'}")
    print(f"polars bulk path : {fast['seconds']:.2f} s, peak RSS {fast['rss_mb']:.0f} MB")
    print(f"solana-py + loop : {slow['seconds']:.2f} s, peak RSS {slow['rss_mb']:.0f} MB")
    ok = fast["seconds"] <= 3 and fast["rss_mb"] <= 2048 and slow["seconds"] / fast["seconds"] >= 5
    print(
        f"ratio baseline/bulk: {slow['seconds'] / fast['seconds']:.1f}x; targets (<= 3 s, <= 2 GB, >= 5x): {'met' if ok else 'MISSED'}"
    )


if __name__ == "__main__":
    main()

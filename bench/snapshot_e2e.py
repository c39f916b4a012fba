"""A holder snapshot end to end, as an operator runs it, against a node-shaped local server.

Timed from process start to exit, Parquet written and ledger row committed:

- the project: ``corpactions snapshot take --mint M --rpc URL --out DIR --json`` (SQLite
  ledger in a fresh data dir, the instrument registered beforehand, not timed);
- the baseline, the straightforward solana-py path: ``AsyncClient.get_program_accounts``
  (typed response) with the same filters and slice, a Python loop over the accounts keyed by
  owner, the same supply check, a Parquet file by polars and a row in a SQLite table.

Both run in their own process (peak RSS is each one's own, from ``wait4``), in turn, at least
twice each; they must agree exactly (owners, total, sha256 over every (owner, amount) pair).

The server is not the project's parser's mirror image: it is a ``ThreadingHTTPServer`` that
answers getAccountInfo, getTokenSupply, getBlockTime and getProgramAccounts (only with the
filters and slice it was built for; withContext or not) with bodies made by ``orjson`` from
per-account dicts in a node's key order (``--order struct``: ``pubkey`` then ``account`` with
``lamports`` first, as Agave 2.x writes them; ``--order sorted``: older nodes). Token-2022
accounts have mixed sizes (asked of the Token-2022 program in LiteSVM, ``tests/snapkit.py``):
165 bytes without extensions, 170 with ImmutableOwner (associated accounts), 175 with
MemoTransfer or CpiGuard as well; a few non-account entries share the mint's bytes (a
mint-sized entry, a Token-2022 mint with extensions, an uninitialized account); frozen
accounts, zero balances and owners with several accounts. The mint is made by the real
program (LiteSVM) and its supply set to the accounts' total. ``--gzip`` compresses when the
client sends ``Accept-Encoding: gzip`` (httpx does); ``--chunked`` sends chunked transfer
encoding (64 KiB chunks) instead of a Content-Length.

    .venv/bin/python bench/snapshot_e2e.py [--program token2022|token] [--accounts 1200000]
        [--order struct|sorted] [--gzip] [--chunked] [--runs 2]
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import orjson
import polars as pl
from _common import ROOT, machine
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.message import Message
from solders.pubkey import Pubkey
from solders.system_program import CreateAccountParams, create_account
from solders.transaction import Transaction
from spl.token.constants import TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID
from spl.token.instructions import initialize_mint2
from spl.token.models import InitializeMint2Params

from tests.snapkit import SHAPES, item, token_account

CACHE = Path(tempfile.gettempdir()) / "corpactions-bench"
SLOT = 345_678_901
CONTENT_TYPE = "application/json; charset=utf-8"  # as a node's JSON-RPC server sends it
SHAPE_WEIGHTS = {  # share of token accounts per shape (associated accounts dominate)
    "no extensions": 0.08,
    "ImmutableOwner": 0.85,
    "ImmutableOwner+MemoTransfer": 0.04,
    "ImmutableOwner+CpiGuard": 0.03,
}
assert set(SHAPE_WEIGHTS) == set(SHAPES)

BASELINE = r"""
import asyncio, sqlite3, sys, time
import polars as pl
from solana.rpc.async_api import AsyncClient
from solana.rpc.models import DataSliceOpts, MemcmpOpts
from solders.pubkey import Pubkey

url, mint_text, program_text, out, classic = sys.argv[1:6]
classic = classic == "1"
mint, program = Pubkey.from_string(mint_text), Pubkey.from_string(program_text)

def holdings(accounts):
    totals = {}
    total = 0
    for keyed in accounts:
        data = bytes(keyed.account.data)
        if classic:
            if len(data) != 77 or data[76] == 0:
                continue
        elif len(data) < 133 or data[76] == 0 or (len(data) > 133 and data[133] != 2):
            continue  # not an initialized token account
        amount = int.from_bytes(data[32:40], "little")
        total += amount
        if amount:
            owner = data[:32]
            totals[owner] = totals.get(owner, 0) + amount
    return totals, total

async def read():
    async with AsyncClient(url, timeout=120) as client:
        before = int((await client.get_token_supply(mint)).value.amount)
        filters = [MemcmpOpts(offset=0, bytes=mint_text)]
        if classic:
            filters.insert(0, 165)
        resp = await client.get_program_accounts(
            program,
            encoding="base64",
            data_slice=DataSliceOpts(offset=32, length=77 if classic else 134),
            filters=filters,
        )
        totals, total = holdings(resp.value)
        after = int((await client.get_token_supply(mint)).value.amount)
        return before, totals, total, after

# The loop runs inside the coroutine and only the totals come out: asyncio's task repr of a
# result holding the typed response costs minutes (seen here), which no one would ship.
before, totals, total, after = asyncio.run(read())
if not before == after == total:
    sys.exit(f"supply {before}/{after} but balances sum to {total}")
owners = sorted(totals)
pl.DataFrame(
    {"owner": owners, "amount": [totals[o] for o in owners]},
    schema={"owner": pl.Binary, "amount": pl.UInt64},
).write_parquet(out + "/baseline.parquet", compression="zstd")
ledger = sqlite3.connect(out + "/ledger.sqlite")
ledger.execute("CREATE TABLE IF NOT EXISTS snapshot (mint TEXT, owners INTEGER, supply TEXT)")
ledger.execute("INSERT INTO snapshot VALUES (?, ?, ?)", (mint_text, len(owners), str(total)))
ledger.commit()
print(out + "/baseline.parquet")
"""


def make_mint(program: Pubkey) -> tuple[Pubkey, bytes]:
    """A mint made by the real program (LiteSVM): its address and account data."""
    svm = LiteSVM()
    payer, mint = Keypair(), Keypair()
    svm.airdrop(payer.pubkey(), 10**10)
    setup = [
        create_account(
            CreateAccountParams(
                from_pubkey=payer.pubkey(),
                to_pubkey=mint.pubkey(),
                lamports=10**8,
                space=82,
                owner=program,
            )
        ),
        initialize_mint2(
            InitializeMint2Params(
                program_id=program, mint=mint.pubkey(), decimals=8, mint_authority=payer.pubkey()
            )
        ),
    ]
    svm.send_transaction(
        Transaction([payer, mint], Message(setup, payer.pubkey()), svm.latest_blockhash())
    )
    account = svm.get_account(mint.pubkey())
    assert account is not None
    return mint.pubkey(), bytes(account.data)


def build(args: argparse.Namespace) -> dict[str, Any]:
    """The server's data: the mint, its supply and the getProgramAccounts array (cached)."""
    classic = args.program == "token"
    key = f"{args.program}-{args.accounts}-{args.order}-v1"
    CACHE.mkdir(exist_ok=True)
    cached = CACHE / f"{key}.json"
    meta_path = CACHE / f"{key}.meta.json"
    if cached.exists() and meta_path.exists():
        meta = orjson.loads(meta_path.read_bytes())
        meta["mint_data"] = bytes.fromhex(meta["mint_data"])
        meta["array"] = cached.read_bytes()
        return meta
    program = TOKEN_PROGRAM_ID if classic else TOKEN_2022_PROGRAM_ID
    mint, mint_data = make_mint(program)
    mint_bytes = bytes(mint)
    rng = random.Random(21)
    owners = [rng.randbytes(32) for _ in range(int(args.accounts * 0.78))]
    shapes = list(SHAPE_WEIGHTS)
    weights = list(SHAPE_WEIGHTS.values())
    items: list[bytes] = []
    supply = 0
    for index in range(args.accounts):
        owner = owners[index] if index < len(owners) else owners[rng.randrange(len(owners))]
        amount = 0 if rng.random() < 0.05 else rng.randrange(1, 10**12)
        state = 2 if rng.random() < 0.01 else 1
        shape = "no extensions" if classic else rng.choices(shapes, weights)[0]
        data = token_account(mint_bytes, owner, amount, state=state, shape=shape)
        supply += amount
        entry = item(
            str(Pubkey(rng.randbytes(32))),
            data,
            order=args.order,
            program=str(program),
            length=77 if classic else 134,
        )
        items.append(orjson.dumps(entry))
    if not classic:  # entries that share the mint's bytes but are no token account
        others = [
            mint_bytes + bytes(50),  # mint-sized
            mint_bytes + bytes(133) + b"\x01" + bytes(84),  # account type 1: a mint
            token_account(mint_bytes, owners[0], 10**9, state=0),  # uninitialized
        ]
        for data in others:
            at = rng.randrange(len(items))
            items.insert(
                at,
                orjson.dumps(
                    item(
                        str(Pubkey(rng.randbytes(32))), data, order=args.order, program=str(program)
                    )
                ),
            )
    rng.shuffle(items)
    array = b"[" + b",".join(items) + b"]"
    mint_data = mint_data[:36] + supply.to_bytes(8, "little") + mint_data[44:]
    meta = {"mint": str(mint), "program": str(program), "supply": supply}
    meta_path.write_bytes(orjson.dumps({**meta, "mint_data": mint_data.hex()}))
    cached.write_bytes(array)
    return {**meta, "mint_data": mint_data, "array": array}


def _filter_key(entry: dict[str, Any]) -> bytes:
    """A filter as a node reads it (a memcmp's encoding defaults to base58)."""
    if "memcmp" in entry:
        memcmp = {"encoding": "base58", **entry["memcmp"]}
        return orjson.dumps({"memcmp": memcmp}, option=orjson.OPT_SORT_KEYS)
    return orjson.dumps(entry, option=orjson.OPT_SORT_KEYS)


class Node(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    data: dict[str, Any]
    gzip_bodies: ClassVar[dict[tuple[bool, int], bytes]] = {}
    use_gzip = False
    chunked = False

    def log_message(self, *_args: Any) -> None:
        pass

    def do_POST(self) -> None:
        request = orjson.loads(self.rfile.read(int(self.headers["Content-Length"])))
        method, params, ident = request["method"], request.get("params", []), request["id"]
        context = {"slot": SLOT, "apiVersion": "2.2.7"}
        if method == "getProgramAccounts":
            self.program_accounts(params, ident)
            return
        if method == "getAccountInfo":
            result: Any = {
                "context": context,
                "value": {
                    "data": [base64.b64encode(self.data["mint_data"]).decode(), "base64"],
                    "executable": False,
                    "lamports": 1461600,
                    "owner": self.data["program"],
                    "rentEpoch": 18446744073709551615,
                    "space": len(self.data["mint_data"]),
                },
            }
        elif method == "getTokenSupply":
            supply = self.data["supply"]
            result = {
                "context": context,
                "value": {
                    "amount": str(supply),
                    "decimals": 8,
                    "uiAmount": supply / 1e8,
                    "uiAmountString": str(supply / 1e8),
                },
            }
        elif method == "getBlockTime":
            result = 1_764_547_200
        else:
            self.send_json(
                {
                    "jsonrpc": "2.0",
                    "error": {"code": -32601, "message": "Method not found"},
                    "id": ident,
                }
            )
            return
        self.send_json({"jsonrpc": "2.0", "result": result, "id": ident})

    def send_json(self, document: Any) -> None:
        body = orjson.dumps(document)
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def program_accounts(self, params: list[Any], ident: int) -> None:
        config = params[1] if len(params) > 1 else {}
        classic = self.data["program"] == str(TOKEN_PROGRAM_ID)
        memcmp = {"memcmp": {"offset": 0, "bytes": self.data["mint"]}}
        expected = [{"dataSize": 165}, memcmp] if classic else [memcmp]
        if (
            params[0] != self.data["program"]
            or config.get("encoding") != "base64"
            or config.get("dataSlice") != {"offset": 32, "length": 77 if classic else 134}
            or sorted(map(_filter_key, config.get("filters", [])))
            != sorted(map(_filter_key, expected))
        ):
            self.send_json(
                {
                    "jsonrpc": "2.0",
                    "error": {"code": -32602, "message": f"this server answers only {expected}"},
                    "id": ident,
                }
            )
            return
        with_context = bool(config.get("withContext"))
        if with_context:
            head = (
                b'{"jsonrpc":"2.0","result":{"context":'
                + orjson.dumps({"slot": SLOT, "apiVersion": "2.2.7"})
                + b',"value":'
            )
            tail = b'},"id":' + str(ident).encode() + b"}"
        else:
            head, tail = b'{"jsonrpc":"2.0","result":', b',"id":' + str(ident).encode() + b"}"
        parts: list[bytes | memoryview] = [head, memoryview(self.data["array"]), tail]
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE)
        if self.use_gzip and "gzip" in self.headers.get("Accept-Encoding", ""):
            key = (with_context, ident)
            if key not in self.gzip_bodies:  # made once per request id: see the warm-up run
                self.gzip_bodies[key] = gzip.compress(b"".join(parts), compresslevel=1)
            parts = [self.gzip_bodies[key]]
            self.send_header("Content-Encoding", "gzip")
        if self.chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in parts:
                view = memoryview(part)
                for low in range(0, len(view), 1 << 16):
                    piece = view[low : low + (1 << 16)]
                    self.wfile.write(b"%x\r\n" % len(piece))
                    self.wfile.write(piece)
                    self.wfile.write(b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_header("Content-Length", str(sum(len(p) for p in parts)))
        self.end_headers()
        for part in parts:
            self.wfile.write(part)


LAUNCHER = r"""
import os, sys, time
start = time.perf_counter()
pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
elapsed = time.perf_counter() - start
with open(sys.argv[1], "w") as out:
    cpu = usage.ru_utime + usage.ru_stime
    out.write(f"{elapsed} {usage.ru_maxrss / 1024} {os.waitstatus_to_exitcode(status)} {cpu}")
"""


def run_timed(
    command: list[str], env: dict[str, str], cwd: Path = ROOT
) -> tuple[float, float, float, str]:
    """(seconds from spawn to exit, peak RSS in MB, CPU seconds, stdout) of one child process.

    The child is spawned by a small launcher process and timed there: Linux carries the
    parent's resident size at fork over into the child's peak RSS, and this benchmark's
    process holds the whole response."""
    with (
        tempfile.NamedTemporaryFile("r") as result,
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
    ):
        subprocess.run(
            [sys.executable, "-S", "-c", LAUNCHER, result.name, *command],
            stdout=out,
            stderr=err,
            env=env,
            cwd=cwd,
            check=True,
        )
        seconds, rss, code, cpu = result.read().split()
        out.seek(0)
        err.seek(0)
        if int(code):
            raise SystemExit(f"{command[:3]} failed: {err.read().decode()[-3000:]}")
        return float(seconds), float(rss), float(cpu), out.read().decode()


def digest(path: Path) -> tuple[int, int, str]:
    """(owners, total, sha256 of every (owner, amount) pair in owner order) of a Parquet file."""
    frame = pl.read_parquet(path, columns=["owner", "amount"]).sort("owner")
    pairs = b"".join(
        owner + amount.to_bytes(8, "little")
        for owner, amount in zip(frame["owner"].to_list(), frame["amount"].to_list(), strict=True)
    )
    return (
        frame.height,
        int(frame["amount"].cast(pl.Int128).sum()),
        hashlib.sha256(pairs).hexdigest(),
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--program", choices=["token2022", "token"], default="token2022")
    parser.add_argument("--accounts", type=int, default=1_200_000)
    parser.add_argument("--order", choices=["struct", "sorted"], default="struct")
    parser.add_argument("--gzip", action="store_true")
    parser.add_argument("--chunked", action="store_true")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument(
        "--before",
        type=Path,
        help="also time the command from this source tree (e.g. `git archive REV | tar -x`), "
        "run with this interpreter and PYTHONPATH=BEFORE",
    )
    args = parser.parse_args()
    started = time.perf_counter()
    data = build(args)
    print(
        f"data: {len(data['array']) / 1e6:.0f} MB array, built/loaded in "
        f"{time.perf_counter() - started:.1f} s"
    )
    Node.data = data
    Node.use_gzip = args.gzip
    Node.chunked = args.chunked
    server = ThreadingHTTPServer(("127.0.0.1", 0), Node)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    executable = str(Path(sys.executable).with_name("corpactions"))
    work = Path(tempfile.mkdtemp(prefix="snapshot-e2e-"))
    try:
        env = {**os.environ, "CORPACTIONS_DATA_DIR": str(work / "data")}
        env.pop("CORPACTIONS_DATABASE_URL", None)
        subprocess.run([executable, "db", "upgrade"], env=env, check=True, capture_output=True)
        subprocess.run(
            [
                executable,
                "instruments",
                "add",
                "BENCH",
                "--mint",
                data["mint"],
                "--program",
                args.program,
            ],
            env=env,
            check=True,
            capture_output=True,
        )
        fast: list[tuple[float, float, float]] = []
        slow: list[tuple[float, float, float]] = []
        before: list[tuple[float, float, float]] = []
        results = set()
        for run in range(-1 if args.gzip else 0, args.runs):  # run -1 (gzip): compress, untimed
            out = work / f"fast-{run}"
            seconds, rss, cpu, text = run_timed(
                [
                    executable,
                    "snapshot",
                    "take",
                    "--mint",
                    data["mint"],
                    "--rpc",
                    url,
                    "--out",
                    str(out),
                    "--json",
                    "--supersede",
                ],
                env,
            )
            if run >= 0:
                fast.append((seconds, rss, cpu))
            results.add(("project", digest(Path(orjson.loads(text)["path"]))))
            if args.before is not None:
                seconds, rss, cpu, text = run_timed(
                    [
                        sys.executable,
                        "-m",
                        "corpactions.cli",
                        "snapshot",
                        "take",
                        "--mint",
                        data["mint"],
                        "--rpc",
                        url,
                        "--out",
                        str(work / f"before-{run}"),
                        "--json",
                        "--supersede",
                    ],
                    {**env, "PYTHONPATH": str(args.before.resolve())},
                    cwd=args.before,  # `-m` puts the working directory first on the path
                )
                if run >= 0:
                    before.append((seconds, rss, cpu))
                results.add(("before", digest(Path(orjson.loads(text)["path"]))))
            if args.skip_baseline:
                continue
            out = work / f"slow-{run}"
            out.mkdir()
            seconds, rss, cpu, text = run_timed(
                [
                    sys.executable,
                    "-c",
                    BASELINE,
                    url,
                    data["mint"],
                    data["program"],
                    str(out),
                    "1" if args.program == "token" else "0",
                ],
                env,
            )
            if run >= 0:
                slow.append((seconds, rss, cpu))
            results.add(("baseline", digest(Path(text.strip()))))
    finally:
        server.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    found = {result for _, result in results}
    assert len(found) == 1, results  # every run of both paths: same owners, total and pairs
    owners, total, pairs = found.pop()
    assert total == data["supply"]
    load = os.getloadavg()
    print(f"machine: {machine()}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(
        f"mint: {args.program}, {args.accounts} accounts, keys {args.order}, "
        f"gzip {'on' if args.gzip else 'off'}, chunked {'on' if args.chunked else 'off'}; "
        f"{owners} owners, total {total}, pairs sha256 {pairs[:16]}"
    )
    paths = (
        ("corpactions snapshot take", fast),
        ("before (--before)", before),
        ("solana-py + loop", slow),
    )
    for name, rows in paths:
        if rows:
            times = ", ".join(f"{s:.2f}" for s, _, _ in rows)
            cpu = ", ".join(f"{c:.2f}" for _, _, c in rows)
            rss = max(r for _, r, _ in rows)
            print(f"{name:26}: {times} s (CPU {cpu} s); peak RSS {rss:.0f} MB")
    if before:
        print(
            f"before/after (best of each): {min(b for b, _, _ in before) / min(f for f, _, _ in fast):.1f}x"
        )
    if slow:
        best_fast, best_slow = min(s for s, _, _ in fast), min(s for s, _, _ in slow)
        worst_fast, worst_slow = max(s for s, _, _ in fast), max(s for s, _, _ in slow)
        cpu_ratio = min(c for _, _, c in slow) / min(c for _, _, c in fast)
        target = 2.5 if args.program == "token" else 3.0
        ratio = best_slow / best_fast
        ok = worst_fast <= target and max(r for _, r, _ in fast) <= 1536 and ratio >= 4
        print(
            f"ratio baseline/project (best of each): {ratio:.1f}x "
            f"(worst of each: {worst_slow / worst_fast:.1f}x; CPU seconds: {cpu_ratio:.1f}x); "
            f"targets (<= {target} s, <= 1.5 GB, >= 4x): {'met' if ok else 'MISSED'}"
        )


if __name__ == "__main__":
    main()

"""Benchmark: a wallet's payout history from the API with 1,000,000 payout lines in PostgreSQL.

Target (issue: holder payout-history API): p95 ≤ 50 ms under a load of concurrent requests from
a second process on loopback. The API runs as ``corpactions api`` (uvicorn, one process) against
a scratch PostgreSQL database; wrk (Debian's package) is the load: ``--concurrency`` connections
asking ``GET /v1/holders/{wallet}/payouts`` for random wallets for ``--seconds``. Baseline in the
same run: the same load after dropping the indexes that serve owner lookups (first the (owner, id)
index, then the (plan_id, owner) unique one), which shows what the indexes buy.

    .venv/bin/python bench/api_history.py [--lines 1000000] [--plans 20] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import subprocess
import sys
import time
import uuid
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import base58
import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import ROOT, machine
from corpactions import db
from corpactions.models import (
    ActionKind,
    ActionStatus,
    CorporateAction,
    CorporateActionVersion,
    Instrument,
    PayoutPlan,
    PlanStatus,
    Snapshot,
)
from tests.chainkit import free_port


def populate(url: str, lines: int, plans: int, rng: random.Random) -> list[str]:
    """``plans`` attested dividends of one instrument, ``lines / plans`` holders each (the same
    wallets every time, as a real register): every wallet has ``plans`` lines."""
    per_plan = lines // plans
    owners = [base58.b58encode(rng.randbytes(32)).decode() for _ in range(per_plan)]
    with db.session_scope(url) as session:
        instrument = Instrument(symbol="AAPL", mint=base58.b58encode(rng.randbytes(32)).decode())
        session.add(instrument)
        session.flush()
        plan_ids = []
        for index in range(plans):
            day = date(2022, 1, 15) + timedelta(days=91 * index)
            action = CorporateAction(
                instrument_id=instrument.id or 0,
                source="bench",
                source_ref=f"BENCH-{index}",
                kind=ActionKind.cash_dividend,
                status=ActionStatus.attested,
            )
            session.add(action)
            session.flush()
            session.add(
                CorporateActionVersion(
                    action_id=action.id or 0,
                    version=1,
                    kind=ActionKind.cash_dividend,
                    ex_date=day,
                    record_date=day,
                    pay_date=day + timedelta(days=3),
                    currency="USD",
                    gross_rate=Decimal("0.25"),
                    payload_sha256=uuid.uuid4().hex * 2,
                    raw_payload="{}",
                )
            )
            snapshot = Snapshot(
                instrument_id=instrument.id or 0,
                action_id=action.id,
                slot=1000 + index,
                supply=10**15,
                account_count=per_plan,
                owner_count=per_plan,
                path="bench",
                sha256="0" * 64,
            )
            session.add(snapshot)
            session.flush()
            plan = PayoutPlan(
                action_id=action.id or 0,
                action_version=1,
                snapshot_id=snapshot.id or 0,
                status=PlanStatus.attested,
                rate_per_share=Decimal("0.25"),
                gross_pool=0,
                plan_hash="0" * 64,
                created_by="bench",
                inputs={"payout_decimals": 6},
                line_count=per_plan,
            )
            session.add(plan)
            session.flush()
            plan_ids.append(plan.id or 0)
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain) as conn, conn.cursor() as cur:
        columns = (
            "plan_id, owner, shares, gross, withholding, net, carried_in, amount_due, "
            "tax_class, status, signature, slot"
        )
        with cur.copy(f"COPY payoutline ({columns}) FROM STDIN") as copy:
            for plan_id in plan_ids:
                for owner in owners:
                    shares = rng.randrange(10**6, 10**12)
                    gross = shares // 400
                    withheld = gross * 3 // 10
                    copy.write_row(
                        (
                            plan_id,
                            owner,
                            shares,
                            gross,
                            withheld,
                            gross - withheld,
                            0,
                            gross - withheld,
                            "undocumented",
                            "paid",
                            base58.b58encode(rng.randbytes(64)).decode(),
                            plan_id * 1000,
                        )
                    )
        conn.commit()
        conn.execute("ANALYZE")
        conn.commit()
    return owners


async def load(base: str, owners: list[str], requests: int, concurrency: int) -> list[float]:
    """``requests`` history requests by ``concurrency`` clients; returns latencies (s)."""
    latencies: list[float] = []
    queue = [random.choice(owners) for _ in range(requests)]
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:

        async def worker() -> None:
            while queue:
                wallet = queue.pop()
                start = time.perf_counter()
                response = await client.get(f"/v1/holders/{wallet}/payouts")
                latencies.append(time.perf_counter() - start)
                assert response.status_code == 200, response.text
                assert len(response.json()["items"]) > 0

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


WRK_SCRIPT = """
local wallets = {}
for line in io.lines(os.getenv("CORPACTIONS_BENCH_WALLETS")) do wallets[#wallets + 1] = line end
request = function()
  return wrk.format("GET", "/v1/holders/" .. wallets[math.random(#wallets)] .. "/payouts")
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %.3f %.3f %.3f %.3f\\n", summary.requests,
    e.status + e.connect + e.read + e.write + e.timeout, latency:percentile(50) / 1000,
    latency:percentile(95) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
"""


def wrk(base: str, wallets: Path, seconds: int, concurrency: int) -> dict[str, float]:
    """Load from wrk (a C client, one thread: it leaves the CPU to the server); latencies in ms."""
    script = wallets.with_suffix(".lua")
    script.write_text(WRK_SCRIPT)
    out = subprocess.run(
        ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "-s", str(script), base],
        env={**os.environ, "CORPACTIONS_BENCH_WALLETS": str(wallets)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    fields = next(line for line in out.splitlines() if line.startswith("RESULT")).split()[1:]
    requests, errors = int(fields[0]), int(fields[1])
    assert errors == 0, out
    p50, p95_, p99, worst = (float(x) for x in fields[2:])
    return {
        "requests": requests,
        "p50": p50,
        "p95": p95_,
        "p99": p99,
        "max": worst,
        "rate": requests / seconds,
    }


def show(name: str, result: dict[str, float]) -> None:
    print(
        f"{name}: {result['requests']:.0f} requests, p50 {result['p50']:.1f} ms, "
        f"p95 {result['p95']:.1f} ms, p99 {result['p99']:.1f} ms, max {result['max']:.1f} ms, "
        f"{result['rate']:.0f} req/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--plans", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--server-workers", type=int, default=1, help="uvicorn processes")
    parser.add_argument(
        "--client", choices=["wrk", "httpx"], default="wrk" if shutil.which("wrk") else "httpx"
    )
    parser.add_argument("--seconds", type=int, default=20, help="wrk: load duration")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench/api_history.py needs wrk as its load generator: apt-get install wrk")
    print(f"machine: {machine()}")
    name = f"corpactions_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(args.pg, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = args.pg.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + "/" + name
    server = None
    try:
        db.upgrade(url)
        started = time.perf_counter()
        owners = populate(url, args.lines, args.plans, random.Random(7))
        print(
            f"populated {args.lines:,} lines ({len(owners):,} wallets x {args.plans} plans) "
            f"in {time.perf_counter() - started:.1f} s"
        )
        port = free_port()
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "corpactions.cli",
                "api",
                "--port",
                str(port),
                "--workers",
                str(args.server_workers),
            ],
            cwd=ROOT,
            env={**os.environ, "CORPACTIONS_DATABASE_URL": url, "CORPACTIONS_LOG_LEVEL": "WARNING"},
            stdout=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        asyncio.run(load(base, owners, 200, args.concurrency))  # warm-up, and checks answers
        plain = url.replace("postgresql+psycopg://", "postgresql://")
        wallets = Path(f"/tmp/{name}.wallets")
        wallets.write_text("\n".join(owners) + "\n")
        indexed = wrk(base, wallets, args.seconds, args.concurrency)
        show("indexes as migrated: (owner, id)", indexed)
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute("DROP INDEX ix_payoutline_owner_id")
        unique_only = wrk(base, wallets, max(5, args.seconds // 2), args.concurrency)
        show("only the (plan_id, owner) unique index", unique_only)
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute("ALTER TABLE payoutline DROP CONSTRAINT uq_line_plan_owner")
            conn.execute("ANALYZE payoutline")
        baseline = wrk(base, wallets, max(5, args.seconds // 2), args.concurrency)
        show("baseline: no index on owner", baseline)
        ours, theirs = indexed["p95"], baseline["p95"]
        verdict = "met" if ours <= 50 else "NOT met"
        print(
            f"p95 {ours:.1f} ms at {args.concurrency} concurrent clients "
            f"(target <= 50 ms: {verdict}); baseline p95 / indexed p95 = {theirs / ours:.1f}x"
        )
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        db.dispose_engines()
        with psycopg.connect(args.pg, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()

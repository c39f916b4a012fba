"""Pay N holders (default 100,000) on the local chain end to end: seed, ingest a dividend, take
the snapshot, compute, approve, execute (creating every recipient's USDC account), reconcile and
attest, against a `corpactions localnet` process and the embedded SQLite ledger.

Target (issue: approval and transfers): <= 10 minutes for 100,000 holders; transactions used ==
ceil(lines / per-transaction capacity); report transfers/s and fee per holder. Baseline, measured
in the same run: one transfer per transaction, each confirmed before the next, over 300 holders.

    .venv/bin/python bench/payout_e2e.py [--holders 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import tempfile
import time
from pathlib import Path

from _common import LocalnetProcess, machine
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.transaction import Transaction


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--holders", type=int, default=100_000)
    parser.add_argument(
        "--without-proof-checks",
        action="store_true",
        help="baseline for bench/merkle_root.py --e2e: the executor skips the Merkle proof "
        "check before each signature (this benchmark process only)",
    )
    args = parser.parse_args()
    if args.without_proof_checks:
        import corpactions.execution.protocol as protocol

        protocol.tamper_reason = lambda *_args, **_kw: None  # type: ignore[assignment]
    chain = LocalnetProcess("--slot-ms", "400")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            os.environ.update(
                {
                    "CORPACTIONS_DATA_DIR": str(Path(tmp) / "data"),
                    "CORPACTIONS_RPC_URL": chain.url,
                    "CORPACTIONS_MINIMUM_PAYOUT": "0",
                    "CORPACTIONS_FROZEN_POLICY": "pay",
                    "CORPACTIONS_CONFIRM_TIMEOUT_SECONDS": "3600",
                }
            )
            from corpactions import db
            from corpactions.config import get_settings
            from corpactions.localnet.seed import seed

            start = time.perf_counter()
            seeded = asyncio.run(
                seed(
                    rpc_url=chain.url,
                    keys_dir=Path(tmp) / "keys",
                    holders=args.holders,
                    realistic=False,
                )
            )
            seeded_s = time.perf_counter() - start
            os.environ["CORPACTIONS_USDC_MINT"] = seeded.usdc_mint
            os.environ["CORPACTIONS_KEYPAIR_PATH"] = str(
                Path(tmp) / "keys" / "payout-authority.json"
            )
            get_settings.cache_clear()
            db.upgrade()
            from sqlmodel import select

            from tests.operatorkit import approve_payout
            from corpactions.execution.batching import LineSpec, pack
            from corpactions.execution.protocol import execute_plan
            from corpactions.feeds.ingest import ingest
            from corpactions.feeds.ownformat import parse_csv
            from corpactions.instruments import add_instrument
            from corpactions.models import CorporateAction, PayoutBatch, PayoutPlan
            from corpactions.payouts.plan import compute_plan
            from snapshots.take import take_snapshot

            t0 = time.perf_counter()
            with db.session_scope() as session:
                instrument = add_instrument(
                    session=session,
                    symbol="AAPL",
                    mint=seeded.stock_mint,
                    issuer_wallet=seeded.issuer_wallet,
                )
                ingest(
                    parse_csv(
                        b"reference,symbol,kind,status,ex_date,record_date,pay_date,currency,gross_rate\nQ4,AAPL,cash_dividend,COMP,2026-11-10,2026-11-10,2026-11-13,USD,0.2475\n"
                    ),
                    session=session,
                )
                action = session.exec(select(CorporateAction)).one()
                take_snapshot(session=session, instrument=instrument, action=action)
                t1 = time.perf_counter()
                plan = compute_plan(session=session, action_id=action.id or 0, maker="maker").plan
                approve_payout(session, plan.id or 0, "checker")
                plan_id = plan.id or 0
            t2 = time.perf_counter()
            report = execute_plan(plan_id, session_factory=db.session_scope)
            t3 = time.perf_counter()
            with db.session_scope() as session:
                batches = session.exec(
                    select(PayoutBatch).where(PayoutBatch.plan_id == plan_id)
                ).all()
                plan = session.get(PayoutPlan, plan_id)
                assert plan is not None
                lines = plan.line_count
            specs = [LineSpec(i, str(Keypair().pubkey()), 10**9, True) for i in range(40)]
            capacity = len(
                pack(
                    specs,
                    payer=Keypair().pubkey(),
                    treasury=Keypair().pubkey(),
                    mint=Keypair().pubkey(),
                    decimals=6,
                )[0]
            )
            baseline_rate = asyncio.run(baseline(chain.url, seeded, 300))
    finally:
        chain.stop()
    end_to_end = t3 - t0
    rate = report.paid_lines / (t3 - t2)
    print(f"machine: {machine()}")
    print(f"holders: {args.holders} (seeded in {seeded_s:.0f} s, not counted)")
    print(
        f"snapshot {t1 - t0:.1f} s, plan + approval {t2 - t1:.1f} s, execution {t3 - t2:.1f} s; end to end {end_to_end:.1f} s"
    )
    print(
        f"status {report.status}; lines {lines}, paid {report.paid_lines}, transactions {len(batches)} (capacity {capacity}/tx, ceil = {math.ceil(lines / capacity)})"
    )
    print(
        f"transfers/s {rate:.0f}; fee per holder {report.fees / max(report.paid_lines, 1):.0f} lamports (signature + priority fee; account rent excluded)"
    )
    print(
        f"baseline (1 transfer per tx, confirmed one by one): {baseline_rate:.1f} transfers/s; ratio {rate / baseline_rate:.1f}x"
    )
    print(
        f"target <= 600 s: {'met' if end_to_end <= 600 else 'MISSED'}; transactions == ceil: {len(batches) == math.ceil(lines / capacity)}"
    )


async def baseline(url: str, seeded, count: int) -> float:  # type: ignore[no-untyped-def]
    from corpactions.chain import tokens
    from corpactions.chain.keys import load_keypair
    from corpactions.chain.rpc import Rpc

    authority = load_keypair(Path(seeded.keys_dir) / "payout-authority.json")
    mint = Pubkey.from_string(seeded.usdc_mint)
    treasury = Pubkey.from_string(seeded.treasury)
    start = time.perf_counter()
    async with Rpc(url) as rpc:
        for _ in range(count):
            owner = Keypair().pubkey()
            ixs = [
                tokens.create_associated_token_account_idempotent(authority.pubkey(), owner, mint),
                tokens.transfer_checked(
                    treasury,
                    mint,
                    tokens.associated_token_address(owner, mint),
                    authority.pubkey(),
                    1000,
                    6,
                ),
            ]
            blockhash = (await rpc.latest_blockhash()).blockhash
            signature = await rpc.send_raw(
                bytes(Transaction([authority], Message(ixs, authority.pubkey()), blockhash))
            )
            await rpc.wait_landed([signature], finalized=True)
    return count / (time.perf_counter() - start)


if __name__ == "__main__":
    main()

"""The main job on embedded defaults, start to finish, in one process.

A local chain on a free port, a fresh SQLite ledger, a tokenized stock with N holders and a
funded USDC treasury, a bundled Polygon dividend payload, the record-date snapshot, the plan, a
demo approval signed by two operator keys generated locally (and said so), the exactly-once
payment, reconciliation against the chain and the attestation memo. Each run works in a new
folder, so a rerun can never pay anyone twice.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, select

from corpactions import db
from corpactions.config import get_settings
from corpactions.errors import CorpactionsError

if TYPE_CHECKING:
    from solders.keypair import Keypair

DEMO_MAKER = "demo-maker"
DEMO_APPROVER = "demo-approver"
Say = Callable[[str], None]


@dataclass
class DemoResult:
    run_dir: Path
    rpc_url: str
    plan_id: int
    summary: dict[str, Any]


def usdc(base_units: int) -> str:
    """Base units as a USDC amount, exactly (6 decimals)."""
    return f"{Decimal(base_units).scaleb(-6):,.6f}"


def sample_feed() -> bytes:
    return (
        resources.files("corpactions.samples").joinpath("polygon_dividends_aapl.json").read_bytes()
    )


def run_demo(
    *,
    base_dir: Path,
    holders: int,
    program: str,
    say: Say,
    progress: Callable[[int, int], None] | None = None,
    keep_running: Callable[[DemoResult], None] | None = None,
) -> DemoResult:
    """Run the whole job; ``keep_running``, when given, is called with the result while the
    local chain is still up (it serves until interrupted), before everything stops."""
    from solders.pubkey import Pubkey
    from spl.token.instructions import get_associated_token_address as spl_associated_address

    from corpactions.chain import layout
    from corpactions.chain.keys import load_keypair
    from corpactions.chain.rpc import Rpc
    from corpactions.execution.approval import approve, decision_message, sign_compute
    from corpactions.execution.funding import fund
    from corpactions.execution.protocol import execute_plan
    from corpactions.execution.report import Report
    from corpactions.feeds.ingest import ingest
    from corpactions.feeds.polygon import parse_page
    from corpactions.instruments import add_instrument
    from corpactions.localnet.chain import ChainConfig
    from corpactions.localnet.seed import seed
    from corpactions.localnet.server import LocalnetThread
    from corpactions.models import CorporateAction, PayoutLine, PayoutPlan, TokenProgram
    from corpactions.operators.decisions import Decision
    from corpactions.operators.keys import sign_message
    from corpactions.payouts.plan import compute_plan
    from snapshots.take import take_snapshot

    run_dir = base_dir / f"run-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    run_dir.mkdir(parents=True, exist_ok=False)
    say(f"demo: working in {run_dir} (a fresh folder each run, so nothing is ever paid twice)")
    chain = LocalnetThread(
        config=ChainConfig(slot_ms=400), state_path=run_dir / "chain.json"
    ).start()
    try:
        say(f"1/8 local chain (real SPL Token programs) serving Solana JSON-RPC on {chain.url}")
        treasury_key = run_dir / "keys" / "treasury-owner.json"
        seeded = asyncio.run(
            seed(
                rpc_url=chain.url,
                keys_dir=run_dir / "keys",
                holders=holders,
                program=program,
                treasury_owner_path=treasury_key,
            )
        )
        say(
            f"2/8 seeded AAPL token {seeded.stock_mint} ({program}) with {holders} holders "
            f"in {seeded.transactions} transactions; USDC treasury {seeded.treasury} holds "
            f"{usdc(seeded.treasury_usdc)} USDC"
        )
        say(
            f"    keys: this demo made BOTH keys locally in {run_dir / 'keys'}: the treasury "
            f"owner {seeded.treasury_owner} (treasury-owner.json; cold in a real deployment) and "
            f"the payer {seeded.authority} (payout-authority.json; pays only from each plan's "
            "funded account)"
        )
        os.environ.update(
            {
                "CORPACTIONS_DATA_DIR": str(run_dir),
                "CORPACTIONS_RPC_URL": chain.url,
                "CORPACTIONS_USDC_MINT": seeded.usdc_mint,
                "CORPACTIONS_KEYPAIR_PATH": str(run_dir / "keys" / "payout-authority.json"),
                "CORPACTIONS_TREASURY_KEYPAIR_PATH": str(treasury_key),
                "CORPACTIONS_EXPLORER_TX_URL": "https://explorer.solana.com/tx/{signature}"
                f"?cluster=custom&customUrl={chain.url}",
            }
        )
        os.environ.pop("CORPACTIONS_DATABASE_URL", None)
        get_settings.cache_clear()
        db.dispose_engines()
        db.upgrade()
        with db.session_scope() as session:
            instrument = add_instrument(
                session=session,
                symbol="AAPL",
                mint=seeded.stock_mint,
                token_program=TokenProgram(program),
                decimals=seeded.stock_decimals,
                issuer_wallet=seeded.issuer_wallet,
            )
            ingested = ingest(parse_page(sample_feed()).records, session=session)
            action = session.exec(select(CorporateAction)).one()
            say(
                f"3/8 ingested the bundled Polygon dividend payload: {ingested.accepted} action, "
                f"$0.26 per share, record date 2026-11-10 (ledger {get_settings().ledger_url})"
            )
            snapshot = take_snapshot(session=session, instrument=instrument, action=action)
            say(
                f"4/8 record-date snapshot at slot {snapshot.snapshot.slot}: "
                f"{snapshot.snapshot.owner_count} owners, "
                f"{snapshot.snapshot.account_count} token accounts, supply reconciled; file "
                f"{snapshot.snapshot.path}"
            )
            plan = compute_plan(session=session, action_id=action.id or 0, maker=DEMO_MAKER).plan
            say(
                f"5/8 plan {plan.id}: {plan.line_count} lines, gross "
                f"{usdc(plan.gross_pool)} USDC, withheld {usdc(plan.withheld_total)}, "
                f"to send {usdc(plan.sent_total)}, carried "
                f"{usdc(plan.carried_total)}, escrowed {usdc(plan.escrowed_total)}; "
                f"hash {plan.plan_hash}"
            )
            maker_key, approver_key = _demo_operators(session, run_dir / "keys")
            plan_id = plan.id or 0
            sign_compute(
                session=session,
                plan_id=plan_id,
                decision=Decision(
                    DEMO_MAKER,
                    sign_message(maker_key, decision_message(session, plan_id, "compute")),
                ),
            )
            approve(
                session=session,
                plan_id=plan_id,
                decision=Decision(
                    DEMO_APPROVER,
                    sign_message(approver_key, decision_message(session, plan_id, "approve")),
                ),
            )
            say(
                f"6/8 approved: signed by '{DEMO_MAKER}' (maker) and '{DEMO_APPROVER}' "
                f"(checker) with two operator keys the demo generated locally in "
                f"{run_dir / 'keys'} (a real deployment: each person holds their own key)"
            )
        funded = fund(
            plan_id,
            session_factory=db.session_scope,
            settings=get_settings(),
            treasury_key=load_keypair(treasury_key),
        )
        say(
            f"    funded plan {plan_id} from the treasury with the local treasury key: "
            f"{usdc(funded.amount)} USDC into the plan's own account {funded.account} "
            f"({funded.signature}; memo names the plan root)"
        )

        def on_progress(report: Report) -> None:
            if progress is not None:
                progress(report.paid_lines, plan.line_count)

        say("7/8 paying: batched transferChecked, each signed transaction saved before it is sent")
        report = execute_plan(plan_id, session_factory=db.session_scope, progress=on_progress)
        with db.session_scope() as session:
            done = session.get(PayoutPlan, plan_id)
            assert done is not None
            plan = done
            lines = session.exec(select(PayoutLine).where(PayoutLine.plan_id == plan_id)).all()

        async def treasury_now() -> int:
            async with Rpc(chain.url) as rpc:
                return int(
                    (await rpc.call_json("getTokenAccountBalance", [seeded.treasury]))["value"][
                        "amount"
                    ]
                )

        async def received() -> list[int]:
            # each paid holder's USDC account, derived by solana-py's spl (not by corpactions)
            mint = Pubkey.from_string(seeded.usdc_mint)
            accounts = [
                spl_associated_address(Pubkey.from_string(line.owner), mint) for line in paid_lines
            ]
            async with Rpc(chain.url) as rpc:
                found = await rpc.accounts(accounts)
            return [layout.decode_token_account(bytes(a.data)).amount if a else 0 for a in found]

        paid_lines = [line for line in lines if line.status == "paid"]
        paid = sum(line.amount_due for line in paid_lines)
        moved = seeded.treasury_usdc - asyncio.run(treasury_now())
        holders_match = asyncio.run(received()) == [line.amount_due for line in paid_lines]
        summary = {
            "holders_paid": report.paid_lines,
            "usdc_paid": paid,
            "transactions": report.batches,
            "fees_lamports": report.fees,
            "carried_lines": sum(line.status == "carried" for line in lines),
            "carried_usdc": plan.carried_total,
            "escrowed_lines": sum(line.status == "escrowed" for line in lines),
            "escrowed_usdc": plan.escrowed_total,
            "withheld_usdc": plan.withheld_total,
            "chain_matches_plan": holders_match
            and moved == paid == plan.reconciliation.get("paid_total"),
            "attestation_signature": plan.attestation_signature,
            "ledger_sha256": plan.ledger_sha256,
            "status": str(plan.status),
        }
        say(
            f"8/8 {summary['status']}: {summary['holders_paid']} holders paid {usdc(paid)} "
            f"USDC in {summary['transactions']} transactions "
            f"(fees {summary['fees_lamports']} lamports); carried {summary['carried_lines']} "
            f"lines, escrowed {summary['escrowed_lines']}; "
            "chain balances equal the plan: "
            f"{'yes' if summary['chain_matches_plan'] else 'NO'}; attestation "
            f"{summary['attestation_signature']}"
        )
        if not summary["chain_matches_plan"]:
            raise CorpactionsError(
                f"the treasury moved {moved} but the ledger says {paid} was paid"
                if holders_match
                else "a holder's USDC account (as spl derives it) does not hold its paid line"
            )
        result = DemoResult(run_dir, chain.url, plan_id, summary)
        if keep_running is not None:
            keep_running(result)
        return result
    finally:
        chain.stop()


def _demo_operators(session: Session, keys_dir: Path) -> tuple[Keypair, Keypair]:
    """Two operator keys made here, for the demo only: the maker (also the registry's first
    admin) and the checker, registered as a real deployment registers its people."""
    from corpactions.chain.keys import load_or_create_keypair
    from corpactions.operators import registry
    from corpactions.operators.keys import sign_message

    maker = load_or_create_keypair(keys_dir / "operator-demo-maker.json")
    checker = load_or_create_keypair(keys_dir / "operator-demo-approver.json")
    roles = ["admin", "maker"]
    message = registry.change_message(
        session, change="init", name=DEMO_MAKER, pubkey=str(maker.pubkey()), roles=roles
    )
    registry.init(
        session,
        name=DEMO_MAKER,
        pubkey=str(maker.pubkey()),
        signature=sign_message(maker, message),
        roles=roles,
    )
    message = registry.change_message(
        session, change="add", name=DEMO_APPROVER, pubkey=str(checker.pubkey()), roles=["approver"]
    )
    registry.add(
        session,
        name=DEMO_APPROVER,
        pubkey=str(checker.pubkey()),
        roles=["approver"],
        signatures=[registry.Signed(DEMO_MAKER, sign_message(maker, message))],
    )
    return maker, checker

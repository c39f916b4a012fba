"""Build an approved payout plan on the local chain, and read what the chain paid."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from sqlmodel import Session, select

from corpactions import db
from corpactions.chain import layout, tokens
from corpactions.chain.keys import load_keypair
from corpactions.chain.rpc import Rpc
from corpactions.config import get_settings
from corpactions.feeds.ingest import ingest
from corpactions.feeds.ownformat import parse_csv
from corpactions.instruments import add_instrument
from corpactions.localnet.seed import SeedResult, seed
from corpactions.models import CorporateAction, Instrument, PayoutLine, PlanFunding
from corpactions.payouts.plan import compute_plan
from snapshots.take import take_snapshot
from tests.chainkit import ROOT, send
from tests.feed_corpus import csv_rows, own
from tests.operatorkit import approve_payout, sign_payout_compute


@dataclass
class Flow:
    plan_id: int
    seeded: SeedResult
    authority: Keypair


def configure(monkeypatch: pytest.MonkeyPatch, url: str, seeded: SeedResult, **extra: str) -> None:
    monkeypatch.setenv("CORPACTIONS_RPC_URL", url)
    monkeypatch.setenv("CORPACTIONS_USDC_MINT", seeded.usdc_mint)
    monkeypatch.setenv(
        "CORPACTIONS_KEYPAIR_PATH", str(Path(seeded.keys_dir) / "payout-authority.json")
    )
    if seeded.treasury_owner and seeded.treasury_owner != seeded.authority:
        # a cold treasury: this host knows its owner's address, never its key
        monkeypatch.setenv("CORPACTIONS_TREASURY_OWNER", seeded.treasury_owner)
        monkeypatch.delenv("CORPACTIONS_TREASURY_KEYPAIR_PATH", raising=False)
    else:
        # the seeded treasury belongs to the authority; holding its key, the host funds plans
        monkeypatch.setenv(
            "CORPACTIONS_TREASURY_KEYPAIR_PATH",
            str(Path(seeded.keys_dir) / "payout-authority.json"),
        )
    monkeypatch.setenv("CORPACTIONS_MINIMUM_PAYOUT", "0")
    monkeypatch.setenv("CORPACTIONS_FROZEN_POLICY", "pay")
    for key, value in extra.items():
        monkeypatch.setenv(f"CORPACTIONS_{key.upper()}", value)
    get_settings.cache_clear()


def register_aapl(session: Session, seeded: SeedResult) -> Instrument:
    """The seeded stock mint registered as AAPL (8 decimals), its issuer wallet excluded."""
    return add_instrument(
        session=session,
        symbol="AAPL",
        mint=seeded.stock_mint,
        decimals=8,
        issuer_wallet=seeded.issuer_wallet,
    )


def snapshotted(
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    keys: Path,
    holders: int,
    *,
    rate: str = "0.2475",
    usdc_accounts_for: int = 0,
    treasury_owner_path: Path | None = None,
    **extra: str,
) -> tuple[SeedResult, int]:
    """A seeded chain, AAPL registered, one dividend ingested and snapshotted: (seed, action).
    With ``treasury_owner_path`` the treasury belongs to that key (made there), not the payer."""
    seeded = asyncio.run(
        seed(
            rpc_url=url,
            keys_dir=keys,
            holders=holders,
            realistic=False,
            treasury_owner_path=treasury_owner_path,
        )
    )
    configure(monkeypatch, url, seeded, **extra)
    authority = load_keypair(Path(seeded.keys_dir) / "payout-authority.json")
    if usdc_accounts_for:
        asyncio.run(_open_usdc_accounts(url, authority, seeded, usdc_accounts_for))
    with db.session_scope() as session:
        instrument = register_aapl(session, seeded)
        ingest(parse_csv(csv_rows(own(gross_rate=rate))), session=session)
        action = session.exec(select(CorporateAction)).one()
        take_snapshot(session=session, instrument=instrument, action=action)
        return seeded, action.id or 0


def prepare(
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    keys: Path,
    holders: int,
    *,
    rate: str = "0.2475",
    usdc_accounts_for: int = 0,
    treasury_owner_path: Path | None = None,
    **extra: str,
) -> Flow:
    """``snapshotted``, then the plan computed by a maker and approved by a checker."""
    seeded, action_id = snapshotted(
        monkeypatch,
        url,
        keys,
        holders,
        rate=rate,
        usdc_accounts_for=usdc_accounts_for,
        treasury_owner_path=treasury_owner_path,
        **extra,
    )
    authority = load_keypair(Path(seeded.keys_dir) / "payout-authority.json")
    with db.session_scope() as session:
        plan = compute_plan(session=session, action_id=action_id, maker="maker").plan
        sign_payout_compute(session, plan.id or 0, "maker")
        approve_payout(session, plan.id or 0, "checker")
        return Flow(plan.id or 0, seeded, authority)


async def _open_usdc_accounts(url: str, authority: Keypair, seeded: SeedResult, count: int) -> None:
    wallets = [w for w, _ in orjson.loads((Path(seeded.keys_dir) / "holders.json").read_bytes())][
        :count
    ]
    mint = Pubkey.from_string(seeded.usdc_mint)
    async with Rpc(url) as rpc:
        for start in range(0, len(wallets), 8):
            await send(
                rpc,
                authority,
                [
                    tokens.create_associated_token_account_idempotent(
                        authority.pubkey(), Pubkey.from_string(w), mint
                    )
                    for w in wallets[start : start + 8]
                ],
            )


def usdc_balances(url: str, mint: str, owners: list[str]) -> dict[str, int]:
    async def read() -> dict[str, int]:
        mint_key = Pubkey.from_string(mint)
        accounts = [
            tokens.associated_token_address(
                Pubkey.from_string(o), mint_key, layout.TOKEN_PROGRAM_ID
            )
            for o in owners
        ]
        async with Rpc(url) as rpc:
            found = await rpc.accounts(accounts)
        return {
            o: (layout.decode_token_account(bytes(a.data)).amount if a is not None else 0)
            for o, a in zip(owners, found, strict=True)
        }

    return asyncio.run(read())


def treasury_balance(url: str, seeded: SeedResult) -> int:
    async def read() -> int:
        async with Rpc(url) as rpc:
            return int(
                (await rpc.call_json("getTokenAccountBalance", [seeded.treasury]))["value"][
                    "amount"
                ]
            )

    return asyncio.run(read())


def fund(plan_id: int) -> None:
    """Fund the plan now with the treasury key this host holds (before faults are injected)."""
    from corpactions.execution.funding import fund_with_key

    settings = get_settings()
    assert settings.treasury_keypair_path is not None

    async def run() -> None:
        async with Rpc(settings=settings) as rpc:
            await fund_with_key(
                rpc,
                db.session_scope,
                plan_id,
                settings,
                load_keypair(settings.treasury_keypair_path),
            )

    asyncio.run(run())


def plan_account_balance(url: str, plan_id: int) -> int:
    """What the plan's own funded account holds (0 before funding and after closing)."""
    with db.session_scope() as session:
        funding = session.exec(select(PlanFunding).where(PlanFunding.plan_id == plan_id)).first()
        account = funding.account if funding is not None else None
    if account is None:
        return 0

    async def read() -> int:
        async with Rpc(url) as rpc:
            found = await rpc.account(Pubkey.from_string(account))
        return layout.decode_token_account(bytes(found.data)).amount if found else 0

    return asyncio.run(read())


def lines_of(plan_id: int) -> list[PayoutLine]:
    with db.session_scope() as session:
        return list(session.exec(select(PayoutLine).where(PayoutLine.plan_id == plan_id)))


def assert_paid_exactly_once(url: str, flow: Flow) -> None:
    lines = lines_of(flow.plan_id)
    balances = usdc_balances(url, flow.seeded.usdc_mint, [line.owner for line in lines])
    for line in lines:
        expected = line.amount_due if line.status == "paid" else 0
        assert balances[line.owner] == expected, (
            line.owner,
            line.status,
            balances[line.owner],
            line.amount_due,
        )
    paid = sum(line.amount_due for line in lines if line.status == "paid")
    assert treasury_balance(url, flow.seeded) == flow.seeded.treasury_usdc - paid


def execute_command(
    plan_id: int, *args: str, crash_at: str | None = None, skip: int = 0
) -> subprocess.CompletedProcess[str]:
    """``corpactions payouts execute PLAN ARGS`` as a process of its own; with ``crash_at`` it
    is SIGKILLed at that crash point (after passing it ``skip`` times)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORPACTIONS_CRASH")}
    if crash_at:
        env["CORPACTIONS_CRASH_AT"] = crash_at
        env["CORPACTIONS_CRASH_SKIP"] = str(skip)
    return subprocess.run(
        [sys.executable, "-m", "corpactions.cli", "payouts", "execute", str(plan_id), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

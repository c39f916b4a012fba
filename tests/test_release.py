"""Escrow release: an escrowed line becomes owed (carried) once its reason has lifted."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest
from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey
from sqlmodel import select

from corpactions import db
from corpactions.chain.keys import load_keypair
from corpactions.chain.rpc import Rpc
from corpactions.execution.release import release_escrow
from corpactions.feeds.ingest import ingest
from corpactions.feeds.ownformat import parse_csv
from corpactions.localnet.seed import SeedResult, seed
from corpactions.models import CorporateAction, PayoutLine, PayoutPlan
from corpactions.payouts.plan import FROZEN_REASON, _carried_in, compute_plan, reconcile
from snapshots.take import take_snapshot
from tests.chainkit import send
from tests.feed_corpus import csv_rows, own
from tests.operatorkit import approve_payout
from tests.payflow import configure, register_aapl
from tests.walletkit import set_wallet

THAW_ACCOUNT = 11


def _approved_plan(seeded: SeedResult) -> int:
    with db.session_scope() as session:
        instrument = register_aapl(session, seeded)
        ingest(parse_csv(csv_rows(own(gross_rate="0.5"))), session=session)
        action = session.exec(select(CorporateAction)).one()
        take_snapshot(session=session, instrument=instrument, action=action)
        plan = compute_plan(session=session, action_id=action.id or 0, maker="maker").plan
        approve_payout(session, plan.id or 0, "checker")
        return plan.id or 0


def _escrowed(plan_id: int) -> list[PayoutLine]:
    with db.session_scope() as session:
        return list(
            session.exec(
                select(PayoutLine).where(
                    PayoutLine.plan_id == plan_id, PayoutLine.status == "escrowed"
                )
            )
        )


def _release() -> list[int]:
    released: list[int] = asyncio.run(release_escrow(session_factory=db.session_scope))["released"]
    return released


def test_a_line_escrowed_for_a_blocked_wallet_is_owed_once_the_wallet_is_unblocked(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded = asyncio.run(
        seed(rpc_url=localnet_url, keys_dir=tmp_path / "keys", holders=6, realistic=False)
    )
    configure(monkeypatch, localnet_url, seeded)
    holder = str(orjson.loads((Path(seeded.keys_dir) / "holders.json").read_bytes())[0][0])
    set_wallet(holder, blocked=True, reason="sanctions screening")
    plan_id = _approved_plan(seeded)
    [line] = _escrowed(plan_id)
    assert line.owner == holder

    assert _release() == []  # still blocked: stays escrowed
    set_wallet(holder, blocked=False)
    assert _release() == [line.id]
    assert _release() == []  # released once

    with db.session_scope() as session:
        released = session.get(PayoutLine, line.id)
        plan = session.get(PayoutPlan, plan_id)
        assert released is not None and plan is not None
        assert released.status == "carried"
        assert "wallet unblocked" in (released.status_reason or "")
        assert plan.escrowed_total == 0
        assert plan.carried_total == line.amount_due
        reconcile(plan)  # the plan still adds up
        owed = dict(_carried_in(session).iter_rows())
    assert owed == {holder: line.amount_due}  # the next plan pays it


def test_a_line_escrowed_for_frozen_tokens_is_owed_once_the_account_is_thawed(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded = asyncio.run(
        seed(rpc_url=localnet_url, keys_dir=tmp_path / "keys", holders=60, realistic=True)
    )
    configure(monkeypatch, localnet_url, seeded, frozen_policy="escrow")
    plan_id = _approved_plan(seeded)
    [line] = _escrowed(plan_id)
    assert line.status_reason == FROZEN_REASON
    assert _release() == []  # the chain says still frozen

    authority = load_keypair(Path(seeded.keys_dir) / "payout-authority.json")
    mint = Pubkey.from_string(seeded.stock_mint)

    async def thaw() -> None:
        async with Rpc(localnet_url) as rpc:
            program = (await rpc.account(mint)).owner  # type: ignore[union-attr]
            for account in seeded.frozen_accounts:
                await send(
                    rpc,
                    authority,
                    [
                        Instruction(
                            program,
                            bytes([THAW_ACCOUNT]),
                            [
                                AccountMeta(Pubkey.from_string(account), False, True),
                                AccountMeta(mint, False, False),
                                AccountMeta(authority.pubkey(), True, False),
                            ],
                        )
                    ],
                )

    asyncio.run(thaw())
    assert _release() == [line.id]
    with db.session_scope() as session:
        released = session.get(PayoutLine, line.id)
        assert released is not None and released.status == "carried"
        assert "no longer frozen" in (released.status_reason or "")

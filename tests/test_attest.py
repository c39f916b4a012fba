"""Attestation memos are posted once, even by executors racing with a stale view."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from solana.rpc.async_api import AsyncClient
from solders.pubkey import Pubkey

from corpactions import db
from corpactions.chain.rpc import Rpc
from corpactions.execution.attest import publish_memo, record_attempt
from corpactions.execution.crashpoints import MEMO_POINTS
from corpactions.execution.protocol import execute_plan
from corpactions.models import PayoutPlan
from tests.payflow import execute_command, prepare


def test_an_executor_with_a_stale_view_sends_no_second_attestation(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = prepare(monkeypatch, localnet_url, tmp_path / "keys", holders=3)
    execute_plan(flow.plan_id, session_factory=db.session_scope)
    with db.session_scope() as session:
        plan = session.get(PayoutPlan, flow.plan_id)
        assert plan is not None and plan.attestation_signature
        first = plan.attestation_signature

    def stale_record(signature: str, last_valid: int) -> bool:
        with db.session_scope() as session:  # this executor read the plan before `first`
            return record_attempt(
                session,
                PayoutPlan.__table__,  # type: ignore[attr-defined]
                flow.plan_id,
                None,
                attestation_signature=signature,
            )

    async def race() -> tuple[str | None, int, int]:
        async with Rpc(localnet_url) as rpc:
            before = await rpc.balance(flow.authority.pubkey())
            landed = await publish_memo(
                rpc,
                flow.authority,
                f"corpactions attest plan {flow.plan_id} ledger sha256 late",
                previous=None,
                previous_last_valid=0,
                record=stale_record,
            )
            return landed, before, await rpc.balance(flow.authority.pubkey())

    landed, before, after = asyncio.run(race())
    assert landed is None
    assert after == before  # nothing was sent: no fee paid
    with db.session_scope() as session:
        plan = session.get(PayoutPlan, flow.plan_id)
        assert plan is not None and plan.attestation_signature == first


async def _attestation_memos(url: str, authority: Pubkey, plan_id: int) -> int:
    """Memos naming the plan in the authority's finalized transactions, read with solana-py."""
    async with AsyncClient(url) as client:
        found = (await client.get_signatures_for_address(authority, limit=1000)).value
        count = 0
        for item in found:
            tx = (
                await client.get_transaction(item.signature, max_supported_transaction_version=0)
            ).value
            logs = tx.transaction.meta.log_messages if tx and tx.transaction.meta else None
            if any(f"corpactions attest plan {plan_id} root" in line for line in logs or []):
                count += 1
        return count


@pytest.mark.parametrize("point", MEMO_POINTS)
def test_a_killed_attestation_publishes_exactly_one_memo(
    point: str, pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = prepare(monkeypatch, localnet_url, tmp_path / "keys", holders=4)
    killed = execute_command(flow.plan_id, crash_at=point)
    assert killed.returncode == -9, killed.stderr
    for _ in range(3):  # an attempt recorded but never sent is re-signed once it has expired
        again = execute_command(flow.plan_id)
        assert again.returncode == 0, again.stderr
        with db.session_scope() as session:
            plan = session.get(PayoutPlan, flow.plan_id)
            assert plan is not None
            if plan.status == "attested":
                break
        time.sleep(3)
    assert plan.status == "attested"
    assert asyncio.run(_attestation_memos(localnet_url, flow.authority.pubkey(), flow.plan_id)) == 1

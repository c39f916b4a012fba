"""Attestation memos are posted once, even by executors racing with a stale view."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from corpactions import db
from corpactions.chain.rpc import Rpc
from corpactions.execution.attest import publish_memo, record_attempt
from corpactions.execution.protocol import execute_plan
from corpactions.models import PayoutPlan
from tests.payflow import prepare


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

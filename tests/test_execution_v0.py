"""Payouts in v0 transactions that read recipients from address lookup tables.

The transactions are read back finalized with solana-py (getTransaction with
maxSupportedTransactionVersion): how many transferChecked each carries, what each paid in fees;
balances are read with the project-independent helpers of tests/payflow.py.
"""

from __future__ import annotations

import asyncio
import statistics
from pathlib import Path

import orjson
import pytest
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Finalized
from solders.message import MessageV0
from solders.signature import Signature
from solders.transaction import VersionedTransaction
from sqlmodel import select
from typer.testing import CliRunner

from corpactions import db
from corpactions.chain.rpc import Rpc
from corpactions.cli import app
from corpactions.execution.crashpoints import POINTS, TABLE_POINTS
from corpactions.execution.protocol import execute_plan
from corpactions.models import LookupTable, PayoutBatch, PayoutPlan, PlanStatus
from tests.payflow import assert_paid_exactly_once, execute_command, lines_of, prepare

HOLDERS = 100


def _batches(plan_id: int) -> list[PayoutBatch]:
    with db.session_scope() as session:
        return list(session.exec(select(PayoutBatch).where(PayoutBatch.plan_id == plan_id)))


async def _transfers_and_fees(url: str, signatures: list[str]) -> list[tuple[int, int, int]]:
    """(transferChecked count, fee, version) of each finalized transaction, read from the chain."""
    out = []
    async with AsyncClient(url) as client:
        for signature in signatures:
            got = await client.get_transaction(
                Signature.from_string(signature), "json", Finalized, 0
            )
            assert got.value is not None
            tx = got.value.transaction
            message = tx.transaction.message  # type: ignore[union-attr]
            keys = [str(k) for k in message.account_keys]
            transfers = sum(
                1
                for ix in message.instructions
                if keys[ix.program_id_index] == "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
            )
            assert tx.meta is not None
            out.append((transfers, tx.meta.fee, 0 if tx.version == 0 else -1))
    return out


def test_existing_recipients_are_paid_in_full_v0_batches_through_lookup_tables(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = prepare(
        monkeypatch,
        localnet_url,
        tmp_path / "keys",
        HOLDERS,
        usdc_accounts_for=HOLDERS,
        lookup_tables="all",
    )
    report = execute_plan(flow.plan_id, session_factory=db.session_scope)
    assert report.status == "attested", report
    assert_paid_exactly_once(localnet_url, flow)
    batches = _batches(flow.plan_id)
    signatures = [b.signature or "" for b in batches]
    read = asyncio.run(_transfers_and_fees(localnet_url, signatures))
    assert all(version == 0 for _, _, version in read)
    assert sum(t for t, _, _ in read) == HOLDERS
    assert statistics.median(t for t, _, _ in read) >= 40
    assert len(batches) == -(-HOLDERS // max(t for t, _, _ in read))  # full but the last
    for batch in batches:
        message = VersionedTransaction.from_bytes(batch.signed_tx or b"").message
        assert message.address_table_lookups  # type: ignore[union-attr]
    with db.session_scope() as session:
        (table,) = session.exec(select(LookupTable)).all()
        assert len(table.addresses) == HOLDERS


def test_a_plan_with_recipients_to_create_keeps_them_in_legacy_batches(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = prepare(
        monkeypatch, localnet_url, tmp_path / "keys", 60, usdc_accounts_for=30, lookup_tables="all"
    )
    execute_plan(flow.plan_id, session_factory=db.session_scope)
    assert_paid_exactly_once(localnet_url, flow)
    batches = _batches(flow.plan_id)
    creating = [b for b in batches if b.creates_accounts]
    assert creating and all(
        not isinstance(VersionedTransaction.from_bytes(b.signed_tx or b"").message, MessageV0)
        for b in creating
    )
    v0 = [b for b in batches if not b.creates_accounts]
    assert len(v0) == 1  # the 30 existing accounts in one v0 transaction


@pytest.mark.parametrize("point", [*POINTS, *TABLE_POINTS])
def test_a_killed_v0_executor_restarted_pays_everyone_exactly_once(
    point: str, pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = prepare(
        monkeypatch,
        localnet_url,
        tmp_path / "keys",
        HOLDERS,
        usdc_accounts_for=HOLDERS,
        lookup_tables="all",
    )
    for crash_at, skip in [(point, 0), (point, 2), (point, 1)]:
        killed = execute_command(flow.plan_id, "--json", crash_at=crash_at, skip=skip)
        if killed.returncode == 0:
            break  # this run had nothing left to do at that point
        assert killed.returncode == -9, killed.stderr
    final = execute_command(flow.plan_id, "--json")
    assert final.returncode == 0, final.stderr
    assert orjson.loads(final.stdout)["status"] == "attested"
    assert_paid_exactly_once(localnet_url, flow)
    assert all(line.status == "paid" for line in lines_of(flow.plan_id))
    with db.session_scope() as session:
        plan = session.get(PayoutPlan, flow.plan_id)
        assert plan is not None and plan.status == PlanStatus.attested
        tables = session.exec(select(LookupTable)).all()
    assert len([t for t in tables if t.addresses]) == 1  # one table, made once


def test_dry_run_reports_the_transactions_and_fees_and_sends_nothing(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = prepare(
        monkeypatch,
        localnet_url,
        tmp_path / "keys",
        HOLDERS,
        usdc_accounts_for=HOLDERS,
        lookup_tables="all",
    )
    _set_priority_floor(localnet_url, 2_000)
    try:
        result = CliRunner().invoke(
            app, ["payouts", "execute", str(flow.plan_id), "--dry-run", "--json"]
        )
    finally:
        _set_priority_floor(localnet_url, 0)
    assert result.exit_code == 0, result.output
    fees = orjson.loads(result.stdout)["fees"]
    assert fees["transactions"] == fees["v0_transactions"] == 3  # ~49 transfers each
    assert fees["unit_price_microlamports"] == 2_000
    assert fees["base_fee_lamports"] == 3 * 5_000
    assert 0 < fees["priority_fee_lamports"] < 3 * 2_000 * 1_400_000 // 10**6
    assert fees["fee_per_transfer_lamports"] == fees["fee_lamports"] // HOLDERS
    assert _batches(flow.plan_id) == []
    with db.session_scope() as session:
        assert session.exec(select(LookupTable)).all() == []


def _set_priority_floor(url: str, micro_lamports: int) -> None:
    async def apply() -> None:
        async with Rpc(url) as rpc:
            await rpc.call_json("localnet_setFaults", [{"priority_fee": micro_lamports}])

    asyncio.run(apply())


def test_a_second_dividend_pays_the_recurring_holders_in_v0_by_default(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from corpactions.feeds.ingest import ingest
    from corpactions.feeds.ownformat import parse_csv
    from corpactions.models import CorporateAction, Instrument
    from corpactions.payouts.plan import compute_plan
    from snapshots.take import take_snapshot
    from tests.feed_corpus import csv_rows, own
    from tests.operatorkit import approve_payout

    flow = prepare(monkeypatch, localnet_url, tmp_path / "keys", 60)  # creates every account
    execute_plan(flow.plan_id, session_factory=db.session_scope)
    assert all(b.creates_accounts for b in _batches(flow.plan_id))
    with db.session_scope() as session:
        rows = csv_rows(
            own(
                reference="ISSUER-2027-Q1",
                record_date="2027-02-10",
                ex_date="2027-02-10",
                pay_date="2027-02-13",
                gross_rate="0.1",
            )
        )
        ingest(parse_csv(rows), session=session)
        action = session.exec(select(CorporateAction).where(CorporateAction.id != 1)).one()
        instrument = session.exec(select(Instrument)).one()
        take_snapshot(session=session, instrument=instrument, action=action)
        plan = compute_plan(session=session, action_id=action.id or 0, maker="maker").plan
        approve_payout(session, plan.id or 0, "checker", plan_hash=plan.plan_hash)
        second = plan.id or 0
    report = execute_plan(second, session_factory=db.session_scope)
    assert report.status == "attested" and report.paid_lines == 60
    batches = _batches(second)
    read = asyncio.run(_transfers_and_fees(localnet_url, [b.signature or "" for b in batches]))
    assert len(batches) == 2 and all(version == 0 for _, _, version in read)
    assert statistics.median(t for t, _, _ in read) >= 30  # 60 lines in two v0 transactions

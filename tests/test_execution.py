"""Approval and exactly-once payouts against the local chain, with crashes and RPC faults."""

from __future__ import annotations

import asyncio
import math
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from sqlmodel import select
from typer.testing import CliRunner

from corpactions import db
from corpactions.chain.keys import write_keypair
from corpactions.chain.rpc import Rpc
from corpactions.cli import app
from corpactions.config import get_settings
from corpactions.errors import PlanError
from corpactions.execution.approval import Funds, reject
from corpactions.execution.crashpoints import POINTS
from corpactions.execution.protocol import execute_plan
from corpactions.feeds.ingest import ingest
from corpactions.feeds.ownformat import parse_csv
from corpactions.models import Approval, PayoutBatch, PayoutPlan, PlanStatus
from corpactions.payouts.plan import compute_plan
from tests.chainkit import ROOT
from tests.feed_corpus import csv_rows, own
from tests.operatorkit import (
    approve_payout,
    ensure_operator,
    payout_decision,
    sign_payout_compute,
)
from tests.payflow import assert_paid_exactly_once, execute_command, fund, lines_of, prepare

runner = CliRunner()


def _execute(plan_id: int) -> None:
    report = execute_plan(plan_id, session_factory=db.session_scope)
    assert report.status == "attested", report


def _set_faults(url: str, **faults: object) -> None:
    async def apply() -> None:
        async with Rpc(url) as rpc:
            await rpc.call_json("localnet_setFaults", [faults])

    asyncio.run(apply())


@pytest.fixture
def clean_faults(localnet_url: str):  # type: ignore[no-untyped-def]
    yield
    _set_faults(
        localnet_url,
        drop_rate=0.0,
        drop_next=0,
        land_delay_slots=0,
        http_error_rate=0.0,
        http_error_next=0,
    )


@pytest.mark.parametrize("holders", [1, 19, 20, 1000])
def test_every_recipient_is_paid_exactly_once(
    holders: int, pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = prepare(monkeypatch, localnet_url, tmp_path / "keys", holders)
    _execute(flow.plan_id)
    assert_paid_exactly_once(localnet_url, flow)
    lines = lines_of(flow.plan_id)
    assert len(lines) == holders and all(line.status == "paid" and line.signature for line in lines)
    with db.session_scope() as session:
        plan = session.get(PayoutPlan, flow.plan_id)
        batches = session.exec(select(PayoutBatch).where(PayoutBatch.plan_id == flow.plan_id)).all()
        assert (
            plan is not None and plan.status == PlanStatus.attested and plan.attestation_signature
        )
        assert (
            plan.reconciliation["paid_total"]
            == plan.sent_total
            == sum(line.amount_due for line in lines)
        )
        assert all(b.creates_accounts for b in batches)  # recipients had no USDC account yet
        capacity = _capacity(create=True)
        assert capacity >= 8 and len(batches) == math.ceil(holders / capacity)


def _capacity(*, create: bool) -> int:
    """Lines per transaction as the packer measures them (independent of any plan)."""
    from solders.keypair import Keypair

    from corpactions.execution.batching import LineSpec, pack

    specs = [LineSpec(i, str(Keypair().pubkey()), 10**9, create) for i in range(60)]
    key = Keypair().pubkey()
    return len(
        pack(specs, payer=key, treasury=Keypair().pubkey(), mint=Keypair().pubkey(), decimals=6)[0]
    )


def test_recipients_without_an_account_are_held_for_claim_when_the_policy_says_so(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = prepare(
        monkeypatch,
        localnet_url,
        tmp_path / "keys",
        40,
        usdc_accounts_for=25,
        missing_account_policy="hold",
    )
    _execute(flow.plan_id)
    lines = lines_of(flow.plan_id)
    assert sorted({line.status for line in lines}) == ["held_for_claim", "paid"]
    assert sum(line.status == "paid" for line in lines) == 25
    assert all(
        "held for claim" in (line.status_reason or "")
        for line in lines
        if line.status == "held_for_claim"
    )
    assert_paid_exactly_once(localnet_url, flow)
    with db.session_scope() as session:
        batches = session.exec(select(PayoutBatch).where(PayoutBatch.plan_id == flow.plan_id)).all()
        assert len(batches) == math.ceil(25 / _capacity(create=False))
        assert not any(b.creates_accounts for b in batches) and _capacity(create=False) >= 17


@pytest.mark.parametrize("point", POINTS)
def test_a_killed_executor_restarted_pays_everyone_exactly_once(
    point: str, pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = prepare(monkeypatch, localnet_url, tmp_path / "keys", 45)  # five or six transactions
    crashes = [(point, 0), (point, 2), (point, 1)]
    for crash_at, skip in crashes:
        killed = execute_command(flow.plan_id, "--json", crash_at=crash_at, skip=skip)
        if killed.returncode == 0:
            break  # this run had nothing left to do at that point
        assert killed.returncode == -9, killed.stderr
    final = execute_command(flow.plan_id, "--json")
    assert final.returncode == 0, final.stderr
    assert orjson.loads(final.stdout)["status"] == "attested"
    assert_paid_exactly_once(localnet_url, flow)
    assert all(line.status == "paid" for line in lines_of(flow.plan_id))


def test_dropped_transactions_are_recovered_by_resending_the_same_bytes(
    pg_ledger: str,
    localnet_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    clean_faults: None,
) -> None:
    flow = prepare(monkeypatch, localnet_url, tmp_path / "keys", 30)
    _set_faults(localnet_url, drop_next=2)
    _execute(flow.plan_id)
    assert_paid_exactly_once(localnet_url, flow)
    with db.session_scope() as session:
        batches = session.exec(select(PayoutBatch).where(PayoutBatch.plan_id == flow.plan_id)).all()
        assert all(b.attempt == 1 for b in batches)  # re-broadcast, never re-signed


def test_an_attempt_that_can_no_longer_land_is_signed_again_once(
    pg_ledger: str,
    localnet_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    clean_faults: None,
) -> None:
    import threading
    import time

    flow = prepare(monkeypatch, localnet_url, tmp_path / "keys", 30)
    fund(flow.plan_id)  # the funding lands first; then every batch's first attempt is dropped
    _set_faults(localnet_url, drop_rate=1.0)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            _execute(flow.plan_id)
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with db.session_scope() as session:
            statuses = {
                b.status
                for b in session.exec(
                    select(PayoutBatch).where(PayoutBatch.plan_id == flow.plan_id)
                )
            }
        if statuses == {"sent"}:
            break
        time.sleep(0.1)

    async def expire() -> None:
        async with Rpc(localnet_url) as rpc:
            await rpc.call_json("localnet_advanceSlots", [200])  # past every lastValidBlockHeight
            await rpc.call_json("localnet_setFaults", [{"drop_rate": 0.0}])

    asyncio.run(expire())
    worker.join(timeout=120)
    assert not errors, errors
    assert_paid_exactly_once(localnet_url, flow)
    with db.session_scope() as session:
        batches = session.exec(select(PayoutBatch).where(PayoutBatch.plan_id == flow.plan_id)).all()
        assert all(b.attempt == 2 and "expired unlanded" in (b.error or "") for b in batches)


def test_a_429_storm_only_slows_the_run(
    pg_ledger: str,
    localnet_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    clean_faults: None,
) -> None:
    flow = prepare(monkeypatch, localnet_url, tmp_path / "keys", 20)
    _set_faults(localnet_url, http_error_rate=0.3, http_error_status=429, seed=3)
    _execute(flow.plan_id)
    assert_paid_exactly_once(localnet_url, flow)


# ----- approval ---------------------------------------------------------------------------------


@pytest.fixture
def draft(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> int:
    from corpactions.instruments import add_instrument
    from corpactions.localnet.seed import seed
    from corpactions.models import CorporateAction
    from snapshots.take import take_snapshot
    from tests.payflow import configure

    seeded = asyncio.run(
        seed(rpc_url=localnet_url, keys_dir=tmp_path / "keys", holders=5, realistic=False)
    )
    configure(monkeypatch, localnet_url, seeded)
    with db.session_scope() as session:
        instrument = add_instrument(
            session=session,
            symbol="AAPL",
            mint=seeded.stock_mint,
            issuer_wallet=seeded.issuer_wallet,
        )
        ingest(parse_csv(csv_rows(own())), session=session)
        action = session.exec(select(CorporateAction)).one()
        take_snapshot(session=session, instrument=instrument, action=action)
        return compute_plan(session=session, action_id=action.id or 0, maker="maker").plan.id or 0


def _hash(plan_id: int) -> str:
    with db.session_scope() as session:
        plan = session.get(PayoutPlan, plan_id)
        assert plan is not None
        return plan.plan_hash


def _approve_cli(plan_id: int, plan_hash: str, approver: str) -> tuple[int, str]:
    """``approver`` approves with its own key file (registered first)."""
    with db.session_scope() as session:
        key = ensure_operator(session, approver)
    path = get_settings().data_dir / "operator-keys" / f"{approver}.json"
    write_keypair(path, key)
    result = runner.invoke(
        app, ["payouts", "approve", str(plan_id), "--plan-hash", plan_hash, "--key", str(path)]
    )
    return result.exit_code, result.output


def _approvals() -> int:
    with db.session_scope() as session:
        return len(session.exec(select(Approval).where(Approval.decision == "approve")).all())


def test_approval_refusals_each_say_why_and_write_nothing(draft: int) -> None:
    good = _hash(draft)
    with db.session_scope() as session:
        sign_payout_compute(session, draft, "maker")
    for plan_hash, who, message in [
        ("0" * 64, "checker", "the plan hash given does not match"),
        (good, "maker", "cannot also approve it (maker-checker)"),
    ]:
        code, output = _approve_cli(draft, plan_hash, who)
        assert code == 2 and message in output, output
        assert len([line for line in output.splitlines() if line.strip()]) == 1
    with db.session_scope() as session, pytest.raises(PlanError, match="treasury holds 0"):
        approve_payout(session, draft, "checker", funds=Funds(0, 10**12))
    with db.session_scope() as session, pytest.raises(PlanError, match="lamports"):
        approve_payout(session, draft, "checker", funds=Funds(10**15, 0))
    assert _approvals() == 0
    assert _approve_cli(draft, good, "checker")[0] == 0
    code, output = _approve_cli(draft, good, "another")
    assert code == 2 and "already approved" in output
    assert _approvals() == 1


def test_a_wrong_hash_is_refused_without_echoing_the_right_one(draft: int) -> None:
    good = _hash(draft)
    code, output = _approve_cli(draft, "deadbeef", "checker")
    assert code == 2 and "does not match" in output and "payouts show" in output
    assert good not in output and good[:8] not in output


def test_a_decision_without_a_key_or_signature_is_refused(draft: int) -> None:
    result = runner.invoke(app, ["payouts", "approve", str(draft), "--plan-hash", _hash(draft)])
    assert result.exit_code == 2 and "a decision is a signature" in result.output
    assert _approvals() == 0


def test_two_checkers_when_the_setting_asks_for_two(
    draft: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CORPACTIONS_APPROVALS_REQUIRED", "2")
    get_settings.cache_clear()
    good = _hash(draft)
    assert _approve_cli(draft, good, "checker1")[0] == 0
    code, output = _approve_cli(draft, good, "checker1")
    assert code == 2 and "already approved payout plan" in output
    with db.session_scope() as session:
        assert session.get(PayoutPlan, draft).status == PlanStatus.draft  # type: ignore[union-attr]
    assert _approve_cli(draft, good, "checker2")[0] == 0
    with db.session_scope() as session:
        assert session.get(PayoutPlan, draft).status == PlanStatus.approved  # type: ignore[union-attr]


def test_a_rejected_or_stale_plan_cannot_be_approved(draft: int) -> None:
    good = _hash(draft)
    with db.session_scope() as session:
        reject(
            session=session,
            plan_id=draft,
            decision=payout_decision(session, draft, "checker", "reject"),
            note="wrong rate",
        )
    code, output = _approve_cli(draft, good, "checker")
    assert code == 2 and "already rejected" in output
    with db.session_scope() as session:
        fresh = compute_plan(
            session=session, action_id=session.get(PayoutPlan, draft).action_id, maker="maker"
        ).plan  # type: ignore[union-attr]
        newer = compute_plan(session=session, action_id=fresh.action_id, maker="maker").plan
        fresh_id, fresh_hash = fresh.id or 0, fresh.plan_hash
        assert newer.status == PlanStatus.draft
    code, output = _approve_cli(fresh_id, fresh_hash, "checker")
    assert code == 2 and "is stale" in output


def test_an_amendment_after_approval_blocks_execution(draft: int) -> None:
    assert _approve_cli(draft, _hash(draft), "checker")[0] == 0
    with db.session_scope() as session:
        ingest(
            parse_csv(csv_rows(own(sequence=2, function="REPL", gross_rate="0.30"))),
            session=session,
        )
        assert session.get(PayoutPlan, draft).status == PlanStatus.stale  # type: ignore[union-attr]
    result = runner.invoke(app, ["payouts", "execute", str(draft)])
    assert result.exit_code == 2 and "only approved plans are executed" in result.output


def test_dry_run_sends_nothing(draft: int, localnet_url: str) -> None:
    assert _approve_cli(draft, _hash(draft), "checker")[0] == 0
    result = runner.invoke(app, ["payouts", "execute", str(draft), "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    data = orjson.loads(result.stdout)
    assert data["lines_to_send"] == 5 and data["amount_to_send"] > 0
    with db.session_scope() as session:
        assert session.exec(select(PayoutBatch)).all() == []


def test_two_executors_racing_on_one_plan_pay_everyone_once(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = prepare(monkeypatch, localnet_url, tmp_path / "keys", 60)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORPACTIONS_CRASH")}
    command = [
        sys.executable,
        "-m",
        "corpactions.cli",
        "payouts",
        "execute",
        str(flow.plan_id),
        "--json",
        "--force",  # past the Redis claim: the ledger's compare-and-set alone must keep them apart
    ]
    racers = [
        subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    results = [racer.communicate(timeout=300) for racer in racers]
    assert all(racer.returncode == 0 for racer in racers), results
    assert_paid_exactly_once(localnet_url, flow)
    with db.session_scope() as session:
        batches = session.exec(select(PayoutBatch).where(PayoutBatch.plan_id == flow.plan_id)).all()
        assert len(batches) == math.ceil(60 / _capacity(create=True))  # no duplicate batches
        assert all(b.attempt == 1 for b in batches)


def test_execute_refuses_while_the_workers_hold_the_plan_and_says_how_to_go_on(
    draft: int,
) -> None:
    from corpactions import locks

    assert _approve_cli(draft, _hash(draft), "checker")[0] == 0
    assert locks.claim(locks.plan_chain(draft))  # as a worker chain executing it
    result = runner.invoke(app, ["payouts", "execute", str(draft)])
    assert result.exit_code == 2
    assert "being executed by the workers" in result.output and "--force" in result.output
    with db.session_scope() as session:
        assert session.exec(select(PayoutBatch)).all() == []  # nothing was done
    locks.release(locks.plan_chain(draft))
    result = runner.invoke(app, ["payouts", "execute", str(draft), "--json"])
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout)["paid_lines"] == 5
    assert locks.holder(locks.plan_chain(draft)) is None  # released at the end


def test_a_claim_left_by_a_killed_command_on_this_host_is_taken_over(draft: int) -> None:
    import socket

    from corpactions import locks

    assert _approve_cli(draft, _hash(draft), "checker")[0] == 0
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead = f"cli:{socket.gethostname()}:{int(gone.stdout)}"
    assert locks.claim(locks.plan_chain(draft), owner=dead)
    result = runner.invoke(app, ["payouts", "execute", str(draft), "--json"])
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout)["paid_lines"] == 5


def test_show_warns_an_approver_about_missing_accounts_and_unreachable_chains(
    draft: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    shown = orjson.loads(runner.invoke(app, ["payouts", "show", str(draft), "--json"]).stdout)
    assert any("have no USDC account yet: created in the transfer" in w for w in shown["warnings"])
    from corpactions.config import get_settings

    monkeypatch.setenv("CORPACTIONS_RPC_URL", "http://127.0.0.1:9")  # nothing listens there
    get_settings.cache_clear()
    offline = runner.invoke(app, ["payouts", "show", str(draft), "--json"])
    assert offline.exit_code == 0
    assert any(
        w.startswith("chain checks not made") for w in orjson.loads(offline.stdout)["warnings"]
    )


def test_the_attested_ledger_is_exported_and_matches_the_published_hash(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlib

    flow = prepare(monkeypatch, localnet_url, tmp_path / "keys", 12)
    _execute(flow.plan_id)
    exported = runner.invoke(app, ["payouts", "ledger", str(flow.plan_id)])
    assert exported.exit_code == 0, exported.output
    shown = orjson.loads(
        runner.invoke(app, ["payouts", "show", str(flow.plan_id), "--json"]).stdout
    )
    assert hashlib.sha256(exported.stdout_bytes).hexdigest() == shown["ledger_sha256"]
    assert shown["run_reconciliation"]["paid_total"] == int(shown["sent_total"])
    assert (
        exported.stdout_bytes.count(b"\n") == 2 + 1 + 12
    )  # plan id, hash, header, one row per line

    async def memo_of(signature: str) -> str:
        async with Rpc(localnet_url) as rpc:
            tx = await rpc.call_json(
                "getTransaction",
                [signature, {"encoding": "json", "maxSupportedTransactionVersion": 0}],
            )
        return " ".join(tx["meta"]["logMessages"])

    assert shown["ledger_sha256"] in asyncio.run(memo_of(shown["attestation_signature"]))

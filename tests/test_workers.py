"""The pipeline on real Celery workers and beat, a real Redis broker, PostgreSQL and the localnet.

Nothing here calls the domain to move the pipeline along: the scheduler and the workers do it;
the test only drops a feed file, approves a plan through the CLI, kills workers, and checks the
chain and the ledger.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest
import redis
from sqlmodel import col, func, select

from corpactions import db
from corpactions.chain.keys import load_keypair, write_keypair
from corpactions.config import get_settings
from corpactions.localnet.seed import seed
from corpactions.models import (
    BatchStatus,
    CorporateAction,
    PayoutBatch,
    PayoutPlan,
    PlanStatus,
    Snapshot,
    TaskFailure,
)
from tasks.app import app
from tests.celerykit import FAST, CeleryProcess, beat, wait_for, worker
from tests.feed_corpus import csv_rows, own
from tests.operatorkit import ensure_operator
from tests.payflow import Flow, assert_paid_exactly_once, configure, prepare, register_aapl

ROOT = Path(__file__).resolve().parents[1]
EASTERN = ZoneInfo("America/New_York")


@pytest.fixture
def processes() -> list[CeleryProcess]:
    started: list[CeleryProcess] = []
    yield started
    for process in started:
        process.stop()


def _plan(plan_id: int) -> PayoutPlan:
    with db.session_scope() as session:
        plan = session.get(PayoutPlan, plan_id)
        assert plan is not None
        return plan


def _attested(plan_id: int) -> PayoutPlan | None:
    plan = _plan(plan_id)
    return plan if plan.status == PlanStatus.attested else None


def _no_task_failures() -> list[str]:
    with db.session_scope() as session:
        return [f"{f.task_name}: {f.error}" for f in session.exec(select(TaskFailure)).all()]


def test_a_dividend_goes_from_a_feed_file_to_an_attested_payout_with_only_the_approval_by_hand(
    pg_ledger: str,
    redis_client: redis.Redis,
    localnet_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    processes: list[CeleryProcess],
) -> None:
    seeded = asyncio.run(
        seed(rpc_url=localnet_url, keys_dir=tmp_path / "keys", holders=12, realistic=False)
    )
    cutoff = datetime.now(EASTERN).replace(microsecond=0) + timedelta(seconds=10)
    configure(
        monkeypatch,
        localnet_url,
        seeded,
        **FAST,
        record_date_cutoff=cutoff.strftime("%H:%M:%S"),
        record_date_timezone="America/New_York",
    )
    with db.session_scope() as session:
        register_aapl(session, seeded)
    record_date = cutoff.date().isoformat()
    inbox = get_settings().inbox_dir
    inbox.mkdir(parents=True)
    (inbox / "issuer-notice.csv").write_bytes(
        csv_rows(
            own(
                record_date=record_date,
                ex_date=record_date,
                pay_date=(cutoff.date() + timedelta(days=3)).isoformat(),
                gross_rate="0.2475",
            )
        )
    )
    processes.append(beat(tmp_path / "beat.log", tmp_path / "beat-schedule"))
    processes.append(worker(tmp_path / "worker.log", "w1"))

    def action_id() -> int | None:
        with db.session_scope() as session:
            return session.exec(select(CorporateAction.id)).first()

    wait_for(action_id, "the feed task to ingest the inbox file", processes=tuple(processes))
    assert list((inbox / "done").iterdir())
    with db.session_scope() as session:
        if datetime.now(EASTERN) < cutoff - timedelta(seconds=2):
            assert session.exec(select(func.count()).select_from(Snapshot)).one() == 0

    def snapshot() -> Snapshot | None:
        with db.session_scope() as session:
            return session.exec(select(Snapshot)).first()

    taken = wait_for(snapshot, "the snapshot at the cutoff", processes=tuple(processes))
    assert taken.created_at >= cutoff

    def draft() -> PayoutPlan | None:
        with db.session_scope() as session:
            return session.exec(
                select(PayoutPlan).where(PayoutPlan.status == PlanStatus.draft)
            ).first()

    plan = wait_for(draft, "the scheduler's draft plan", processes=tuple(processes))
    assert plan.created_by == "scheduler"
    assert _plan(plan.id or 0).status == PlanStatus.draft  # nothing moves without approval

    with db.session_scope() as session:  # the checker, registered with its own key
        checker = ensure_operator(session, "checker")
    checker_key = tmp_path / "checker.json"
    write_keypair(checker_key, checker)
    approved = subprocess.run(
        [
            sys.executable,
            "-m",
            "corpactions.cli",
            "payouts",
            "approve",
            str(plan.id),
            "--plan-hash",
            plan.plan_hash,
            "--key",
            str(checker_key),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert approved.returncode == 0, approved.stderr

    done = wait_for(
        lambda: _attested(plan.id or 0),
        "the plan to be paid and attested",
        processes=tuple(processes),
    )
    assert done.reconciliation["paid_total"] == done.sent_total
    assert done.attestation_signature
    authority = load_keypair(Path(seeded.keys_dir) / "payout-authority.json")
    assert_paid_exactly_once(localnet_url, Flow(plan.id or 0, seeded, authority))
    assert _no_task_failures() == []


def test_a_worker_killed_mid_payout_is_replaced_and_every_holder_is_paid_exactly_once(
    pg_ledger: str,
    redis_client: redis.Redis,
    localnet_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    processes: list[CeleryProcess],
) -> None:
    flow = prepare(monkeypatch, localnet_url, tmp_path / "keys", holders=40, **FAST)
    processes.append(beat(tmp_path / "beat.log", tmp_path / "beat-schedule"))
    doomed = worker(
        tmp_path / "doomed.log",
        "doomed",
        "--no-supervise",  # the whole worker dies, as in a power cut
        env={"CORPACTIONS_CRASH_AT": "after_send", "CORPACTIONS_CRASH_SKIP": "1"},
    )
    processes.append(doomed)
    wait_for(lambda: doomed.proc.poll() is not None, "the worker to die after its second send")
    with db.session_scope() as session:
        statuses = session.exec(
            select(PayoutBatch.status).where(PayoutBatch.plan_id == flow.plan_id)
        ).all()
    assert BatchStatus.sent in statuses or BatchStatus.finalized in statuses
    assert any(s != BatchStatus.finalized for s in statuses)  # died mid-payout

    processes.append(worker(tmp_path / "heir.log", "heir"))
    wait_for(
        lambda: _attested(flow.plan_id),
        "the new worker to finish the plan",
        processes=tuple(processes),
    )
    assert_paid_exactly_once(localnet_url, flow)


def test_two_workers_racing_on_the_same_plan_pay_every_holder_once(
    pg_ledger: str,
    redis_client: redis.Redis,
    localnet_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    processes: list[CeleryProcess],
) -> None:
    flow = prepare(monkeypatch, localnet_url, tmp_path / "keys", holders=40, **FAST)
    processes.append(worker(tmp_path / "a.log", "a"))
    processes.append(worker(tmp_path / "b.log", "b"))
    for _ in range(3):  # the same plan ordered to run several times at once
        app.send_task("tasks.payouts.execute", args=[flow.plan_id])

    def batched() -> list[int] | None:
        with db.session_scope() as session:
            return (
                list(
                    session.exec(
                        select(PayoutBatch.id).where(PayoutBatch.plan_id == flow.plan_id)
                    ).all()
                )
                or None
            )

    for batch_id in wait_for(batched, "the plan's batches", processes=tuple(processes)):
        for _ in range(2):  # and every batch sent by both workers
            app.send_task("tasks.payouts.send_batch", args=[batch_id])
    processes.append(beat(tmp_path / "beat.log", tmp_path / "beat-schedule"))
    wait_for(lambda: _attested(flow.plan_id), "the plan to be attested", processes=tuple(processes))
    assert_paid_exactly_once(localnet_url, flow)
    with db.session_scope() as session:
        finalized = session.exec(
            select(func.count()).where(
                PayoutBatch.plan_id == flow.plan_id,
                col(PayoutBatch.status) == BatchStatus.finalized,
            )
        ).one()
    assert finalized >= 1
    assert _no_task_failures() == []


def test_a_poison_task_fails_once_and_the_operator_sees_why_in_status(
    pg_ledger: str,
    redis_client: redis.Redis,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    processes: list[CeleryProcess],
) -> None:
    for key, value in FAST.items():
        monkeypatch.setenv(f"CORPACTIONS_{key.upper()}", value)
    get_settings.cache_clear()
    processes.append(worker(tmp_path / "worker.log", "w1"))
    app.send_task("tasks.payouts.execute", args=[424242])

    def failures() -> list[TaskFailure] | None:
        with db.session_scope() as session:
            return list(session.exec(select(TaskFailure)).all()) or None

    [failure] = wait_for(failures, "the failure to be recorded", processes=tuple(processes))
    assert failure.task_name == "tasks.payouts.execute"
    assert failure.error_type == "PlanError"
    assert failure.retries == 0  # not transient: no retry loop
    shown = subprocess.run(
        [sys.executable, "-m", "corpactions.cli", "status", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    [shown_failure] = orjson.loads(shown.stdout)["failures"]
    assert shown_failure["what"] == "task tasks.payouts.execute"
    assert shown_failure["reason"] == "PlanError: no payout plan 424242"

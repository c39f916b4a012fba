"""``corpactions status``: the operator sees every stage and every failure, with reasons."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
from sqlmodel import select
from typer.testing import CliRunner

from corpactions import db
from corpactions.cli import app
from corpactions.feeds.ingest import ingest
from corpactions.feeds.ownformat import parse_csv
from corpactions.instruments import add_instrument
from corpactions.models import (
    CorporateAction,
    Instrument,
    LineStatus,
    PayoutBatch,
    PayoutLine,
    PayoutPlan,
    PlanStatus,
    Snapshot,
)
from tests.feed_corpus import csv_rows, own

runner = CliRunner()


def test_status_shows_stages_approvals_batches_and_failures(ledger: str) -> None:
    with db.session_scope() as session:
        add_instrument(
            session=session, symbol="AAPL", mint="So11111111111111111111111111111111111111112"
        )
        ingest(
            parse_csv(
                csv_rows(
                    own(),
                    own(reference="B", status="PREU"),
                    own(reference="X", symbol="ZZZZ"),
                    own(reference="C", function="CANC"),
                )
            ),
            session=session,
        )
        action = session.exec(
            select(CorporateAction).where(CorporateAction.source_ref == "ISSUER-2026-Q4")
        ).one()
        instrument = session.exec(select(Instrument)).one()
        snapshot = Snapshot(
            instrument_id=instrument.id or 0,
            action_id=action.id,
            slot=1,
            supply=1,
            account_count=1,
            owner_count=1,
            path="x",
            sha256="0" * 64,
        )
        session.add(snapshot)
        session.flush()
        draft = PayoutPlan(
            action_id=action.id or 0,
            action_version=1,
            snapshot_id=snapshot.id or 0,
            rate_per_share=Decimal("0.26"),
            gross_pool=10,
            sent_total=10,
            line_count=1,
            plan_hash="h" * 64,
            created_by="alice",
        )
        running = PayoutPlan(
            action_id=action.id or 0,
            action_version=1,
            snapshot_id=snapshot.id or 0,
            rate_per_share=Decimal("0.26"),
            gross_pool=10,
            plan_hash="g" * 64,
            created_by="alice",
            status=PlanStatus.executing,
        )
        session.add(draft)
        session.add(running)
        session.flush()
        session.add(PayoutBatch(plan_id=running.id or 0, seq=1, status="sent"))
        session.add(
            PayoutLine(
                plan_id=running.id or 0,
                owner="owner1",
                shares=1,
                gross=5,
                net=5,
                amount_due=5,
                status=LineStatus.failed,
                status_reason="simulation failed: frozen",
            )
        )
        action.status_reason = "snapshot failed: supply moved"
    result = runner.invoke(app, ["status", "--json"])
    assert result.exit_code == 0, result.output
    data = orjson.loads(result.stdout)
    assert data["actions_by_status"] == {"announced": 1, "cancelled": 1, "confirmed": 1}
    assert {a["status"] for a in data["open_actions"]} == {"announced", "confirmed"}
    assert [p["approvals"] for p in data["plans_awaiting_approval"]] == ["0/1"]
    assert data["batches_in_flight"] == {"sent": 1}
    assert {f["reason"] for f in data["failures"]} == {
        "simulation failed: frozen",
        "snapshot failed: supply moved",
    }
    assert data["quarantined_records"] == 1
    human = runner.invoke(app, ["status"])
    assert (
        human.exit_code == 0
        and "Plans awaiting approval" in human.output
        and "Failures" in human.output
    )


def _executing_plan_with_batches(session: Any) -> PayoutPlan:
    """An executing plan of 4 lines in 3 batches: 2 finalized (2 lines paid), 1 sent."""
    add_instrument(
        session=session, symbol="AAPL", mint="So11111111111111111111111111111111111111112"
    )
    ingest(parse_csv(csv_rows(own())), session=session)
    action = session.exec(select(CorporateAction)).one()
    instrument = session.exec(select(Instrument)).one()
    snapshot = Snapshot(
        instrument_id=instrument.id or 0,
        action_id=action.id,
        slot=1,
        supply=1,
        account_count=1,
        owner_count=1,
        path="x",
        sha256="0" * 64,
    )
    session.add(snapshot)
    session.flush()
    plan = PayoutPlan(
        action_id=action.id or 0,
        action_version=1,
        snapshot_id=snapshot.id or 0,
        rate_per_share=Decimal("0.26"),
        gross_pool=4_000_000,
        sent_total=4_000_000,
        line_count=4,
        plan_hash="a" * 64,
        created_by="alice",
        status=PlanStatus.executing,
    )
    session.add(plan)
    session.flush()
    for seq, status in enumerate(["finalized", "finalized", "sent"], start=1):
        session.add(PayoutBatch(plan_id=plan.id or 0, seq=seq, status=status, created_at=START))
    for n, status in enumerate(["paid", "paid", "batched", "batched"]):
        session.add(
            PayoutLine(
                plan_id=plan.id or 0,
                owner=f"owner{n}",
                shares=1,
                gross=1_000_000,
                net=1_000_000,
                amount_due=1_000_000,
                status=status,
            )
        )
    return plan


START = datetime(2026, 12, 1, 17, 0, 0, tzinfo=UTC)


def test_status_shows_a_runs_progress_as_lines_and_batches_x_of_y_with_an_eta(ledger: str) -> None:
    from corpactions.status import plan_progress

    with db.session_scope() as session:
        plan = _executing_plan_with_batches(session)
        progress = plan_progress(session, plan, now=START + timedelta(seconds=20))
    assert (progress["lines_done"], progress["lines_total"]) == (2, 4)
    assert (progress["batches_done"], progress["batches_total"]) == (2, 3)
    assert progress["eta_seconds"] == 10  # 2 batches in 20 s: the last one in about 10 s
    assert progress["eta_at"] == START + timedelta(seconds=30)
    human = runner.invoke(app, ["status"])
    assert human.exit_code == 0, human.output
    assert f"plan {plan.id} (action {plan.action_id}): lines 2 of 4, batches 2 of 3, done in" in (
        human.output
    )
    assert "[" not in human.output.split("plans executing")[-1]  # no Python list repr


def test_status_prints_whole_plan_hashes_and_amounts_with_units_at_80_columns(
    ledger: str,
) -> None:
    with db.session_scope() as session:
        plan = _executing_plan_with_batches(session)
        plan.status = PlanStatus.draft
        session.add(plan)
    human = runner.invoke(app, ["status"], env={"COLUMNS": "80"})
    assert human.exit_code == 0, human.output
    assert f"plan hash: {'a' * 64}" in human.output
    assert "to send 4.000000 USDC" in human.output
    assert "approvals 0 of 1" in human.output
    assert "…" not in human.output


def test_each_part_of_the_overview_is_its_own_query(ledger: str) -> None:
    from corpactions import status
    from corpactions.config import get_settings
    from corpactions.reserves.backing import failing_instruments

    with db.session_scope() as session:
        _executing_plan_with_batches(session)
    with db.session_scope() as session:
        whole = status.overview(session)
        parts = {
            "actions_by_status": status.actions_by_status(session),
            "open_actions": status.open_actions(session),
            "plans_awaiting_approval": status.awaiting_approval(session, get_settings()),
            "plans_executing": status.plans_executing(session),
            "batches_in_flight": status.batches_in_flight(session),
            "failures": status.failures(session),
            "backing_failing": failing_instruments(session),
        }
    assert {k: v for k, v in whole.items() if k != "quarantined_records"} == {
        k: v for k, v in parts.items()
    } | {"plans_executing": whole["plans_executing"]}  # its ETA moves with the clock
    assert [p["batches_total"] for p in parts["plans_executing"]] == [3]

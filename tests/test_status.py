"""``corpactions status``: the operator sees every stage and every failure, with reasons."""

from __future__ import annotations

from decimal import Decimal

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

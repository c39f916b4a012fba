"""The scans the scheduler runs pick work up by ledger state (and only the right work)."""

from __future__ import annotations

from pathlib import Path

import pytest

from corpactions import db
from corpactions.execution import steps
from corpactions.execution.approval import reject
from corpactions.execution.protocol import begin_execution
from corpactions.feeds.ingest import ingest
from corpactions.feeds.ownformat import parse_csv
from corpactions.models import PayoutPlan
from corpactions.payouts.due import actions_needing_plans, compute_due_plans
from tests.feed_corpus import csv_rows, own
from tests.operatorkit import payout_decision
from tests.payflow import prepare, snapshotted


def _scans() -> tuple[list[int], list[int], list[int]]:
    with db.session_scope() as session:
        return (
            steps.runnable_plans(session),
            steps.halted_plans(session),
            steps.finishable_plans(session),
        )


def test_an_approved_plan_is_runnable_and_an_amendment_halts_it_once_it_executes(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = prepare(monkeypatch, localnet_url, tmp_path / "keys", holders=4)
    assert _scans() == ([flow.plan_id], [], [])
    begin_execution(db.session_scope, flow.plan_id)  # executing, nothing batched yet
    assert _scans() == ([flow.plan_id], [], [])
    with db.session_scope() as session:  # the issuer corrects the rate mid-payment
        ingest(
            parse_csv(csv_rows(own(sequence=2, gross_rate="0.30", function="REPL"))),
            session=session,
        )
    assert _scans() == ([], [flow.plan_id], [])


def test_an_amendment_before_execution_makes_the_approved_plan_stale_not_runnable(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = prepare(monkeypatch, localnet_url, tmp_path / "keys", holders=4)
    with db.session_scope() as session:
        ingest(
            parse_csv(csv_rows(own(sequence=2, gross_rate="0.30", function="REPL"))),
            session=session,
        )
    assert _scans() == ([], [], [])
    with db.session_scope() as session:
        plan = session.get(PayoutPlan, flow.plan_id)
        assert plan is not None and plan.status == "stale"


def test_a_snapshotted_dividend_gets_one_draft_plan_and_a_rejected_one_is_not_redone(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, action_id = snapshotted(monkeypatch, localnet_url, tmp_path / "keys", holders=4)
    [plan_id] = compute_due_plans(session_factory=db.session_scope)["computed"]
    assert compute_due_plans(session_factory=db.session_scope)["computed"] == []
    with db.session_scope() as session:
        plan = session.get(PayoutPlan, plan_id)
        assert plan is not None
        assert (plan.action_id, plan.created_by, plan.status) == (action_id, "scheduler", "draft")
        reject(
            session=session,
            plan_id=plan_id,
            decision=payout_decision(session, plan_id, "checker", "reject"),
            note="wrong tax classes",
        )
    with db.session_scope() as session:  # an operator's rejection is not undone by a scan
        assert actions_needing_plans(session) == []

"""A decision is a signature: the attacks on maker-checker are refused, and execution checks the
stored signatures again against the registry and the plan before anything is sent."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from corpactions import db
from corpactions.chain.keys import write_keypair
from corpactions.cli import app
from corpactions.config import get_settings
from corpactions.errors import OperatorError, PlanError, SignatureRefused
from corpactions.execution.approval import approve, decision_message
from corpactions.execution.proofs import PlanTampered
from corpactions.execution.protocol import execute_plan
from corpactions.models import Approval, PayoutPlan, PlanStatus
from corpactions.operators import decisions as operator_decisions
from corpactions.operators.decisions import Decision
from corpactions.operators.keys import sign_message
from corpactions.payouts.plan import compute_plan
from corpactions.payouts.signoff import payout_subject
from tests.operatorkit import (
    approve_payout,
    ensure_operator,
    key_of,
    payout_decision,
    revoke_operator,
    sign_payout_compute,
)
from tests.payflow import snapshotted

runner = CliRunner()


@pytest.fixture
def draft(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> int:
    """A draft dividend plan computed by 'maker', who signed it as its maker."""
    _, action_id = snapshotted(monkeypatch, localnet_url, tmp_path / "keys", 3)
    with db.session_scope() as session:
        plan = compute_plan(session=session, action_id=action_id, maker="maker").plan
        sign_payout_compute(session, plan.id or 0, "maker")
        return plan.id or 0


def _plan(plan_id: int) -> PayoutPlan:
    with db.session_scope() as session:
        plan = session.get(PayoutPlan, plan_id)
        assert plan is not None
        session.expunge(plan)
        return plan


def _approvals(plan_id: int) -> list[Approval]:
    with db.session_scope() as session:
        return list(
            session.exec(
                select(Approval).where(Approval.plan_id == plan_id, Approval.decision == "approve")
            )
        )


def _approve_signed(plan_id: int, name: str, message: bytes) -> PayoutPlan:
    with db.session_scope() as session:
        key = ensure_operator(session, name)
        return approve(
            session=session, plan_id=plan_id, decision=Decision(name, sign_message(key, message))
        )


def test_the_makers_key_cannot_approve_its_plan(draft: int) -> None:
    with db.session_scope() as session, pytest.raises(PlanError, match="maker-checker"):
        approve_payout(session, draft, "maker")
    assert _approvals(draft) == []


def test_the_makers_key_cannot_approve_under_another_spelling_of_its_name(draft: int) -> None:
    with db.session_scope() as session:
        message = decision_message(session, draft)
        for spelling in ("MAKER", "Maker"):
            with pytest.raises(PlanError, match="maker-checker"):
                approve(
                    session=session,
                    plan_id=draft,
                    decision=Decision(spelling, sign_message(key_of("maker"), message)),
                )
        with pytest.raises(SignatureRefused, match="U\\+200B"):
            approve(
                session=session,
                plan_id=draft,
                decision=Decision("maker\u200b", sign_message(key_of("maker"), message)),
            )
    assert _approvals(draft) == []


def test_case_and_zero_width_variants_of_one_approver_count_once(
    draft: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CORPACTIONS_APPROVALS_REQUIRED", "2")
    get_settings.cache_clear()
    with db.session_scope() as session:
        approve_payout(session, draft, "bob")
        message = decision_message(session, draft)
        with pytest.raises(PlanError, match="already approved"):
            approve(
                session=session,
                plan_id=draft,
                decision=Decision("Bob", sign_message(key_of("bob"), message)),
            )
        with pytest.raises(SignatureRefused):
            approve(
                session=session,
                plan_id=draft,
                decision=Decision("bob\u200b", sign_message(key_of("bob"), message)),
            )
    assert len(_approvals(draft)) == 1 and _plan(draft).status == PlanStatus.draft


def test_a_signature_over_another_plans_root_or_id_is_refused(draft: int) -> None:
    plan = _plan(draft)
    subject = payout_subject(plan)
    for other in (
        dataclasses.replace(subject, root="ab" * 32),
        dataclasses.replace(subject, plan_id=draft + 1),
        dataclasses.replace(subject, totals=subject.totals.replace("lines", "lines 1")),
    ):
        message = operator_decisions.decision_message(other, "approve")
        with pytest.raises(SignatureRefused, match="not operator 'checker'"):
            _approve_signed(draft, "checker", message)
    assert _approvals(draft) == []


def test_a_signature_made_for_another_deployment_is_refused(
    draft: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CORPACTIONS_DEPLOYMENT", "staging")
    get_settings.cache_clear()
    with db.session_scope() as session:
        staging = decision_message(session, draft)
    monkeypatch.setenv("CORPACTIONS_DEPLOYMENT", "production")
    get_settings.cache_clear()
    assert b"deployment: staging" in staging
    with pytest.raises(SignatureRefused):
        _approve_signed(draft, "checker", staging)
    assert _approvals(draft) == []


def test_a_revoked_operator_cannot_approve(draft: int) -> None:
    with db.session_scope() as session:
        ensure_operator(session, "checker")
        revoke_operator(session, "checker", [("root", key_of("root"))])
        revoked = payout_decision(session, draft, "checker", key=key_of("checker"))
        with pytest.raises(SignatureRefused, match="'checker' was revoked"):
            approve(session=session, plan_id=draft, decision=revoked)
    assert _approvals(draft) == []


def test_an_operator_without_the_approver_role_cannot_approve(draft: int) -> None:
    with db.session_scope() as session:
        ensure_operator(session, "intern", roles=["maker"])
        with pytest.raises(SignatureRefused, match="does not hold the approver role"):
            approve_payout(session, draft, "intern")


def test_an_approval_stores_the_signed_message_the_key_and_the_signature(draft: int) -> None:
    with db.session_scope() as session:
        approve_payout(session, draft, "checker")
    (row,) = _approvals(draft)
    plan = _plan(draft)
    assert row.pubkey == str(key_of("checker").pubkey())
    assert row.message is not None and f"root: {plan.plan_hash}" in row.message
    assert f"plan: payout {draft}" in row.message
    assert f"deployment: {get_settings().deployment}" in row.message
    assert row.signature is not None and len(row.signature) > 80


def test_offline_approval_message_sign_then_approve_with_the_signature(
    draft: int, tmp_path: Path
) -> None:
    with db.session_scope() as session:
        ensure_operator(session, "checker")
    keyfile = tmp_path / "checker.json"
    write_keypair(keyfile, key_of("checker"))
    shown = runner.invoke(app, ["payouts", "approval-message", str(draft)])
    assert shown.exit_code == 0
    message = shown.stdout_bytes
    assert message.startswith(b"corpactions decision\n") and not message.endswith(b"\n")
    signed = runner.invoke(app, ["sign", "--key", str(keyfile)], input=message)
    assert signed.exit_code == 0
    result = runner.invoke(
        app,
        [
            "payouts",
            "approve",
            str(draft),
            "--signature",
            signed.output.strip(),
            "--operator",
            "checker",
        ],
    )
    assert result.exit_code == 0, result.output
    assert _plan(draft).status == PlanStatus.approved
    assert [r.message for r in _approvals(draft)] == [message.decode()]


def test_an_acknowledged_warning_is_part_of_what_is_signed(draft: int, tmp_path: Path) -> None:
    with db.session_scope() as session:
        ensure_operator(session, "checker")
    keyfile = tmp_path / "checker.json"
    write_keypair(keyfile, key_of("checker"))
    ack = ["--acknowledge", "backing differs by 5 shares"]
    message = runner.invoke(app, ["payouts", "approval-message", str(draft), *ack]).stdout_bytes
    assert message.endswith(b"\nacknowledged: backing differs by 5 shares")
    signature = runner.invoke(app, ["sign", "--key", str(keyfile)], input=message).output.strip()
    approve_args = ["payouts", "approve", str(draft), "--signature", signature, "--operator"]
    refused = runner.invoke(app, [*approve_args, "checker"])
    assert refused.exit_code == 2 and "not operator 'checker'" in refused.output
    accepted = runner.invoke(app, [*approve_args, "checker", *ack])
    assert accepted.exit_code == 0, accepted.output


def test_execution_refuses_a_plan_whose_approver_was_revoked_after_approving(draft: int) -> None:
    with db.session_scope() as session:
        approve_payout(session, draft, "checker")
        revoke_operator(session, "checker", [("root", key_of("root"))])
    with pytest.raises(PlanTampered, match="approvals no longer verify"):
        execute_plan(draft, session_factory=db.session_scope)
    assert _plan(draft).status == PlanStatus.tampered


def test_execution_refuses_a_stored_approval_whose_message_was_altered(draft: int) -> None:
    with db.session_scope() as session:
        approve_payout(session, draft, "checker")
        row = session.exec(select(Approval).where(Approval.decision == "approve")).one()
        row.message = (row.message or "").replace("purpose: approve", "purpose: approve ")
        session.add(row)
    with pytest.raises(PlanTampered, match="approvals no longer verify"):
        execute_plan(draft, session_factory=db.session_scope)


def test_execution_refuses_an_approval_row_inserted_without_a_signature(draft: int) -> None:
    with db.session_scope() as session:
        plan = session.get(PayoutPlan, draft)
        assert plan is not None
        session.add(
            Approval(
                plan_id=draft, approver="checker", decision="approve", plan_hash=plan.plan_hash
            )
        )
        plan.status = PlanStatus.approved
        session.add(plan)
    with pytest.raises(PlanTampered, match="carries no signature"):
        execute_plan(draft, session_factory=db.session_scope)


def test_a_name_with_a_zero_width_character_cannot_be_an_operator(draft: int) -> None:
    with db.session_scope() as session, pytest.raises(OperatorError, match="U\\+200B"):
        ensure_operator(session, "bob\u200b")


def test_compute_with_a_key_records_the_makers_signature_and_bars_that_key_from_approving(
    draft: int, tmp_path: Path
) -> None:
    plan = _plan(draft)
    with db.session_scope() as session:
        ensure_operator(session, "alice")
    keyfile = tmp_path / "alice.json"
    write_keypair(keyfile, key_of("alice"))
    result = runner.invoke(
        app, ["payouts", "compute", str(plan.action_id), "--key", str(keyfile), "--json"]
    )
    assert result.exit_code == 0, result.output
    with db.session_scope() as session:
        newest = session.exec(select(PayoutPlan).order_by(PayoutPlan.id.desc())).first()  # type: ignore[union-attr]
        assert newest is not None and newest.created_by == "alice"
        maker = session.exec(
            select(Approval).where(Approval.plan_id == newest.id, Approval.decision == "compute")
        ).one()
        newest_id = newest.id or 0
    assert maker.pubkey == str(key_of("alice").pubkey())
    refused = runner.invoke(app, ["payouts", "approve", str(newest_id), "--key", str(keyfile)])
    assert refused.exit_code == 2 and "maker-checker" in refused.output

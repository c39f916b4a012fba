"""The ledger is not trusted after approval: edits to an approved plan's rows are caught by the
Merkle proofs before anything is signed, the plan turns ``tampered``, and the treasury moves not
at all (each case runs the real executor against the local chain)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from solders.keypair import Keypair
from sqlmodel import Session, select
from typer.testing import CliRunner

from corpactions import db
from corpactions.api.app import create_app
from corpactions.cli import app
from corpactions.config import get_settings
from corpactions.execution.credited import PaidAlready
from corpactions.execution.proofs import PlanTampered
from corpactions.execution.protocol import execute_plan
from corpactions.execution.steps import prepare_plan, send_batch
from corpactions.models import Approval, LineStatus, PayoutLine, PayoutPlan, PlanStatus
from tests.lyingrpc import LyingRpc
from tests.payflow import (
    Flow,
    execute_command,
    lines_of,
    plan_account_balance,
    prepare,
    treasury_balance,
    usdc_balances,
)

runner = CliRunner()


def _raise_amount(session: Session, flow: Flow) -> str:
    line = session.exec(select(PayoutLine).where(PayoutLine.plan_id == flow.plan_id)).first()
    assert line is not None
    line.amount_due *= 1000
    line.net *= 1000
    session.add(line)
    return line.owner


def _swap_owner(session: Session, flow: Flow) -> str:
    line = session.exec(select(PayoutLine).where(PayoutLine.plan_id == flow.plan_id)).first()
    assert line is not None
    outsider = str(Keypair().pubkey())
    line.owner = outsider
    session.add(line)
    return outsider


def _add_line(session: Session, flow: Flow) -> str:
    outsider = str(Keypair().pubkey())
    session.add(
        PayoutLine(
            plan_id=flow.plan_id,
            owner=outsider,
            shares=10**8,
            gross=5_000_000,
            net=5_000_000,
            amount_due=5_000_000,
        )
    )
    return outsider


def _delete_line(session: Session, flow: Flow) -> str:
    line = session.exec(select(PayoutLine).where(PayoutLine.plan_id == flow.plan_id)).first()
    assert line is not None
    session.delete(line)
    return line.owner


def _rebind_approval(session: Session, flow: Flow) -> str:
    """Edit the plan's hash and its approval together to a root of the attacker's choosing."""
    plan = session.get(PayoutPlan, flow.plan_id)
    assert plan is not None
    forged = "ab" * 32
    plan.plan_hash = forged
    session.add(plan)
    for approval in session.exec(select(Approval).where(Approval.plan_id == flow.plan_id)):
        approval.plan_hash = forged
        session.add(approval)
    return ""


EDITS: dict[str, Callable[[Session, Flow], str]] = {
    "amount raised": _raise_amount,
    "owner swapped": _swap_owner,
    "line added": _add_line,
    "line deleted": _delete_line,
    "approval rebound": _rebind_approval,
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_an_edit_after_approval_pays_nobody_and_marks_the_plan_tampered(
    edit: str, pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = prepare(monkeypatch, localnet_url, tmp_path / "keys", 8)
    owners = [line.owner for line in lines_of(flow.plan_id)]
    with db.session_scope() as session:
        touched = EDITS[edit](session, flow)
    with pytest.raises(PlanTampered):
        execute_plan(flow.plan_id, session_factory=db.session_scope)
    with db.session_scope() as session:
        plan = session.get(PayoutPlan, flow.plan_id)
        assert plan is not None and plan.status == PlanStatus.tampered
        assert plan.stale_reason
    assert treasury_balance(localnet_url, flow.seeded) == flow.seeded.treasury_usdc
    received = usdc_balances(localnet_url, flow.seeded.usdc_mint, [*owners, touched or owners[0]])
    assert set(received.values()) == {0}
    # and it stays refused: running again signs nothing
    again = runner.invoke(app, ["payouts", "execute", str(flow.plan_id)])
    assert again.exit_code != 0 and "tampered" in again.output


def test_the_tampered_line_is_named_and_status_shows_the_plan(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = prepare(monkeypatch, localnet_url, tmp_path / "keys", 5)
    with db.session_scope() as session:
        owner = _raise_amount(session, flow)
    result = execute_command(flow.plan_id)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and owner in errors[0] and "fail their proof" in errors[0]
    assert '"level": "error"' in result.stderr and "plan tampered" in result.stderr
    status = runner.invoke(app, ["status", "--json"])
    assert status.exit_code == 0
    assert '"plan tampered"' in status.stdout and owner in status.stdout


def test_a_batch_already_signed_is_not_broadcast_once_its_line_is_edited(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = prepare(monkeypatch, localnet_url, tmp_path / "keys", 6)
    killed = execute_command(flow.plan_id, crash_at="after_persist")
    assert killed.returncode == -9, killed.stderr
    with db.session_scope() as session:
        _raise_amount(session, flow)
    resumed = execute_command(flow.plan_id)
    assert resumed.returncode != 0 and "tampered" in resumed.stderr
    # funded before the edit: the plan's own account still holds all of it, nobody was paid
    assert (
        treasury_balance(localnet_url, flow.seeded)
        + plan_account_balance(localnet_url, flow.plan_id)
        == flow.seeded.treasury_usdc
    )
    owners = [line.owner for line in lines_of(flow.plan_id)]
    assert set(usdc_balances(localnet_url, flow.seeded.usdc_mint, owners).values()) == {0}


def test_a_line_forged_paid_before_execution_is_a_discrepancy_and_never_attested(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = prepare(monkeypatch, localnet_url, tmp_path / "keys", 8)
    with db.session_scope() as session:
        line = session.exec(select(PayoutLine).where(PayoutLine.plan_id == flow.plan_id)).first()
        assert line is not None
        line.status = LineStatus.paid
        line.signature = "1" * 64
        session.add(line)
        forged = line.owner
    report = execute_plan(flow.plan_id, session_factory=db.session_scope)
    assert report.status == "discrepancy"
    with db.session_scope() as session:
        plan = session.get(PayoutPlan, flow.plan_id)
        assert plan is not None
        assert plan.status == PlanStatus.discrepancy and plan.attestation_signature is None
        differences = plan.reconciliation["differences"]
    assert [d["owner"] for d in differences] == [forged]
    assert differences[0]["chain"] == 0 and "without a finalized" in differences[0]["why"]
    # the chain holds what was really sent: everyone but the forged line, once
    lines = lines_of(flow.plan_id)
    balances = usdc_balances(localnet_url, flow.seeded.usdc_mint, [x.owner for x in lines])
    assert balances[forged] == 0
    assert all(balances[x.owner] == x.amount_due for x in lines if x.owner != forged)
    paid = sum(x.amount_due for x in lines if x.owner != forged)
    # the forged line's amount never left the plan's account (not closed: not reconciled)
    assert (
        treasury_balance(localnet_url, flow.seeded)
        + plan_account_balance(localnet_url, flow.plan_id)
        == flow.seeded.treasury_usdc - paid
    )
    again = runner.invoke(app, ["payouts", "execute", str(flow.plan_id)])
    assert again.exit_code != 0 and "disagrees with the chain" in again.output
    status = runner.invoke(app, ["status", "--json"])
    assert '"plan discrepancy"' in status.stdout


@pytest.mark.parametrize(
    "mode", ["false_failure", "false_success", "unknown", "overclaim", "throttle"]
)
def test_a_lying_rpc_never_makes_a_holder_receive_more_than_its_line(
    mode: str, pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The executor talks to the chain only through the lying proxy; the truth is read from the
    chain directly afterwards."""
    flow = prepare(monkeypatch, localnet_url, tmp_path / "keys", 30, CONFIRM_TIMEOUT_SECONDS="90")
    with LyingRpc(localnet_url, mode) as proxy:
        monkeypatch.setenv("CORPACTIONS_RPC_URL", proxy.url)
        get_settings.cache_clear()
        report = execute_plan(flow.plan_id, session_factory=db.session_scope)
    assert report.status == "attested", report
    lines = lines_of(flow.plan_id)
    balances = usdc_balances(localnet_url, flow.seeded.usdc_mint, [x.owner for x in lines])
    for line in lines:
        assert balances[line.owner] == (line.amount_due if line.status == "paid" else 0)
    paid = sum(x.amount_due for x in lines if x.status == "paid")
    assert paid == sum(x.amount_due for x in lines)
    assert treasury_balance(localnet_url, flow.seeded) == flow.seeded.treasury_usdc - paid


def test_a_node_hiding_landed_transactions_is_outvoted_and_every_holder_is_paid_once(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three endpoints, one of which hides every landed transaction; quorum two."""
    flow = prepare(monkeypatch, localnet_url, tmp_path / "keys", 30, CONFIRM_TIMEOUT_SECONDS="90")
    with LyingRpc(localnet_url, "hide") as liar, LyingRpc(localnet_url, "honest") as second:
        monkeypatch.setenv("CORPACTIONS_RPC_URLS", f"{localnet_url},{liar.url},{second.url}")
        monkeypatch.setenv("CORPACTIONS_RPC_QUORUM", "2")
        get_settings.cache_clear()
        report = execute_plan(flow.plan_id, session_factory=db.session_scope)
        assert liar.requests > 0
    assert report.status == "attested", report
    lines = lines_of(flow.plan_id)
    balances = usdc_balances(localnet_url, flow.seeded.usdc_mint, [x.owner for x in lines])
    assert all(balances[x.owner] == x.amount_due for x in lines)
    paid = sum(x.amount_due for x in lines)
    assert treasury_balance(localnet_url, flow.seeded) == flow.seeded.treasury_usdc - paid


def test_a_holder_verifies_its_line_up_to_the_root_attested_on_chain(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = prepare(monkeypatch, localnet_url, tmp_path / "keys", 9)
    assert execute_plan(flow.plan_id, session_factory=db.session_scope).status == "attested"
    owner = lines_of(flow.plan_id)[4].owner
    verified = runner.invoke(app, ["verify-line", str(flow.plan_id), "--wallet", owner, "--json"])
    assert verified.exit_code == 0, verified.output
    result = orjson.loads(verified.stdout)
    assert result["verified"] and result["attested_root"] == result["root"]
    # the API serves the same proof; a client recomputes it without the project's code
    with TestClient(create_app()) as client:
        served = client.get(f"/v1/holders/{owner}/proofs/{flow.plan_id}").json()
    leaf = hashlib.sha256(b"\x00" + served["leaf_text"].encode()).digest()
    index, count, node = served["leaf_index"], served["leaf_count"], leaf
    siblings = [bytes.fromhex(h) for h in served["proof"]]
    while count > 1:
        if index ^ 1 < count:
            other = siblings.pop(0)
            node = hashlib.sha256(b"\x01" + (node + other if index % 2 == 0 else other + node))
            node = node.digest()
        index, count = index // 2, (count + 1) // 2
    assert not siblings and node.hex() == served["root"] == result["attested_root"]
    # a line edited in the ledger after payment no longer verifies
    with db.session_scope() as session:
        changed = _raise_amount(session, flow)
    again = runner.invoke(app, ["verify-line", str(flow.plan_id), "--wallet", changed])
    assert again.exit_code == 1 and "verified: NO" in again.output


def test_the_workers_send_step_halts_a_tampered_plan_and_sends_nothing(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = prepare(monkeypatch, localnet_url, tmp_path / "keys", 5)
    todo = asyncio.run(prepare_plan(flow.plan_id, session_factory=db.session_scope))
    assert todo
    with db.session_scope() as session:
        _raise_amount(session, flow)
    outcome = asyncio.run(send_batch(todo[0], session_factory=db.session_scope))
    assert outcome.startswith("halted") and "fail their proof" in outcome
    with db.session_scope() as session:
        plan = session.get(PayoutPlan, flow.plan_id)
        assert plan is not None and plan.status == PlanStatus.tampered
    assert (
        treasury_balance(localnet_url, flow.seeded)
        + plan_account_balance(localnet_url, flow.plan_id)
        == flow.seeded.treasury_usdc
    )
    owners = [line.owner for line in lines_of(flow.plan_id)]
    assert set(usdc_balances(localnet_url, flow.seeded.usdc_mint, owners).values()) == {0}


def test_a_plan_set_back_to_reconciled_by_hand_is_read_from_the_chain_again(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = prepare(monkeypatch, localnet_url, tmp_path / "keys", 6)
    with db.session_scope() as session:
        line = session.exec(select(PayoutLine).where(PayoutLine.plan_id == flow.plan_id)).first()
        assert line is not None
        line.status, line.signature = LineStatus.paid, "1" * 64
        session.add(line)
    assert execute_plan(flow.plan_id, session_factory=db.session_scope).status == "discrepancy"
    with db.session_scope() as session:
        plan = session.get(PayoutPlan, flow.plan_id)
        assert plan is not None
        plan.status = PlanStatus.reconciled  # the attacker's second edit
        session.add(plan)
    report = execute_plan(flow.plan_id, session_factory=db.session_scope)
    assert report.status == "discrepancy"
    with db.session_scope() as session:
        plan = session.get(PayoutPlan, flow.plan_id)
        assert plan is not None and plan.attestation_signature is None


def test_a_finalized_batch_reset_in_the_ledger_is_never_paid_again(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every line paid and finalized, then set back to pending in the ledger: the executor reads
    the plan's own transactions from its funded account's history before signing, finds those
    holders already paid, signs nothing, and stops the plan in discrepancy. Each holder has
    exactly its line; the treasury moved exactly once (the plan's account is empty, and would
    refuse a second payment besides)."""
    flow = prepare(monkeypatch, localnet_url, tmp_path / "keys", 5)
    killed = execute_command(flow.plan_id, crash_at="memo_after_record")
    assert killed.returncode == -9, killed.stderr
    with db.session_scope() as session:
        for line in session.exec(select(PayoutLine).where(PayoutLine.plan_id == flow.plan_id)):
            line.status, line.batch_id, line.signature = LineStatus.pending, None, None
            session.add(line)
        plan = session.get(PayoutPlan, flow.plan_id)
        assert plan is not None
        plan.status = PlanStatus.executing
        session.add(plan)
    with pytest.raises(PaidAlready, match="already paid by this plan on chain"):
        execute_plan(flow.plan_id, session_factory=db.session_scope)
    lines = lines_of(flow.plan_id)
    balances = usdc_balances(localnet_url, flow.seeded.usdc_mint, [x.owner for x in lines])
    assert all(balances[x.owner] == x.amount_due for x in lines)
    paid = sum(x.amount_due for x in lines)
    assert treasury_balance(localnet_url, flow.seeded) == flow.seeded.treasury_usdc - paid
    assert plan_account_balance(localnet_url, flow.plan_id) == 0
    with db.session_scope() as session:
        plan = session.get(PayoutPlan, flow.plan_id)
        assert plan is not None and plan.status == PlanStatus.discrepancy
    again = execute_command(flow.plan_id)
    assert again.returncode != 0 and "disagrees with the chain" in again.stderr + again.stdout


def test_an_honestly_held_line_still_verifies_against_the_root(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = prepare(monkeypatch, localnet_url, tmp_path / "keys", 6, MISSING_ACCOUNT_POLICY="hold")
    assert execute_plan(flow.plan_id, session_factory=db.session_scope).status == "attested"
    held = [x for x in lines_of(flow.plan_id) if x.status == LineStatus.held_for_claim]
    assert held
    result = runner.invoke(
        app, ["verify-line", str(flow.plan_id), "--wallet", held[0].owner, "--json"]
    )
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout)["verified"]

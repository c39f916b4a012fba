"""Splits and reinvested dividends by UI multiplier on real Token-2022 mints (ScaledUiAmount):
plan from the chain, maker-checker approval, one update sent exactly once, checked on the mint."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from decimal import Decimal, localcontext
from fractions import Fraction
from pathlib import Path
from typing import Any

import orjson
import pytest
from solders.pubkey import Pubkey
from sqlmodel import select
from typer.testing import CliRunner

from corpactions import db
from corpactions.chain import layout
from corpactions.chain.keys import write_keypair
from corpactions.chain.rpc import Rpc
from corpactions.cli import app
from corpactions.config import get_settings
from corpactions.corporate.decisions import sign_multiplier_compute
from corpactions.corporate.multiplier import compute_multiplier_plan, execute_multiplier_plan
from corpactions.corporate.scheduled import send_when_due, sendable_multiplier_plans
from corpactions.errors import PlanError, SignatureRefused
from corpactions.feeds.ingest import ingest
from corpactions.feeds.ownformat import parse_json
from corpactions.instruments import add_instrument
from corpactions.localnet.seed import SeedResult, seed
from corpactions.models import (
    AdjustmentStatus,
    CorporateAction,
    MultiplierDecision,
    MultiplierPlan,
    TaskFailure,
    TokenProgram,
)
from corpactions.payouts.plan import compute_plan
from tests.celerykit import FAST, beat, wait_for, worker
from tests.chainkit import ROOT
from tests.operatorkit import (
    approve_multiplier,
    ensure_operator,
    key_of,
    multiplier_decision,
    revoke_operator,
)
from tests.payflow import configure

EFFECTIVE = "2027-01-04"  # in the future: the new multiplier is pending until then
REINVEST = {
    "mode": "reinvest",
    "reference": "DIV-1",
    "kind": "cash_dividend",
    "currency": "USD",
    "gross_rate": "0.26",
    "reinvestment_price": "187.37",
    "ex_date": EFFECTIVE,
    "record_date": EFFECTIVE,
    "pay_date": "2027-01-07",
}
"""A cash dividend the instrument reinvests (its holders get shares by multiplier, no USDC)."""


def _setup(
    localnet_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    program: str = "token2022",
    mode: str = "usdc",
    **record: Any,
) -> tuple[SeedResult, int]:
    seeded = asyncio.run(
        seed(
            rpc_url=localnet_url,
            keys_dir=tmp_path / "keys",
            holders=4,
            program=program,
            realistic=False,
        )
    )
    configure(monkeypatch, localnet_url, seeded)
    with db.session_scope() as session:
        add_instrument(
            session=session,
            symbol="AAPL",
            mint=seeded.stock_mint,
            token_program=TokenProgram(program),
            decimals=8,
            issuer_wallet=seeded.issuer_wallet,
            dividend_mode=mode,
        )
        return seeded, _ingest(session, **record)


def _ingest(session: Any, **record: Any) -> int:
    item = {"reference": "SPLIT-1", "symbol": "AAPL", "status": "COMP", **record}
    ingest(parse_json(orjson.dumps([item])), session=session)
    action = session.exec(
        select(CorporateAction).where(CorporateAction.source_ref == item["reference"])
    ).one()
    return int(action.id)


def _split(new: int, old: int, reference: str = "SPLIT-1") -> dict[str, Any]:
    return {
        "reference": reference,
        "kind": "forward_split" if new > old else "reverse_split",
        "ratio_new": str(new),
        "ratio_old": str(old),
        "effective_date": EFFECTIVE,
        "record_date": "2026-12-31",
    }


def _plan(action_id: int) -> MultiplierPlan:
    """The multiplier plan computed, and signed as its maker, by alice."""
    with db.session_scope() as session:
        plan = asyncio.run(compute_multiplier_plan(session, action_id, maker="alice"))
        return sign_multiplier_compute(
            session,
            plan.id or 0,
            decision=multiplier_decision(session, plan.id or 0, "alice", "compute"),
        )


def _approve(plan: MultiplierPlan) -> None:
    with db.session_scope() as session:
        approve_multiplier(session, plan.id or 0, "bob")


def _execute(plan_id: int, **options: Any) -> MultiplierPlan:
    return asyncio.run(
        execute_multiplier_plan(plan_id, session_factory=db.session_scope, **options)
    )


def _mint(url: str, mint: str) -> layout.Mint:
    async def read() -> layout.Mint:
        async with Rpc(url) as rpc:
            account = await rpc.account(Pubkey.from_string(mint))
        assert account is not None
        return layout.decode_mint(bytes(account.data))

    return asyncio.run(read())


def _lamports(url: str, seeded: SeedResult) -> int:
    async def read() -> int:
        async with Rpc(url) as rpc:
            return await rpc.balance(Pubkey.from_string(seeded.authority))

    return asyncio.run(read())


def test_a_forward_two_for_one_split_doubles_the_multiplier_from_the_effective_time(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded, action_id = _setup(localnet_url, tmp_path, monkeypatch, **_split(2, 1))
    supply_before = _mint(localnet_url, seeded.stock_mint).supply
    plan = _plan(action_id)
    assert (plan.factor, plan.old_multiplier, plan.new_multiplier) == ("2/1", "1.0", "2.0")
    _approve(plan)
    done = _execute(plan.id or 0)
    assert done.status == AdjustmentStatus.done and done.check["matches"] is True
    scaled = _mint(localnet_url, seeded.stock_mint).scaled_ui_amount
    assert scaled is not None
    assert (scaled.multiplier, scaled.new_multiplier) == (1.0, 2.0)  # pending until then
    assert scaled.new_multiplier_effective_timestamp == plan.effective_timestamp
    assert _mint(localnet_url, seeded.stock_mint).supply == supply_before  # raw never moves


def test_a_reverse_one_for_ten_split_on_token_2022_divides_the_multiplier(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded, action_id = _setup(localnet_url, tmp_path, monkeypatch, **_split(1, 10))
    plan = _plan(action_id)
    assert plan.kind == "reverse_split" and plan.new_multiplier == repr(0.1)
    _approve(plan)
    assert _execute(plan.id or 0).status == AdjustmentStatus.done
    scaled = _mint(localnet_url, seeded.stock_mint).scaled_ui_amount
    assert scaled is not None and scaled.new_multiplier == 0.1


def test_a_stock_dividend_on_token_2022_moves_the_multiplier_by_its_ratio(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded, action_id = _setup(
        localnet_url,
        tmp_path,
        monkeypatch,
        **{**_split(105, 100), "kind": "stock_dividend"},
    )
    plan = _plan(action_id)
    assert (plan.kind, plan.factor, plan.new_multiplier) == ("stock_dividend", "21/20", "1.05")
    _approve(plan)
    assert _execute(plan.id or 0).status == AdjustmentStatus.done
    scaled = _mint(localnet_url, seeded.stock_mint).scaled_ui_amount
    assert scaled is not None and scaled.new_multiplier == 1.05


def test_a_reverse_split_on_a_classic_spl_mint_is_refused_with_the_reason(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, action_id = _setup(localnet_url, tmp_path, monkeypatch, program="token", **_split(1, 10))
    with pytest.raises(PlanError, match="cannot be burned") as refused:
        _plan(action_id)
    assert "Token-2022" in refused.value.hint


def test_a_reinvested_dividend_raises_the_multiplier_exactly_and_pays_no_usdc(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded, action_id = _setup(localnet_url, tmp_path, monkeypatch, **REINVEST)
    with db.session_scope() as session, pytest.raises(PlanError, match="reinvests dividends"):
        compute_plan(session=session, action_id=action_id, maker="alice")
    plan = _plan(action_id)
    with localcontext() as context:  # independent: 60-digit decimals, default tax 30 %
        context.prec = 60
        exact = Decimal(1) + Decimal("0.26") * (1 - Decimal("0.30")) / Decimal("187.37")
    assert float(plan.new_multiplier) == float(exact)
    assert Fraction(plan.factor) == Fraction(exact).limit_denominator(10**30)
    _approve(plan)
    assert _execute(plan.id or 0).status == AdjustmentStatus.done
    scaled = _mint(localnet_url, seeded.stock_mint).scaled_ui_amount
    assert scaled is not None and scaled.new_multiplier == float(exact)


def test_a_pending_multiplier_is_not_overwritten_unless_confirmed(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded, first = _setup(localnet_url, tmp_path, monkeypatch, **_split(2, 1))
    plan = _plan(first)
    _approve(plan)
    _execute(plan.id or 0)
    with db.session_scope() as session:
        second = _ingest(session, **_split(3, 2, reference="SPLIT-2"))
    later = _plan(second)
    assert later.old_multiplier == "2.0" and later.new_multiplier == "3.0"  # builds on pending
    assert later.inputs["pending_at_planning"] == {
        "multiplier": "2.0",
        "effective_timestamp": plan.effective_timestamp,
    }
    _approve(later)
    with pytest.raises(PlanError, match=r"pending multiplier 2\.0"):
        _execute(later.id or 0)
    assert _execute(later.id or 0, allow_overwrite=True).status == AdjustmentStatus.done
    scaled = _mint(localnet_url, seeded.stock_mint).scaled_ui_amount
    assert scaled is not None and scaled.new_multiplier == 3.0


def test_a_scheduled_send_waits_for_a_pending_multiplier_instead_of_overwriting_it(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded, first = _setup(localnet_url, tmp_path, monkeypatch, **_split(2, 1))
    plan = _plan(first)
    _approve(plan)
    _execute(plan.id or 0)  # 2.0 pending until EFFECTIVE
    with db.session_scope() as session:
        second = _ingest(session, **_split(3, 2, reference="SPLIT-2"))
    later = _plan(second)  # computed on top of the pending 2.0
    _approve(later)
    before = _lamports(localnet_url, seeded)
    outcome = asyncio.run(send_when_due(later.id or 0, session_factory=db.session_scope))
    assert outcome["status"] == "waiting" and "pending multiplier 2.0" in outcome["reason"]
    with db.session_scope() as session:
        stored = session.get(MultiplierPlan, later.id)
        assert stored is not None and stored.status == AdjustmentStatus.approved
        assert (stored.error or "").startswith("waiting: mint")
        assert sendable_multiplier_plans(session) == [later.id]  # the next scan looks again
    assert _lamports(localnet_url, seeded) == before  # nothing was sent
    scaled = _mint(localnet_url, seeded.stock_mint).scaled_ui_amount
    assert scaled is not None and scaled.new_multiplier == 2.0


def test_a_scheduled_send_turns_a_plan_stale_when_the_multiplier_moved_under_it(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, first = _setup(localnet_url, tmp_path, monkeypatch, **_split(2, 1))
    with db.session_scope() as session:
        second = _ingest(session, **_split(3, 1, reference="SPLIT-2"))
    plan, other = _plan(first), _plan(second)  # both from multiplier 1.0
    _approve(plan)
    _approve(other)
    _execute(plan.id or 0)  # the mint now has 2.0 pending: other's 1.0 basis is gone
    outcome = asyncio.run(send_when_due(other.id or 0, session_factory=db.session_scope))
    assert outcome["status"] == "stale"
    with db.session_scope() as session:
        stored = session.get(MultiplierPlan, other.id)
        assert stored is not None and stored.status == AdjustmentStatus.stale
        assert "changed since plan" in (stored.error or "")
        assert sendable_multiplier_plans(session) == []
    code, output = _cli_status()
    assert code == 0 and f"multiplier {other.id}" in output and "changed since plan" in output


def test_the_workers_send_an_approved_multiplier_plan_once_by_themselves(
    pg_ledger: str,
    redis_client: Any,
    localnet_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seeded, action_id = _setup(localnet_url, tmp_path, monkeypatch, **_split(2, 1))
    for key, value in FAST.items():
        monkeypatch.setenv(f"CORPACTIONS_{key.upper()}", value)
    get_settings.cache_clear()
    plan = _plan(action_id)
    _approve(plan)
    before = _lamports(localnet_url, seeded)
    started = [beat(tmp_path / "beat.log", tmp_path / "beat-schedule")]
    started.append(worker(tmp_path / "worker.log", "w1"))

    def sent() -> MultiplierPlan | None:
        with db.session_scope() as session:
            stored = session.get(MultiplierPlan, plan.id)
            return stored if stored is not None and stored.status == AdjustmentStatus.done else None

    try:
        done = wait_for(sent, "the workers sent the multiplier plan", processes=tuple(started))
        time.sleep(3)  # further scans run: they must send nothing more
    finally:
        for process in started:
            process.stop()
    assert done.check["matches"] is True and done.error is None
    assert before - _lamports(localnet_url, seeded) == 5000  # one transaction, one signature
    with db.session_scope() as session:
        assert session.exec(select(TaskFailure)).all() == []


def test_approval_needs_a_second_person_and_the_exact_hash(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, action_id = _setup(localnet_url, tmp_path, monkeypatch, **_split(2, 1))
    plan = _plan(action_id)
    with db.session_scope() as session, pytest.raises(PlanError, match="maker-checker"):
        approve_multiplier(session, plan.id or 0, "alice")
    with db.session_scope() as session, pytest.raises(PlanError, match="does not match") as err:
        approve_multiplier(session, plan.id or 0, "bob", plan_hash="0" * 64)
    assert plan.plan_hash not in str(err.value) and "adjust show" in str(err.value)
    with pytest.raises(PlanError, match="only approved plans"):
        _execute(plan.id or 0)


def test_a_multiplier_plan_whose_approver_was_revoked_is_not_sent(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, action_id = _setup(localnet_url, tmp_path, monkeypatch, **_split(2, 1))
    plan = _plan(action_id)
    _approve(plan)
    with db.session_scope() as session:
        revoke_operator(session, "bob", [("root", key_of("root"))])
    with pytest.raises(SignatureRefused, match="'bob' was revoked"):
        _execute(plan.id or 0)
    with db.session_scope() as session:
        stored = session.get(MultiplierPlan, plan.id)
        assert stored is not None and stored.status == AdjustmentStatus.approved
        assert stored.signature is None  # nothing was signed or sent


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["adjust", *args])
    return result.exit_code, result.output


def _key_file(name: str) -> str:
    """``name``'s operator key, registered, in a keypair file."""
    with db.session_scope() as session:
        key = ensure_operator(session, name)
    path = get_settings().data_dir / "operator-keys" / f"{name}.json"
    write_keypair(path, key)
    return str(path)


def _cli_status() -> tuple[int, str]:
    result = CliRunner().invoke(app, ["status", "--json"])
    return result.exit_code, result.output


def test_two_checkers_approve_a_multiplier_plan_when_the_setting_asks_for_two(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, action_id = _setup(localnet_url, tmp_path, monkeypatch, **_split(2, 1))
    monkeypatch.setenv("CORPACTIONS_APPROVALS_REQUIRED", "2")
    get_settings.cache_clear()
    plan = _plan(action_id)
    approve = ["approve", str(plan.id), "--plan-hash", plan.plan_hash, "--key"]
    code, output = _cli(*approve, _key_file("bob"))
    assert code == 0 and "approvals: 1 of 2 (bob)" in output and "draft" in output
    code, output = _cli(*approve, _key_file("bob"))
    assert code == 2 and "already approved" in output
    with pytest.raises(PlanError, match="only approved plans"):
        _execute(plan.id or 0)
    code, output = _cli(*approve, _key_file("carol"), "--note", "checked against the notice")
    assert code == 0 and "approvals: 2 of 2 (bob, carol)" in output and "approved" in output
    with db.session_scope() as session:
        decisions = session.exec(
            select(MultiplierDecision).where(MultiplierDecision.plan_id == plan.id)
        ).all()
    assert [(d.approver, d.decision, d.plan_hash) for d in decisions] == [
        ("alice", "compute", plan.plan_hash),
        ("bob", "approve", plan.plan_hash),
        ("carol", "approve", plan.plan_hash),
    ]
    assert _execute(plan.id or 0).status == AdjustmentStatus.done


def test_a_rejected_multiplier_plan_is_never_sent(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, action_id = _setup(localnet_url, tmp_path, monkeypatch, **_split(2, 1))
    plan = _plan(action_id)
    code, output = _cli(
        "reject",
        str(plan.id),
        "--plan-hash",
        plan.plan_hash,
        "--key",
        _key_file("bob"),
        "--note",
        "x",
    )
    assert code == 0 and "rejected" in output
    code, output = _cli("approve", str(plan.id), "--key", _key_file("eve"))
    assert code == 2 and "not a draft" in output
    with pytest.raises(PlanError, match="only approved plans"):
        _execute(plan.id or 0)


def test_a_multiplier_plan_whose_action_was_amended_turns_stale_when_approved(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, action_id = _setup(localnet_url, tmp_path, monkeypatch, **_split(2, 1))
    plan = _plan(action_id)
    with db.session_scope() as session:
        amended = {**_split(3, 1), "symbol": "AAPL", "status": "COMP", "sequence": 2}
        ingest(parse_json(orjson.dumps([amended])), session=session)
    with db.session_scope() as session, pytest.raises(PlanError, match="changed since"):
        approve_multiplier(session, plan.id or 0, "bob")
    with db.session_scope() as session:
        stored = session.get(MultiplierPlan, plan.id)
        assert stored is not None and stored.status == AdjustmentStatus.stale


def test_a_crash_between_persisting_and_sending_still_lands_the_update_once(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded, action_id = _setup(localnet_url, tmp_path, monkeypatch, **_split(2, 1))
    plan = _plan(action_id)
    _approve(plan)
    before = _lamports(localnet_url, seeded)
    command = [sys.executable, "-m", "corpactions.cli", "adjust", "execute", str(plan.id)]
    crashed = subprocess.run(
        command,
        cwd=ROOT,
        env={**os.environ, "CORPACTIONS_CRASH_AT": "after_persist"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert crashed.returncode == -9, crashed.stderr
    with db.session_scope() as session:
        stored = session.get(MultiplierPlan, plan.id)
        assert stored is not None and stored.status == AdjustmentStatus.sent
    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    assert again.returncode == 0, again.stderr
    assert _execute(plan.id or 0).status == AdjustmentStatus.done  # a third run changes nothing
    assert before - _lamports(localnet_url, seeded) == 5000  # exactly one transaction's fee


def test_the_api_shows_an_actions_multiplier_plan_and_its_on_chain_check(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.testclient import TestClient

    from corpactions.api.app import create_app

    _, action_id = _setup(localnet_url, tmp_path, monkeypatch, **_split(2, 1))
    plan = _plan(action_id)
    _approve(plan)
    _execute(plan.id or 0)
    with TestClient(create_app()) as client:
        [shown] = client.get(f"/v1/actions/{action_id}").json()["adjustments"]
    assert (shown["factor"], shown["new_multiplier"], shown["status"]) == ("2/1", "2.0", "done")
    assert shown["check"]["matches"] is True


def test_status_lists_a_multiplier_plan_awaiting_approval(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from corpactions.status import overview

    _, action_id = _setup(localnet_url, tmp_path, monkeypatch, **_split(2, 1))
    plan = _plan(action_id)
    with db.session_scope() as session:
        [waiting] = overview(session)["plans_awaiting_approval"]
    assert waiting["plan_id"] == f"multiplier {plan.id}"
    assert waiting["plan_hash"] == plan.plan_hash

"""Forward splits of classic SPL stock mints: new tokens minted pro rata (exactly once), fractions
issued, forfeited or paid in USDC, and the chain read again afterwards."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import orjson
import pytest
from solders.pubkey import Pubkey
from sqlmodel import col, select

from corpactions import db
from corpactions.chain import layout, tokens
from corpactions.chain.rpc import Rpc
from corpactions.corporate.splits import compute_split_plans
from corpactions.errors import PlanError
from corpactions.execution.protocol import execute_plan
from corpactions.feeds.ingest import ingest
from corpactions.feeds.ownformat import parse_json
from corpactions.localnet.seed import SeedResult, seed
from corpactions.models import CorporateAction, PayoutLine, PayoutPlan
from snapshots.parse import owners_as_base58
from snapshots.take import load_holders, take_snapshot
from tests.chainkit import ROOT
from tests.operatorkit import approve_payout
from tests.payflow import configure, register_aapl, usdc_balances

UNIT = 10**8


def _split(
    localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **record: Any
) -> tuple[SeedResult, int, dict[str, int]]:
    seeded = asyncio.run(
        seed(rpc_url=localnet_url, keys_dir=tmp_path / "keys", holders=6, realistic=False)
    )
    configure(monkeypatch, localnet_url, seeded)
    item = {
        "reference": "SPLIT-1",
        "symbol": "AAPL",
        "kind": "forward_split",
        "status": "COMP",
        "record_date": "2026-11-10",
        "effective_date": "2026-11-12",
        **record,
    }
    with db.session_scope() as session:
        instrument = register_aapl(session, seeded)
        ingest(parse_json(orjson.dumps([item])), session=session)
        action = session.exec(select(CorporateAction)).one()
        snapshot = take_snapshot(session=session, instrument=instrument, action=action).snapshot
        holders = owners_as_base58(load_holders(snapshot))  # the issuer's inventory splits too
        held = dict(zip(holders["owner"].to_list(), holders["amount"].to_list(), strict=True))
        return seeded, action.id or 0, held


def _approve_and_pay(plan: PayoutPlan) -> PayoutPlan:
    with db.session_scope() as session:
        approve_payout(session, plan.id or 0, "bob")
    execute_plan(plan.id or 0, session_factory=db.session_scope)
    with db.session_scope() as session:
        done = session.get(PayoutPlan, plan.id)
        assert done is not None
        return done


def _stock_balances(url: str, seeded: SeedResult, owners: list[str]) -> dict[str, int]:
    async def read() -> dict[str, int]:
        mint = Pubkey.from_string(seeded.stock_mint)
        async with Rpc(url) as rpc:
            found = await rpc.accounts(
                [tokens.associated_token_address(Pubkey.from_string(o), mint) for o in owners]
            )
        return {
            o: layout.decode_token_account(bytes(a.data)).amount if a else 0
            for o, a in zip(owners, found, strict=True)
        }

    return asyncio.run(read())


def _supply(url: str, seeded: SeedResult) -> int:
    async def read() -> int:
        async with Rpc(url) as rpc:
            return (await rpc.token_supply(Pubkey.from_string(seeded.stock_mint)))[0]

    return asyncio.run(read())


def _plans(action_id: int) -> Any:
    with db.session_scope() as session:
        return compute_split_plans(session=session, action_id=action_id, maker="alice")


def test_a_two_for_one_split_mints_each_holder_its_balance_again(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded, action_id, held = _split(
        localnet_url, tmp_path, monkeypatch, ratio_new="2", ratio_old="1"
    )
    supply = _supply(localnet_url, seeded)
    plans = _plans(action_id)
    assert plans.cash is None
    done = _approve_and_pay(plans.stock)
    assert done.status == "attested"
    assert done.reconciliation["split_check"]["matches"] is True
    assert _stock_balances(localnet_url, seeded, list(held)) == {o: 2 * a for o, a in held.items()}
    assert _supply(localnet_url, seeded) == supply + sum(held.values())


def test_a_three_for_two_split_pays_the_fractions_in_usdc_at_the_given_price(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded, action_id, held = _split(
        localnet_url,
        tmp_path,
        monkeypatch,
        ratio_new="3",
        ratio_old="2",
        fraction_disposition="CINL",
        cash_in_lieu_price="187.37",
    )
    expected_minted, expected_cash = {}, {}
    for owner, amount in held.items():  # independent: exact fractions, whole shares minted
        extra = Fraction(amount) * Fraction(3, 2) - amount
        whole = int(extra // UNIT) * UNIT
        expected_minted[owner] = whole
        expected_cash[owner] = int((extra - whole) / UNIT * Fraction("187.37") * 10**6)
    plans = _plans(action_id)
    assert plans.cash is not None
    stock = _approve_and_pay(plans.stock)
    cash = _approve_and_pay(plans.cash)
    assert stock.reconciliation["split_check"]["matches"] is True
    assert cash.status == "attested"
    owners = list(held)
    assert _stock_balances(localnet_url, seeded, owners) == {
        o: held[o] + expected_minted[o] for o in owners
    }
    paid_usdc = usdc_balances(localnet_url, seeded.usdc_mint, owners)
    assert {o: v for o, v in paid_usdc.items() if v} == {
        o: v for o, v in expected_cash.items() if v
    }


def test_a_five_percent_stock_dividend_mints_each_holder_a_twentieth_more_exactly_once(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded, action_id, held = _split(
        localnet_url,
        tmp_path,
        monkeypatch,
        kind="stock_dividend",
        ratio_new="105",
        ratio_old="100",
        fraction_disposition="CINL",
        cash_in_lieu_price="20.00",
    )
    expected_minted, expected_cash = {}, {}
    for owner, amount in held.items():  # independent: exact fractions, whole shares minted
        extra = Fraction(amount) / 20
        whole = int(extra // UNIT) * UNIT
        expected_minted[owner] = whole
        expected_cash[owner] = int((extra - whole) / UNIT * 20 * 10**6)
    supply = _supply(localnet_url, seeded)
    plans = _plans(action_id)
    assert plans.stock.kind == "stock_dividend" and plans.stock.asset == "stock"
    assert plans.cash is not None and plans.cash.kind == "cash_in_lieu"
    stock = _approve_and_pay(plans.stock)
    _approve_and_pay(plans.cash)
    assert stock.reconciliation["split_check"]["matches"] is True
    owners = list(held)
    assert _stock_balances(localnet_url, seeded, owners) == {
        o: held[o] + expected_minted[o] for o in owners
    }
    assert _supply(localnet_url, seeded) == supply + sum(expected_minted.values())
    paid_usdc = usdc_balances(localnet_url, seeded.usdc_mint, owners)
    assert {o: v for o, v in paid_usdc.items() if v} == {
        o: v for o, v in expected_cash.items() if v
    }


def test_a_stock_dividend_that_adds_no_shares_is_quarantined_with_the_reason(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded = asyncio.run(
        seed(rpc_url=localnet_url, keys_dir=tmp_path / "keys", holders=2, realistic=False)
    )
    configure(monkeypatch, localnet_url, seeded)
    item = {
        "reference": "SD-1",
        "symbol": "AAPL",
        "kind": "stock_dividend",
        "record_date": "2026-11-10",
        "ratio_new": "100",
        "ratio_old": "105",
    }
    with db.session_scope() as session:
        register_aapl(session, seeded)
        report = ingest(parse_json(orjson.dumps([item])), session=session)
    assert report.quarantined == 1
    assert "stock dividend needs more shares held after than before" in report.reasons[0]


def test_round_down_forfeits_the_fractions(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, action_id, held = _split(
        localnet_url,
        tmp_path,
        monkeypatch,
        ratio_new="3",
        ratio_old="2",
        fraction_disposition="RDDN",
    )
    plans = _plans(action_id)
    assert plans.cash is None
    with db.session_scope() as session:
        lines = session.exec(select(PayoutLine).where(PayoutLine.plan_id == plans.stock.id)).all()
    assert all(line.amount_due % UNIT == 0 for line in lines)
    assert {line.owner: line.amount_due for line in lines} == {
        o: int((Fraction(a) / 2) // UNIT) * UNIT for o, a in held.items() if a // 2 >= UNIT
    }


def test_a_reverse_split_of_a_classic_mint_is_refused_with_the_reason(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, action_id, _ = _split(
        localnet_url, tmp_path, monkeypatch, kind="reverse_split", ratio_new="1", ratio_old="10"
    )
    with pytest.raises(PlanError, match="cannot be burned"):
        _plans(action_id)


def test_a_crash_during_a_mint_batch_still_mints_every_holder_exactly_once(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded, action_id, held = _split(
        localnet_url, tmp_path, monkeypatch, ratio_new="2", ratio_old="1"
    )
    supply = _supply(localnet_url, seeded)
    plans = _plans(action_id)
    with db.session_scope() as session:
        approve_payout(session, plans.stock.id, "bob")
    command = [sys.executable, "-m", "corpactions.cli", "payouts", "execute", str(plans.stock.id)]
    for point in ("after_persist", "after_send"):  # killed before, then after, the send
        crashed = subprocess.run(
            command,
            cwd=ROOT,
            env={**os.environ, "CORPACTIONS_CRASH_AT": point},
            capture_output=True,
            text=True,
            check=False,
        )
        assert crashed.returncode == -9, crashed.stderr
    finished = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    assert finished.returncode == 0, finished.stderr
    assert _stock_balances(localnet_url, seeded, list(held)) == {o: 2 * a for o, a in held.items()}
    assert _supply(localnet_url, seeded) == supply + sum(held.values())


@pytest.mark.parametrize(
    ("kind", "ratio", "share"),
    [
        ("forward_split", ("2", "1"), Fraction(1)),
        ("stock_dividend", ("105", "100"), Fraction(1, 20)),
    ],
)
def test_the_scheduler_computes_a_classic_split_or_stock_dividend_as_mint_plans(
    pg_ledger: str,
    localnet_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    ratio: tuple[str, str],
    share: Fraction,
) -> None:
    from corpactions.payouts.due import compute_due_plans

    _, _, held = _split(
        localnet_url, tmp_path, monkeypatch, kind=kind, ratio_new=ratio[0], ratio_old=ratio[1]
    )
    [plan_id] = compute_due_plans(session_factory=db.session_scope)["computed"]
    assert compute_due_plans(session_factory=db.session_scope)["computed"] == []
    with db.session_scope() as session:
        plan = session.get(PayoutPlan, plan_id)
        assert plan is not None
        label = "split" if kind == "forward_split" else kind
        assert (plan.kind, plan.asset, plan.created_by) == (label, "stock", "scheduler")
        assert plan.sent_total == sum(int(Fraction(a) * share) for a in held.values())


def test_the_api_shows_a_splits_plans_and_the_chain_re_read(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.testclient import TestClient

    from corpactions.api.app import create_app

    _, action_id, _ = _split(localnet_url, tmp_path, monkeypatch, ratio_new="2", ratio_old="1")
    _approve_and_pay(_plans(action_id).stock)
    with TestClient(create_app()) as client:
        [plan] = client.get(f"/v1/actions/{action_id}").json()["plans"]
    assert (plan["kind"], plan["asset"], plan["status"]) == ("split", "stock", "attested")
    assert plan["chain_check"]["split_check"]["matches"] is True


def test_an_escrowed_mint_line_never_becomes_usdc_owed(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Frozen holders' new tokens are escrowed in stock units; releasing escrow (which turns
    USDC lines into carried USDC) must not touch them."""
    from corpactions.execution.release import release_escrow
    from corpactions.payouts.plan import _carried_in

    _, action_id, _ = _split(localnet_url, tmp_path, monkeypatch, ratio_new="2", ratio_old="1")
    plans = _plans(action_id)
    with db.session_scope() as session:
        approve_payout(session, plans.stock.id, "bob")
    with db.session_scope() as session:  # a holder whose stock account is frozen no more
        line = session.exec(select(PayoutLine).where(PayoutLine.plan_id == plans.stock.id)).first()
        assert line is not None
        line.status = "escrowed"
        line.status_reason = "stock tokens frozen at the record date"
        session.add(line)
    assert asyncio.run(release_escrow(session_factory=db.session_scope))["released"] == []
    with db.session_scope() as session:
        assert _carried_in(session).height == 0


def test_the_holder_page_after_a_split_shows_shares_received_not_usdc(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In Chromium: the minted line counts AAPL shares (8 decimals), the USDC totals leave it
    out, and a 'shares received' section carries the cost-basis note (a screenshot is kept)."""
    from playwright.sync_api import sync_playwright

    from corpactions.api.app import create_app
    from tests.apikit import CHROMIUM, CHROMIUM_ARGS, served

    _, action_id, _ = _split(localnet_url, tmp_path, monkeypatch, ratio_new="2", ratio_old="1")
    done = _approve_and_pay(_plans(action_id).stock)
    with db.session_scope() as session:
        line = session.exec(
            select(PayoutLine).where(PayoutLine.plan_id == done.id, PayoutLine.status == "paid")
        ).first()
        assert line is not None
    minted = f"{line.amount_due // UNIT}.{line.amount_due % UNIT:08d}"
    shot = tmp_path / "holder-after-split.png"
    with served(create_app()) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"{url}/?wallet={line.owner}")
            page.wait_for_selector("#payouts tbody tr", timeout=15_000)
            cells = page.locator("#payouts tbody tr").first.locator("td").all_inner_texts()
            assert cells[2] == "forward split (shares)"
            assert cells[5] == f"{minted} AAPL shares"
            assert cells[7] == f"{minted} AAPL shares"
            assert "USDC" not in " ".join(cells)
            assert page.is_hidden("#totals-section")  # no USDC was paid to this wallet
            shares = page.locator("#shares tbody tr").first.locator("td").all_inner_texts()
            assert shares[2:4] == ["forward split (shares)", f"{minted} AAPL shares"]
            assert "a split changes share count, not cost" in page.inner_text("#shares-section")
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000


def test_the_api_counts_split_shares_apart_from_usdc_with_asset_and_unit(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.testclient import TestClient

    from corpactions.api.app import create_app

    _, action_id, _ = _split(
        localnet_url,
        tmp_path,
        monkeypatch,
        ratio_new="3",
        ratio_old="2",
        fraction_disposition="CINL",
        cash_in_lieu_price="187.37",
    )
    plans = _plans(action_id)
    assert plans.cash is not None
    _approve_and_pay(plans.stock)
    _approve_and_pay(plans.cash)
    with db.session_scope() as session:
        minted_to = set(
            session.exec(select(PayoutLine.owner).where(PayoutLine.plan_id == plans.stock.id))
        )
        cash_owner = session.exec(
            select(PayoutLine.owner).where(
                PayoutLine.plan_id == plans.cash.id, col(PayoutLine.owner).in_(minted_to)
            )
        ).first()
    assert cash_owner is not None  # a holder given both new shares and cash for a fraction
    with TestClient(create_app()) as client:
        items = client.get(f"/v1/holders/{cash_owner}/payouts").json()["items"]
        summary = client.get(f"/v1/holders/{cash_owner}/summary").json()
        csv = client.get(f"/v1/holders/{cash_owner}/summary?format=csv").text
    by_kind = {item["kind"]: item for item in items}
    stock, cash = by_kind["split"], by_kind["cash_in_lieu"]
    assert (stock["gross"]["asset"], stock["gross"]["unit"]) == ("AAPL", "shares")
    assert (cash["gross"]["asset"], cash["gross"]["unit"]) == ("USDC", "USDC")
    assert cash["kind_label"] == "cash in lieu"
    assert cash["rate_meaning"].startswith("USD price per share")
    assert len(stock["gross"]["display"].split(".")[1]) == 8  # the stock's decimals, not USDC's
    [usdc_row] = summary["rows"]
    assert usdc_row["gross"]["base_units"] == cash["gross"]["base_units"]  # no shares mixed in
    [received] = summary["shares_received"]
    assert received["shares"]["base_units"] == stock["amount_due"]["base_units"]
    assert received["shares"]["unit"] == "shares"
    assert summary["shares_note"] == "a split changes share count, not cost"
    assert csv.splitlines()[1].split(",")[-1] == "USDC"
    assert stock["gross"]["base_units"] not in csv


def test_an_attested_split_is_not_planned_again_and_leftover_drafts_are_closed(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Re-running 'adjust split' on an attested split is refused in one line; a draft left from
    an earlier build (made while the action was still open) is closed by the scheduler's scan
    and never listed by 'status' as awaiting approval."""
    from corpactions.models import ActionStatus
    from corpactions.payouts.due import compute_due_plans
    from corpactions.status import overview

    _, action_id, _ = _split(localnet_url, tmp_path, monkeypatch, ratio_new="2", ratio_old="1")
    _approve_and_pay(_plans(action_id).stock)
    with pytest.raises(PlanError, match=f"action {action_id} is attested; nothing can be planned"):
        _plans(action_id)
    with db.session_scope() as session:  # the ledger of an earlier build: a draft made anyway
        action = session.get(CorporateAction, action_id)
        assert action is not None and action.status == ActionStatus.attested
        action.status = ActionStatus.planned
        session.add(action)
    leftover = _plans(action_id).stock
    with db.session_scope() as session:
        action = session.get(CorporateAction, action_id)
        assert action is not None
        action.status = ActionStatus.attested
        session.add(action)
    with db.session_scope() as session:
        assert overview(session)["plans_awaiting_approval"] == []
    assert compute_due_plans(session_factory=db.session_scope)["closed"] == [leftover.id]
    with db.session_scope() as session:
        closed = session.get(PayoutPlan, leftover.id)
        assert closed is not None and closed.status == "stale"
        assert closed.stale_reason == f"action {action_id} is attested; this plan can never be paid"


def test_adjust_split_on_an_attested_action_prints_one_line(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, action_id, _ = _split(localnet_url, tmp_path, monkeypatch, ratio_new="2", ratio_old="1")
    _approve_and_pay(_plans(action_id).stock)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "corpactions.cli",
            "adjust",
            "split",
            str(action_id),
            "--maker",
            "al",
        ],
        capture_output=True,
        check=False,
        text=True,
        env=os.environ.copy(),
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode != 0
    assert done.stdout == ""
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f"error: action {action_id} is attested; nothing can be planned")


def test_payouts_show_counts_a_splits_mint_in_shares_with_whole_wallets_at_80_columns(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from corpactions.cli import app as cli

    _, action_id, held = _split(localnet_url, tmp_path, monkeypatch, ratio_new="2", ratio_old="1")
    stock = _plans(action_id).stock
    shown = CliRunner().invoke(cli, ["payouts", "show", str(stock.id)], env={"COLUMNS": "80"})
    assert shown.exit_code == 0, shown.output
    minted = stock.sent_total
    assert f"{minted // UNIT:,}.{minted % UNIT:08d} AAPL shares" in shown.output
    assert "forward split (shares)" in shown.output
    assert "a split changes share count, not cost" in shown.output
    assert "USDC" not in shown.output
    assert f"plan hash:\n    {stock.plan_hash}" in shown.output
    largest = max(held, key=lambda owner: held[owner])
    assert f"  {largest}  pending" in shown.output  # the whole wallet, on its own line
    assert "…" not in shown.output


def test_the_tax_year_report_keeps_shares_received_apart_from_usdc(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from corpactions.reports.payouts import tax_year

    _, action_id, _ = _split(
        localnet_url,
        tmp_path,
        monkeypatch,
        ratio_new="3",
        ratio_old="2",
        fraction_disposition="CINL",
        cash_in_lieu_price="187.37",
    )
    plans = _plans(action_id)
    assert plans.cash is not None
    _approve_and_pay(plans.stock)
    _approve_and_pay(plans.cash)
    with db.session_scope() as session:
        cash, shares = tax_year(session, 2026)
        minted = {
            line.owner: line.amount_due
            for line in session.exec(select(PayoutLine).where(PayoutLine.plan_id == plans.stock.id))
        }
    assert int(cash["gross_base_units"].cast(int).sum()) == plans.cash.gross_pool
    assert set(cash["asset"]) == {"USDC"}
    assert {
        row["wallet"]: int(row["shares_received_base_units"])
        for row in shares.iter_rows(named=True)
    } == minted
    assert set(shares["unit"]) == {"shares"}
    assert set(shares["cost_basis_note"]) == {"a split changes share count, not cost"}


def test_payouts_execute_reports_a_mint_in_shares(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from corpactions.cli import app as cli

    _, action_id, _ = _split(localnet_url, tmp_path, monkeypatch, ratio_new="2", ratio_old="1")
    stock = _plans(action_id).stock
    with db.session_scope() as session:
        approve_payout(session, stock.id or 0, "bob", plan_hash=stock.plan_hash)
    ran = CliRunner().invoke(cli, ["payouts", "execute", str(stock.id), "--force"])
    assert ran.exit_code == 0, ran.output
    minted = stock.sent_total
    assert f"lines paid ({minted // UNIT:,}.{minted % UNIT:08d} AAPL shares)" in ran.output
    assert "base units" not in ran.output

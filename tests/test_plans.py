"""Payout plans: withholding, minimums, carried balances, escrow, reconciliation, plan hash."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import orjson
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import select
from typer.testing import CliRunner

from corpactions import db
from corpactions.cli import app
from corpactions.config import Settings, get_settings
from corpactions.errors import PlanError
from corpactions.feeds.ingest import ingest
from corpactions.feeds.ownformat import parse_csv
from corpactions.instruments import add_instrument
from corpactions.localnet.seed import SeedResult, seed
from corpactions.models import (
    CorporateAction,
    Instrument,
    PayoutLine,
    PayoutPlan,
    PlanStatus,
    TokenProgram,
)
from corpactions.payouts.plan import build_lines, compute_plan, load_lines, verify_hash
from snapshots.take import take_snapshot
from tests.feed_corpus import csv_rows, own
from tests.walletkit import set_wallet

runner = CliRunner()
NO_WALLETS = pl.DataFrame(
    schema={
        "owner": pl.String,
        "blocked": pl.Boolean,
        "blocked_reason": pl.String,
        "wallet_class": pl.String,
    }
)
NO_CARRY = pl.DataFrame(schema={"owner": pl.String, "carried_in": pl.Int64})


def _settings(**overrides: object) -> Settings:
    return Settings(_env_file=None, **overrides)  # type: ignore[arg-type]


def _holders(rows: list[tuple[str, int, bool, bool]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "owner": pl.String,
            "amount": pl.UInt64,
            "frozen": pl.Boolean,
            "excluded": pl.Boolean,
        },
        orient="row",
    )


def test_withholding_follows_the_wallet_tax_class_and_rounds_half_up() -> None:
    holders = _holders(
        [("a", 10**8, False, False), ("b", 10**8, False, False), ("c", 10**8, False, False)]
    )
    wallets = pl.DataFrame(
        [("b", False, None, "us_person"), ("c", False, None, "treaty_15")],
        schema=NO_WALLETS.schema,
        orient="row",
    )
    lines = build_lines(
        holders,
        rate=Decimal("0.123457"),
        token_decimals=8,
        settings=_settings(minimum_payout=0),
        wallets=wallets,
        carried=NO_CARRY,
    )
    by_owner = {r["owner"]: r for r in lines.iter_rows(named=True)}
    assert by_owner["a"]["gross"] == 123457
    assert by_owner["a"]["withholding"] == 37037  # 30 % of 123457 = 37037.1
    assert by_owner["b"]["withholding"] == 0
    assert by_owner["c"]["withholding"] == 18519  # 15 % of 123457 = 18518.55, half up
    assert all(r["net"] == r["gross"] - r["withholding"] for r in by_owner.values())


def test_lines_below_the_minimum_are_carried_and_carried_balances_are_added() -> None:
    holders = _holders(
        [
            ("small", 10**6, False, False),
            ("big", 10**10, False, False),
            ("returning", 10**6, False, False),
        ]
    )
    carried = pl.DataFrame([("returning", 95_000)], schema=NO_CARRY.schema, orient="row")
    lines = build_lines(
        holders,
        rate=Decimal("0.5"),
        token_decimals=8,
        settings=_settings(tax_rates={"undocumented": Decimal(0)}),
        wallets=NO_WALLETS,
        carried=carried,
    )
    status = {
        r["owner"]: (r["status"], r["amount_due"], r["carried_in"])
        for r in lines.iter_rows(named=True)
    }
    assert status["small"] == ("carried", 5_000, 0)  # $0.005 < $0.10 minimum
    assert status["returning"] == ("pending", 100_000, 95_000)  # 5,000 + 95,000 reaches the minimum
    assert status["big"][0] == "pending"


def test_a_carried_balance_is_paid_to_a_holder_who_has_since_sold_every_share() -> None:
    holders = _holders([("still-holding", 10**10, False, False)])
    carried = pl.DataFrame([("sold-out", 150_000)], schema=NO_CARRY.schema, orient="row")
    lines = build_lines(
        holders,
        rate=Decimal("0.5"),
        token_decimals=8,
        settings=_settings(tax_rates={"undocumented": Decimal(0)}),
        wallets=NO_WALLETS,
        carried=carried,
    )
    sold = lines.filter(pl.col("owner") == "sold-out").row(0, named=True)
    assert (sold["shares"], sold["gross"], sold["carried_in"], sold["amount_due"]) == (
        0,
        0,
        150_000,
        150_000,
    )
    assert sold["status"] == "pending"


def test_blocked_and_frozen_holders_are_escrowed_and_excluded_wallets_get_nothing() -> None:
    holders = _holders(
        [
            ("blocked", 10**9, False, False),
            ("frozen", 10**9, True, False),
            ("issuer", 10**12, False, True),
            ("ok", 10**9, False, False),
        ]
    )
    wallets = pl.DataFrame(
        [("blocked", True, "sanctions list", None)], schema=NO_WALLETS.schema, orient="row"
    )
    lines = build_lines(
        holders,
        rate=Decimal("1"),
        token_decimals=8,
        settings=_settings(),
        wallets=wallets,
        carried=NO_CARRY,
    )
    status = {r["owner"]: (r["status"], r["status_reason"]) for r in lines.iter_rows(named=True)}
    assert status["blocked"] == ("escrowed", "wallet blocked: sanctions list")
    assert status["frozen"][0] == "escrowed"
    assert status["ok"] == ("pending", None)
    assert "issuer" not in status
    assert int(lines["gross"].sum()) == 30 * 10**6  # the issuer's share stays out of the pool
    paid_frozen = build_lines(
        holders,
        rate=Decimal("1"),
        token_decimals=8,
        settings=_settings(frozen_policy="pay"),
        wallets=wallets,
        carried=NO_CARRY,
    )
    assert dict(paid_frozen.select("owner", "status").iter_rows())["frozen"] == "pending"


def test_an_unknown_tax_class_is_refused() -> None:
    wallets = pl.DataFrame([("a", False, None, "martian")], schema=NO_WALLETS.schema, orient="row")
    with pytest.raises(PlanError, match="martian"):
        build_lines(
            _holders([("a", 1, False, False)]),
            rate=Decimal(1),
            token_decimals=0,
            settings=_settings(),
            wallets=wallets,
            carried=NO_CARRY,
        )


@settings(max_examples=80, deadline=None)
@given(
    amounts=st.lists(st.integers(1, 10**13), min_size=0, max_size=30),
    classes=st.lists(st.sampled_from([None, "us_person", "treaty_15"]), min_size=30, max_size=30),
    flags=st.lists(
        st.sampled_from(["none", "blocked", "frozen", "excluded"]), min_size=30, max_size=30
    ),
    carried=st.lists(st.integers(0, 200_000), min_size=30, max_size=30),
    rate=st.decimals(min_value=0, max_value=50, places=6, allow_nan=False, allow_infinity=False),
    minimum=st.integers(0, 500_000),
)
def test_every_plan_reconciles(
    amounts: list[int],
    classes: list[str | None],
    flags: list[str],
    carried: list[int],
    rate: Decimal,
    minimum: int,
) -> None:
    owners = [f"owner{i:02d}" for i in range(len(amounts))]
    holders = _holders(
        [
            (o, a, flags[i] == "frozen", flags[i] == "excluded")
            for i, (o, a) in enumerate(zip(owners, amounts, strict=True))
        ]
    )
    wallets = pl.DataFrame(
        [
            (o, flags[i] == "blocked", "test" if flags[i] == "blocked" else None, classes[i])
            for i, o in enumerate(owners)
        ],
        schema=NO_WALLETS.schema,
        orient="row",
    )
    carry = pl.DataFrame(
        [(o, carried[i]) for i, o in enumerate(owners) if carried[i]],
        schema=NO_CARRY.schema,
        orient="row",
    )
    lines = build_lines(
        holders,
        rate=rate,
        token_decimals=8,
        settings=_settings(minimum_payout=minimum),
        wallets=wallets,
        carried=carry,
    )
    total = lambda status: int(lines.filter(pl.col("status") == status)["amount_due"].sum() or 0)  # noqa: E731
    withheld = int(lines["withholding"].sum() or 0)
    gross = int(lines["gross"].sum() or 0)
    carried_in = int(lines["carried_in"].sum() or 0)
    assert total("pending") + total("carried") + total("escrowed") + withheld == gross + carried_in
    assert (lines.filter(pl.col("status") == "pending")["amount_due"] >= minimum).all()
    assert (lines["withholding"] >= 0).all() and (lines["withholding"] <= lines["gross"]).all()
    for tax_class in ("undocumented", "us_person", "treaty_15"):
        part = lines.filter(pl.col("tax_class") == tax_class)
        assert int(part["gross"].sum() or 0) == int(part["withholding"].sum() or 0) + int(
            part["net"].sum() or 0
        )


# ----- end to end through PostgreSQL and the local chain -----------------------------------------


@pytest.fixture(scope="module")
def world(localnet_url: str, tmp_path_factory: pytest.TempPathFactory) -> SeedResult:
    return asyncio.run(
        seed(
            rpc_url=localnet_url,
            keys_dir=tmp_path_factory.mktemp("plans"),
            holders=60,
            program="token",
        )
    )


@pytest.fixture
def planned(
    pg_ledger: str, localnet_url: str, world: SeedResult, monkeypatch: pytest.MonkeyPatch
) -> int:
    monkeypatch.setenv("CORPACTIONS_RPC_URL", localnet_url)
    get_settings.cache_clear()
    with db.session_scope() as session:
        instrument = add_instrument(
            session=session,
            symbol="AAPL",
            mint=world.stock_mint,
            token_program=TokenProgram.token,
            decimals=8,
            issuer_wallet=world.issuer_wallet,
        )
        ingest(parse_csv(csv_rows(own(gross_rate="0.2475"))), session=session)
    set_wallet(world.zero_balance_owners[0], blocked=True, reason="test")
    with db.session_scope() as session:
        action = session.exec(select(CorporateAction)).one()
        instrument = session.get(Instrument, action.instrument_id)
        assert instrument is not None
        take_snapshot(session=session, instrument=instrument, action=action)
        return action.id or 0


def test_compute_show_export_round_trip_through_postgresql(
    planned: int, world: SeedResult, tmp_path: Path
) -> None:
    computed = runner.invoke(
        app, ["payouts", "compute", str(planned), "--maker", "alice", "--json"]
    )
    assert computed.exit_code == 0, computed.output
    summary = orjson.loads(computed.stdout)
    rec = summary["reconciliation"]
    assert rec["sent + carried + escrowed + withheld"] == rec["gross pool + carried in"]
    assert int(summary["funded_amount"]) == int(summary["gross_pool"]) + int(
        summary["undistributed"]
    )
    with db.session_scope() as session:
        plan = session.get(PayoutPlan, summary["id"])
        assert plan is not None and plan.status == PlanStatus.draft and plan.created_by == "alice"
        assert verify_hash(session, plan) == plan.plan_hash  # recomputed from the stored rows
        lines = session.exec(select(PayoutLine).where(PayoutLine.plan_id == plan.id)).all()
        assert world.issuer_wallet not in {line.owner for line in lines}
        assert sum(line.gross for line in lines) == plan.gross_pool
        assert str(session.get(CorporateAction, planned).status) == "planned"  # type: ignore[union-attr]
    shown = orjson.loads(
        runner.invoke(app, ["payouts", "show", str(summary["id"]), "--json"]).stdout
    )
    assert shown["plan_hash"] == summary["plan_hash"] and len(shown["top_lines"]) == 10
    out = tmp_path / "plan.csv"
    exported = runner.invoke(
        app, ["payouts", "export", str(summary["id"]), "--format", "csv", "--out", str(out)]
    )
    assert exported.exit_code == 0, exported.output
    table = pl.read_csv(out)
    assert table.height == summary["line_count"] and {
        "owner",
        "gross",
        "withholding",
        "net",
        "status",
        "signature",
    } <= set(table.columns)
    parquet = runner.invoke(app, ["payouts", "export", str(summary["id"]), "--format", "parquet"])
    assert parquet.exit_code == 0 and parquet.stdout_bytes[:4] == b"PAR1"
    bad = runner.invoke(app, ["payouts", "export", str(summary["id"]), "--format", "xml"])
    assert bad.exit_code == 2 and "csv or parquet" in bad.output


def test_computing_again_makes_the_older_draft_stale(planned: int) -> None:
    with db.session_scope() as session:
        first = compute_plan(session=session, action_id=planned, maker="alice").plan
        second = compute_plan(session=session, action_id=planned, maker="alice").plan
        # same inputs and lines, yet another root: every leaf names its plan, so an approval
        # of one plan can never be taken for another
        assert first.plan_hash != second.plan_hash
        first_lines = load_lines(session, first.id or 0).drop("signature", "slot")
        second_lines = load_lines(session, second.id or 0).drop("signature", "slot")
        assert first_lines.equals(second_lines)
        assert first.status == PlanStatus.stale and second.status == PlanStatus.draft


def test_a_plan_needs_a_snapshot_and_a_cash_dividend(pg_ledger: str) -> None:
    with db.session_scope() as session:
        add_instrument(
            session=session, symbol="AAPL", mint="So11111111111111111111111111111111111111112"
        )
        ingest(
            parse_csv(
                csv_rows(
                    own(),
                    own(
                        reference="S",
                        kind="forward_split",
                        ratio_new="2",
                        ratio_old="1",
                        gross_rate="",
                        currency="",
                        ex_date="",  # a 2:1 split's ex-date follows its payable date
                        pay_date="",
                        effective_date="2026-12-01",
                    ),
                )
            ),
            session=session,
        )
        dividend, split = session.exec(select(CorporateAction).order_by(CorporateAction.id)).all()
        with pytest.raises(PlanError, match="no current snapshot"):
            compute_plan(session=session, action_id=dividend.id or 0, maker="m")
        with pytest.raises(PlanError, match="not a cash dividend"):
            compute_plan(session=session, action_id=split.id or 0, maker="m")
    missing = runner.invoke(app, ["payouts", "compute", "999"])
    assert missing.exit_code == 2 and "no corporate action 999" in missing.output


def test_only_carries_of_approved_plans_are_owed(planned: int) -> None:
    with db.session_scope() as session:
        first = compute_plan(session=session, action_id=planned, maker="alice").plan
        carried = session.exec(
            select(PayoutLine).where(PayoutLine.plan_id == first.id, PayoutLine.status == "carried")
        ).all()
        assert carried, "the seeded holder set has balances below the minimum"
        first.status = PlanStatus.approved
        session.add(first)
        session.flush()
        second = compute_plan(session=session, action_id=planned, maker="alice").plan
        assert second.carried_in_total == sum(line.amount_due for line in carried)

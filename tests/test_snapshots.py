"""Holder snapshots against the local chain: complete, exact, provable."""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from sqlmodel import Session, select
from typer.testing import CliRunner

from corpactions import db
from corpactions.chain import layout, tokens
from corpactions.chain.keys import load_keypair
from corpactions.chain.rpc import Rpc
from corpactions.cli import app
from corpactions.config import get_settings
from corpactions.errors import AlreadyExists, SnapshotError
from corpactions.instruments import add_instrument
from corpactions.localnet.seed import SeedResult, seed
from corpactions.models import (
    ActionKind,
    ActionStatus,
    CorporateAction,
    CorporateActionVersion,
    Instrument,
    Snapshot,
    TokenProgram,
)
from snapshots.parse import owners_as_base58
from snapshots.take import due_actions, load_holders, take_due_snapshots, take_snapshot
from tests.chainkit import send

runner = CliRunner()


def _seed(url: str, keys: Path, program: str, holders: int = 40) -> SeedResult:
    return asyncio.run(seed(rpc_url=url, keys_dir=keys, holders=holders, program=program))


@pytest.fixture(scope="module")
def classic(localnet_url: str, tmp_path_factory: pytest.TempPathFactory) -> SeedResult:
    return _seed(localnet_url, tmp_path_factory.mktemp("classic"), "token")


@pytest.fixture(scope="module")
def t22(localnet_url: str, tmp_path_factory: pytest.TempPathFactory) -> SeedResult:
    return _seed(localnet_url, tmp_path_factory.mktemp("t22"), "token2022")


@pytest.fixture
def use_chain(pg_ledger: str, localnet_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("CORPACTIONS_RPC_URL", localnet_url)
    get_settings.cache_clear()
    return pg_ledger


def _register(session: Session, seeded: SeedResult, symbol: str) -> Instrument:
    return add_instrument(
        session=session,
        symbol=symbol,
        mint=seeded.stock_mint,
        token_program=TokenProgram(seeded.program),
        decimals=8,
        issuer_wallet=seeded.issuer_wallet,
    )


async def _golden(url: str, seeded: SeedResult) -> dict[str, tuple[int, bool]]:
    """Per-owner totals computed independently, one getTokenAccountsByOwner call per wallet."""
    wallets = [w for w, _ in orjson.loads((Path(seeded.keys_dir) / "holders.json").read_bytes())]
    wallets.append(seeded.issuer_wallet)
    out: dict[str, tuple[int, bool]] = {}
    async with Rpc(url) as rpc:
        for wallet in wallets:
            result = await rpc.call_json(
                "getTokenAccountsByOwner",
                [wallet, {"mint": seeded.stock_mint}, {"encoding": "jsonParsed"}],
            )
            infos = [a["account"]["data"]["parsed"]["info"] for a in result["value"]]
            total = sum(int(i["tokenAmount"]["amount"]) for i in infos)
            frozen = any(
                i["state"] == "frozen" and int(i["tokenAmount"]["amount"]) > 0 for i in infos
            )
            if total:
                out[wallet] = (total, frozen)
    return out


@pytest.mark.parametrize("world", ["classic", "t22"])
def test_per_owner_totals_equal_an_independent_computation(
    use_chain: str, localnet_url: str, world: str, request: pytest.FixtureRequest
) -> None:
    seeded: SeedResult = request.getfixturevalue(world)
    with db.session_scope() as session:
        summary = take_snapshot(session=session, instrument=_register(session, seeded, "AAPL"))
    holders = owners_as_base58(summary.holders)
    golden = asyncio.run(_golden(localnet_url, seeded))
    assert {r["owner"]: (r["amount"], r["frozen"]) for r in holders.iter_rows(named=True)} == golden
    assert summary.snapshot.supply == seeded.supply == int(holders["amount"].sum())
    assert sorted(holders.filter(pl.col("accounts") > 1)["owner"].to_list()) == sorted(
        o for o in seeded.multi_account_owners if o not in seeded.zero_balance_owners
    )
    assert not set(seeded.zero_balance_owners) & set(holders["owner"].to_list())
    assert holders.filter(pl.col("excluded"))["owner"].to_list() == [seeded.issuer_wallet]
    assert summary.holders["owner"].dtype == pl.Binary  # the on-chain key; text only at the edge
    assert summary.snapshot.excluded_total == seeded.issuer_inventory
    assert summary.snapshot.account_count == seeded.token_accounts  # other mints never counted


def test_token_2022_snapshot_records_the_multiplier(use_chain: str, t22: SeedResult) -> None:
    with db.session_scope() as session:
        summary = take_snapshot(session=session, instrument=_register(session, t22, "MSFT"))
    assert summary.snapshot.multiplier == "1.0"
    assert summary.snapshot.pending_multiplier is None


def test_a_mint_landing_between_supply_reads_is_retried(
    use_chain: str, localnet_url: str, classic: SeedResult
) -> None:
    authority = load_keypair(Path(classic.keys_dir) / "payout-authority.json")
    mint = Pubkey.from_string(classic.stock_mint)
    issuer_ata = tokens.associated_token_address(Pubkey.from_string(classic.issuer_wallet), mint)
    stages: list[tuple[str, int]] = []

    def stage(name: str, detail: dict[str, Any]) -> None:
        stages.append((name, detail.get("attempt", 0)))
        if name == "accounts-read" and detail["attempt"] == 1:

            async def mint_more() -> None:
                async with Rpc(localnet_url) as rpc:
                    await send(
                        rpc,
                        authority,
                        [tokens.mint_to_checked(mint, issuer_ata, authority.pubkey(), 7, 8)],
                    )

            worker = threading.Thread(target=asyncio.run, args=(mint_more(),))
            worker.start()  # the callback runs inside the snapshot's event loop
            worker.join()

    with db.session_scope() as session:
        summary = take_snapshot(
            session=session, instrument=_register(session, classic, "AAPL"), stage=stage
        )
    assert summary.attempts == 2
    assert ("retry", 1) in stages
    assert summary.snapshot.supply == int(summary.holders["amount"].sum())


def test_balances_that_do_not_sum_to_supply_are_refused_and_nothing_is_stored(
    use_chain: str, localnet_url: str, tmp_path: Path
) -> None:
    async def corrupt_world() -> tuple[str, Pubkey]:
        async with Rpc(localnet_url) as rpc:
            from tests.chainkit import create_mint, funded_keypair, mint_to_owner

            payer = await funded_keypair(rpc)
            mint = await create_mint(rpc, payer, 8)
            ata = await mint_to_owner(rpc, payer, mint, Keypair().pubkey(), 1000, 8)
            account = await rpc.account(ata)
            assert account is not None
            data = bytearray(bytes(account.data))
            data[64:72] = (999).to_bytes(8, "little")  # a balance that no longer matches supply
            await rpc.call_json(
                "localnet_setAccount",
                [
                    str(ata),
                    {
                        "lamports": account.lamports,
                        "owner": str(layout.TOKEN_PROGRAM_ID),
                        "data": base64.b64encode(bytes(data)).decode(),
                    },
                ],
            )
            return str(mint), ata

    mint, _ = asyncio.run(corrupt_world())
    with db.session_scope() as session:
        instrument = add_instrument(session=session, symbol="BAD", mint=mint)
        with pytest.raises(SnapshotError, match="balances sum to 999 but supply is 1000"):
            take_snapshot(session=session, instrument=instrument, out_dir=tmp_path)
    with db.session_scope() as session:
        assert session.exec(select(Snapshot)).all() == []
    assert list(tmp_path.iterdir()) == []


def test_paginated_reads_give_the_same_holders(
    use_chain: str, classic: SeedResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    with db.session_scope() as session:
        plain = take_snapshot(session=session, instrument=_register(session, classic, "AAPL"))
    monkeypatch.setenv("CORPACTIONS_SNAPSHOT_PAGINATION", "always")
    monkeypatch.setenv("CORPACTIONS_SNAPSHOT_PAGE_LIMIT", "25")
    get_settings.cache_clear()
    with db.session_scope() as session:
        instrument = session.exec(select(Instrument)).one()
        paged = take_snapshot(session=session, instrument=instrument)
    assert paged.pages >= 2
    assert paged.holders.equals(plain.holders)


def test_a_refused_get_program_accounts_falls_back_to_pagination_or_says_what_to_change(
    use_chain: str, localnet_url: str, classic: SeedResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refuse(on: bool) -> None:
        async with Rpc(localnet_url) as rpc:
            await rpc.call_json("localnet_setFaults", [{"refuse_program_accounts": on}])

    asyncio.run(refuse(True))
    try:
        with db.session_scope() as session:
            summary = take_snapshot(session=session, instrument=_register(session, classic, "AAPL"))
        assert summary.paginated
        assert summary.snapshot.supply == int(summary.holders["amount"].sum()) > 0
        monkeypatch.setenv("CORPACTIONS_SNAPSHOT_PAGINATION", "never")
        get_settings.cache_clear()
        with db.session_scope() as session, pytest.raises(SnapshotError) as caught:
            take_snapshot(session=session, instrument=session.exec(select(Instrument)).one())
        message = str(caught.value)
        assert "excluded from account secondary indexes" in message
        assert "CORPACTIONS_RPC_URL" in message and "CORPACTIONS_SNAPSHOT_PAGINATION" in message
    finally:
        asyncio.run(refuse(False))


def test_a_tampered_snapshot_file_is_refused(use_chain: str, classic: SeedResult) -> None:
    with db.session_scope() as session:
        summary = take_snapshot(session=session, instrument=_register(session, classic, "AAPL"))
    path = Path(summary.snapshot.path)
    path.write_bytes(path.read_bytes() + b"x")
    with pytest.raises(SnapshotError, match="altered"):
        load_holders(summary.snapshot)


def _action(session: Session, instrument: Instrument, record: date) -> CorporateAction:
    action = CorporateAction(
        instrument_id=instrument.id or 0,
        source="csv",
        source_ref=f"div-{record}",
        kind=ActionKind.cash_dividend,
    )
    session.add(action)
    session.flush()
    session.add(
        CorporateActionVersion(
            action_id=action.id or 0,
            version=1,
            kind=ActionKind.cash_dividend,
            record_date=record,
            payload_sha256="0" * 64,
            raw_payload="{}",
        )
    )
    session.flush()
    return action


def test_a_second_snapshot_for_an_action_must_supersede_explicitly(
    use_chain: str, classic: SeedResult
) -> None:
    with db.session_scope() as session:
        instrument = _register(session, classic, "AAPL")
        action = _action(session, instrument, date(2026, 1, 2))
        first = take_snapshot(session=session, instrument=instrument, action=action).snapshot
        assert action.status == ActionStatus.snapshotted
        with pytest.raises(AlreadyExists, match="--supersede"):
            take_snapshot(session=session, instrument=instrument, action=action)
        second = take_snapshot(
            session=session, instrument=instrument, action=action, supersede=True
        ).snapshot
        assert first.superseded_by == second.id


def test_due_snapshots_follow_the_record_date_cutoff_in_new_york(
    use_chain: str, classic: SeedResult
) -> None:
    record = date(2026, 3, 2)
    with db.session_scope() as session:
        instrument = _register(session, classic, "AAPL")
        action_id = _action(session, instrument, record).id
    cutoff = datetime(2026, 3, 3, 4, 59, 59, tzinfo=UTC)  # 23:59:59 EST
    factory: Callable[[], Any] = db.session_scope
    with db.session_scope() as session:
        assert due_actions(session, cutoff - timedelta(seconds=1)) == []
        assert [a.id for a in due_actions(session, cutoff)] == [action_id]
    assert take_due_snapshots(session_factory=factory, now=cutoff) == {
        "taken": [action_id],
        "failed": [],
    }
    assert take_due_snapshots(session_factory=factory, now=cutoff) == {"taken": [], "failed": []}


def test_cli_take_and_show(use_chain: str, classic: SeedResult) -> None:
    with db.session_scope() as session:
        _register(session, classic, "AAPL")
    taken = runner.invoke(app, ["snapshot", "take", "--mint", "AAPL", "--json"])
    assert taken.exit_code == 0, taken.output
    data = orjson.loads(taken.stdout)

    async def supply_now() -> int:
        async with Rpc(classic.rpc_url) as rpc:
            return (await rpc.token_supply(Pubkey.from_string(classic.stock_mint)))[0]

    assert data["owner_count"] > 0 and data["supply"] == str(asyncio.run(supply_now()))
    shown = runner.invoke(app, ["snapshot", "show", str(data["id"]), "--json", "--top", "3"])
    assert shown.exit_code == 0, shown.output
    top = orjson.loads(shown.stdout)["top_holders"]
    assert len(top) == 3 and int(top[0]["amount"]) >= int(top[1]["amount"])
    human = runner.invoke(app, ["snapshot", "show", str(data["id"]), "--top", "3"])
    held = int(top[0]["amount"])
    assert f"    holds {held // 10**8:,}.{held % 10**8:08d} AAPL shares" in human.output
    assert f"  {top[0]['owner']}\n" in human.output  # the whole wallet, on its own line
    both = runner.invoke(app, ["snapshot", "take", "--mint", "AAPL", "--action", "1"])
    assert both.exit_code == 2 and "exactly one" in both.output
    missing = runner.invoke(app, ["snapshot", "show", "999"])
    assert missing.exit_code == 2 and "no snapshot 999" in missing.output


def test_the_due_snapshot_task_runs_the_domain_function(
    use_chain: str, classic: SeedResult
) -> None:
    from tasks.snapshots import take_due

    with db.session_scope() as session:
        instrument = _register(session, classic, "AAPL")
        action_id = _action(session, instrument, date(2020, 1, 2)).id
    result = take_due.apply().get()
    assert result == {"taken": [action_id], "failed": []}
    assert take_due.apply().get() == {"taken": [], "failed": []}

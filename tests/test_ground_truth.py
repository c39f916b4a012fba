"""Every on-chain fact the project relies on, pinned to a source the project did not write.

Program ids and derivations against the maintained libraries (solana-py's ``spl``, solders);
instruction bytes against spl's builders; account layouts against spl's construct layouts and the
real programs' own writes; the payout, split and snapshot paths end to end on a chain set up and
read back by ``tests.independent`` (solana-py only). docs/architecture.md lists each fact with its
source.
"""

from __future__ import annotations

import asyncio
import re
import struct
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from solana.rpc.async_api import AsyncClient
from solders import address_lookup_table_account, compute_budget, system_program
from solders.hash import Hash
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.message import Message
from solders.pubkey import Pubkey
from solders.system_program import CreateAccountParams, create_account
from solders.transaction import Transaction
from spl.memo import constants as memo_constants
from spl.memo.instructions import create_memo
from spl.memo.models import MemoParams
from spl.token import _layouts as spl_layouts
from spl.token import constants as spl_constants
from spl.token import instructions as spl
from spl.token import models as spl_models
from sqlmodel import select

from corpactions import db
from corpactions.chain import layout, tokens
from corpactions.config import Settings, get_settings
from corpactions.corporate.splits import compute_split_plans
from corpactions.execution.protocol import execute_plan
from corpactions.feeds.ingest import ingest
from corpactions.feeds.ownformat import parse_csv, parse_json
from corpactions.instruments import add_instrument
from corpactions.localnet.chain import LAMPORTS_PER_SIGNATURE
from corpactions.models import (
    CorporateAction,
    Instrument,
    PayoutBatch,
    PayoutLine,
    PayoutPlan,
    PlanFunding,
    TokenProgram,
)
from corpactions.payouts.plan import compute_plan
from snapshots.parse import owners_as_base58
from snapshots.take import take_snapshot
from tests.chainkit import ROOT
from tests.feed_corpus import csv_rows, own
from tests.independent import Chain, StockWorld, ata, stock_world
from tests.operatorkit import approve_payout
from tests.payflow import execute_command

keys = st.binary(min_size=32, max_size=32).map(Pubkey.from_bytes)
u64 = st.integers(min_value=0, max_value=2**64 - 1)
u8 = st.integers(min_value=0, max_value=255)

# ----- ids and derivations ----------------------------------------------------------------------


def test_program_ids_are_the_maintained_libraries_ids() -> None:
    assert layout.TOKEN_PROGRAM_ID == spl_constants.TOKEN_PROGRAM_ID
    assert layout.TOKEN_2022_PROGRAM_ID == spl_constants.TOKEN_2022_PROGRAM_ID
    assert layout.ASSOCIATED_TOKEN_PROGRAM_ID == spl_constants.ASSOCIATED_TOKEN_PROGRAM_ID
    assert layout.MEMO_PROGRAM_ID == memo_constants.MEMO_PROGRAM_ID
    assert layout.COMPUTE_BUDGET_PROGRAM_ID == compute_budget.ID
    assert layout.ADDRESS_LOOKUP_TABLE_PROGRAM_ID == address_lookup_table_account.ID
    assert layout.SYSTEM_PROGRAM_ID == system_program.ID


@settings(max_examples=60, deadline=None)
@given(owner=keys, mint=keys, program=st.sampled_from(layout.TOKEN_PROGRAMS))
def test_associated_accounts_are_derived_as_spl_derives_them(
    owner: Pubkey, mint: Pubkey, program: Pubkey
) -> None:
    # solders derives in Rust, spl in Python (find_program_address over the same seeds): two
    # implementations must agree with the project's.
    expected = spl.get_associated_token_address(owner, mint, program)
    assert tokens.associated_token_address(owner, mint, program) == expected
    seeds = [bytes(owner), bytes(program), bytes(mint)]
    assert Pubkey.find_program_address(seeds, spl_constants.ASSOCIATED_TOKEN_PROGRAM_ID)[0] == (
        expected
    )


_BASE58_LITERAL = re.compile(r"""["']([1-9A-HJ-NP-Za-km-z]{32,44})["']""")
# Each id typed in the project's code, with the test that pins it to a second source.
_PINNED = {
    "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v": "test_the_usdc_default_is_circles_mint",
}


def test_no_program_id_or_address_is_typed_by_hand_outside_the_pinned_ones() -> None:
    found: dict[str, list[str]] = {}
    for folder in ("corpactions", "snapshots", "tasks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for literal in _BASE58_LITERAL.findall(path.read_text()):
                try:
                    Pubkey.from_string(literal)
                except ValueError:
                    continue
                found.setdefault(literal, []).append(str(path.relative_to(ROOT)))
    assert set(found) <= set(_PINNED), {k: v for k, v in found.items() if k not in _PINNED}


def test_the_usdc_default_is_circles_mint() -> None:
    # Circle's published USDC contract address for Solana mainnet (developers.circle.com,
    # "USDC contract addresses"), typed here from that page, not from the project's settings.
    circle_solana_mainnet_usdc = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
    assert Settings.model_fields["usdc_mint"].default == circle_solana_mainnet_usdc


# ----- layouts and instruction bytes ------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(mint=keys, owner=keys, amount=u64, state=st.sampled_from([1, 2]))
def test_token_account_offsets_are_spls_layout(
    mint: Pubkey, owner: Pubkey, amount: int, state: int
) -> None:
    data = spl_layouts.ACCOUNT_LAYOUT.build(
        {
            "mint": bytes(mint),
            "owner": bytes(owner),
            "amount": amount,
            "delegate_option": 1,
            "delegate": bytes(32),
            "state": state,
            "is_native_option": 0,
            "is_native": 0,
            "delegated_amount": 7,
            "close_authority_option": 0,
            "close_authority": bytes(32),
        }
    )
    assert len(data) == layout.ACCOUNT_LEN == spl_constants.ACCOUNT_LEN
    decoded = layout.decode_token_account(data)
    assert (decoded.mint, decoded.owner, decoded.amount, decoded.state) == (
        mint,
        owner,
        amount,
        state,
    )
    assert layout.is_token_account(layout.TOKEN_PROGRAM_ID, data)


@settings(max_examples=60, deadline=None)
@given(authority=keys, freeze=st.one_of(st.none(), keys), supply=u64, decimals=u8)
def test_mint_offsets_are_spls_layout(
    authority: Pubkey, freeze: Pubkey | None, supply: int, decimals: int
) -> None:
    data = spl_layouts.MINT_LAYOUT.build(
        {
            "mint_authority_option": 1,
            "mint_authority": bytes(authority),
            "supply": supply,
            "decimals": decimals,
            "is_initialized": 1,
            "freeze_authority_option": 1 if freeze else 0,
            "freeze_authority": bytes(freeze) if freeze else bytes(32),
        }
    )
    assert len(data) == layout.MINT_LEN == spl_constants.MINT_LEN
    decoded = layout.decode_mint(data)
    assert (decoded.mint_authority, decoded.freeze_authority) == (authority, freeze)
    assert (decoded.supply, decoded.decimals, decoded.is_initialized) == (supply, decimals, True)


@settings(max_examples=80, deadline=None)
@given(
    a=keys,
    b=keys,
    c=keys,
    d=keys,
    amount=u64,
    decimals=u8,
    program=st.sampled_from(layout.TOKEN_PROGRAMS),
)
def test_the_hot_path_builders_are_byte_identical_to_spls(
    a: Pubkey, b: Pubkey, c: Pubkey, d: Pubkey, amount: int, decimals: int, program: Pubkey
) -> None:
    assert tokens.transfer_checked(a, b, c, d, amount, decimals, program) == spl.transfer_checked(
        spl_models.TransferCheckedParams(
            program_id=program, source=a, mint=b, dest=c, owner=d, amount=amount, decimals=decimals
        )
    )
    assert tokens.mint_to_checked(a, b, c, amount, decimals, program) == spl.mint_to_checked(
        spl_models.MintToCheckedParams(
            program_id=program,
            mint=a,
            dest=b,
            mint_authority=c,
            amount=amount,
            decimals=decimals,
        )
    )


def test_a_signed_memo_is_spl_memos_instruction() -> None:
    signer = Keypair().pubkey()
    assert tokens.memo("corpactions plan 1", (signer,)) == create_memo(
        MemoParams(
            program_id=memo_constants.MEMO_PROGRAM_ID,
            signer=signer,
            message=b"corpactions plan 1",
        )
    )


def test_compute_budget_instructions_are_solders() -> None:
    assert tokens.set_compute_unit_limit(200_000) == compute_budget.set_compute_unit_limit(200_000)
    assert tokens.set_compute_unit_price(7) == compute_budget.set_compute_unit_price(7)


# ----- the programs themselves ------------------------------------------------------------------


def test_litesvm_runs_every_program_the_project_uses_at_the_librarys_id() -> None:
    svm = LiteSVM()
    for program in layout.PROGRAMS_USED:
        account = svm.get_account(program)
        assert account is not None and account.executable, str(program)


def test_the_local_chain_serves_every_program_the_project_uses_at_the_librarys_id(
    localnet_url: str,
) -> None:
    async def read() -> dict[str, bool]:
        async with AsyncClient(localnet_url) as client:
            found = (await client.get_multiple_accounts(list(layout.PROGRAMS_USED))).value
        return {
            str(p): bool(a and a.executable)
            for p, a in zip(layout.PROGRAMS_USED, found, strict=True)
        }

    assert all(asyncio.run(read()).values()), asyncio.run(read())


def test_token_2022_writes_the_account_type_and_immutable_owner_numbers_the_project_reads(
    localnet_url: str,
) -> None:
    """The real Token-2022 program, asked by spl's builder for an associated account, writes the
    account-type byte and the ImmutableOwner extension; the project's numbers must be those."""

    async def run() -> bytes:
        async with Chain(localnet_url) as chain:
            payer = await chain.funded()
            mint = await chain.create_mint(
                payer, payer.pubkey(), 2, spl_constants.TOKEN_2022_PROGRAM_ID
            )
            owner = Keypair().pubkey()
            await chain.open_associated(payer, [owner], mint, spl_constants.TOKEN_2022_PROGRAM_ID)
            account = ata(owner, mint, spl_constants.TOKEN_2022_PROGRAM_ID)
            info = (await chain.client.get_account_info(account)).value
            assert info is not None
            return bytes(info.data)

    data = asyncio.run(run())
    assert data[layout.ACCOUNT_TYPE_OFFSET] == layout.ACCOUNT_TYPE_ACCOUNT
    assert layout.is_token_account(layout.TOKEN_2022_PROGRAM_ID, data)
    assert layout.decode_token_account(data).extensions == (layout.EXT_IMMUTABLE_OWNER,)


def test_token_2022_takes_the_scaled_ui_amount_instructions_and_writes_the_layout_we_read(
    localnet_url: str,
) -> None:
    """No Python library builds the ScaledUiAmount instructions; the real program is the judge.
    It must accept Initialize (43/0) before InitializeMint2 and UpdateMultiplier (43/1) from the
    authority only, and write the extension (type 25, 56 bytes: authority, multiplier f64,
    effective timestamp i64, new multiplier f64) where the project reads it."""
    program = spl_constants.TOKEN_2022_PROGRAM_ID

    async def run() -> tuple[bytes, bool]:
        async with Chain(localnet_url) as chain:
            payer = await chain.funded()
            authority = await chain.funded(10**9)
            mint = Keypair()
            space = layout.mint_len_with_scaled_ui_amount()
            rent = (await chain.client.get_minimum_balance_for_rent_exemption(space)).value
            await chain.send(
                payer,
                [
                    create_account(
                        CreateAccountParams(
                            from_pubkey=payer.pubkey(),
                            to_pubkey=mint.pubkey(),
                            lamports=rent,
                            space=space,
                            owner=program,
                        )
                    ),
                    tokens.scaled_ui_amount_initialize(
                        mint.pubkey(), authority.pubkey(), 1.5, program
                    ),
                    spl.initialize_mint2(
                        spl_models.InitializeMint2Params(
                            program_id=program,
                            mint=mint.pubkey(),
                            decimals=6,
                            mint_authority=payer.pubkey(),
                        )
                    ),
                ],
                mint,
            )
            await chain.send(
                payer,
                [
                    tokens.scaled_ui_amount_update(
                        mint.pubkey(), authority.pubkey(), 3.25, 4_000_000_000, program
                    )
                ],
                authority,
            )
            stranger = await chain.funded(10**9)
            try:
                await chain.send(
                    payer,
                    [
                        tokens.scaled_ui_amount_update(
                            mint.pubkey(), stranger.pubkey(), 9.0, 4_000_000_000, program
                        )
                    ],
                    stranger,
                )
                stranger_refused = False
            except Exception:  # solana-py raises its own error types for a refused preflight
                stranger_refused = True
            info = (await chain.client.get_account_info(mint.pubkey())).value
            assert info is not None
            return bytes(info.data), stranger_refused

    data, stranger_refused = asyncio.run(run())
    assert stranger_refused
    assert len(data) == layout.mint_len_with_scaled_ui_amount()
    decoded = layout.decode_mint(data)
    assert decoded.extensions == (layout.EXT_SCALED_UI_AMOUNT,)
    scaled = decoded.scaled_ui_amount
    assert scaled is not None
    assert (scaled.multiplier, scaled.new_multiplier) == (1.5, 3.25)
    assert scaled.new_multiplier_effective_timestamp == 4_000_000_000
    # the TLV header as the program wrote it: type u16, length u16
    assert struct.unpack_from("<HH", data, layout.ACCOUNT_TYPE_OFFSET + 1) == (
        layout.EXT_SCALED_UI_AMOUNT,
        layout.SCALED_UI_AMOUNT_LEN,
    )


# ----- end to end on an independently built chain -----------------------------------------------


def _configure(monkeypatch: pytest.MonkeyPatch, url: str, world: StockWorld) -> None:
    monkeypatch.setenv("CORPACTIONS_RPC_URL", url)
    monkeypatch.setenv("CORPACTIONS_USDC_MINT", str(world.usdc_mint))
    monkeypatch.setenv("CORPACTIONS_KEYPAIR_PATH", str(world.authority_file))
    monkeypatch.setenv("CORPACTIONS_TREASURY_KEYPAIR_PATH", str(world.authority_file))
    monkeypatch.setenv("CORPACTIONS_MINIMUM_PAYOUT", "0")
    monkeypatch.setenv("CORPACTIONS_FROZEN_POLICY", "pay")
    get_settings.cache_clear()


def _register(world: StockWorld) -> None:
    program = (
        TokenProgram.token2022
        if world.stock_program == spl_constants.TOKEN_2022_PROGRAM_ID
        else TokenProgram.token
    )
    with db.session_scope() as session:
        add_instrument(
            session=session,
            symbol="AAPL",
            mint=str(world.stock_mint),
            token_program=program,
            decimals=8,
            issuer_wallet=str(world.issuer.pubkey()),
        )


def _approved_dividend(world: StockWorld) -> int:
    """AAPL registered, a $0.2475 dividend ingested and snapshotted, its plan computed by a
    maker and approved by a checker: the plan id."""
    _register(world)
    with db.session_scope() as session:
        ingest(parse_csv(csv_rows(own(gross_rate="0.2475"))), session=session)
        action = session.exec(select(CorporateAction)).one()
        instrument = session.exec(select(Instrument)).one()
        take_snapshot(session=session, instrument=instrument, action=action)
        plan = compute_plan(session=session, action_id=action.id or 0, maker="maker").plan
        approve_payout(session, plan.id or 0, "checker")
        return plan.id or 0


def _read(url: str, accounts: list[Pubkey]) -> list[int | None]:
    async def read() -> list[int | None]:
        async with Chain(url) as chain:
            await chain.wait_finalized()
            return await chain.balances(accounts)

    return asyncio.run(read())


def _supply(url: str, mint: Pubkey) -> int:
    async def read() -> int:
        async with Chain(url) as chain:
            return await chain.supply(mint)

    return asyncio.run(read())


def test_a_dividend_on_an_independently_built_chain_lands_in_the_accounts_spl_derives(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    amounts = [5 * 10**8, 123_456_789, 10**8, 77 * 10**8, 3, 42 * 10**8, 10**9]
    world = asyncio.run(
        stock_world(
            localnet_url,
            tmp_path,
            amounts,
            usdc_accounts_for=3,
            second_account_for=2,
            issuer_inventory=900 * 10**8,
        )
    )
    _configure(monkeypatch, localnet_url, world)
    plan_id = _approved_dividend(world)
    report = execute_plan(plan_id, session_factory=db.session_scope)
    assert report.status == "attested", report

    with db.session_scope() as session:
        lines = list(session.exec(select(PayoutLine).where(PayoutLine.plan_id == plan_id)))
    totals = world.owners_total()
    owed = {o: int(Decimal(t) * Decimal("0.2475") / 100) for o, t in totals.items()}
    # the issuer's inventory is excluded; a holding worth less than one base unit gets no line
    expected_owners = {o for o, g in owed.items() if g and o != str(world.issuer.pubkey())}
    assert {line.owner for line in lines} == expected_owners
    assert all(line.status == "paid" for line in lines)
    owners = [Pubkey.from_string(line.owner) for line in lines]
    received = _read(localnet_url, [ata(o, world.usdc_mint) for o in owners])
    assert received == [line.amount_due for line in lines]
    # the gross follows the shares as minted (8 decimals, 0.2475 USD per share)
    assert {line.owner: line.gross for line in lines} == {o: owed[o] for o in expected_owners}
    (treasury_now,) = _read(localnet_url, [world.treasury])
    assert treasury_now == world.treasury_usdc - sum(line.amount_due for line in lines)
    assert _read(localnet_url, [ata(world.issuer.pubkey(), world.usdc_mint)]) == [None]


def test_a_split_on_an_independently_built_chain_mints_into_the_accounts_spl_derives(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    amounts = [5 * 10**8, 2 * 10**8, 10**8 + 1, 13 * 10**8]
    world = asyncio.run(
        stock_world(localnet_url, tmp_path, amounts, second_account_for=1, issuer_inventory=10**10)
    )
    _configure(monkeypatch, localnet_url, world)
    _register(world)
    supply = _supply(localnet_url, world.stock_mint)
    record = {
        "reference": "SPLIT-IND",
        "symbol": "AAPL",
        "kind": "forward_split",
        "status": "COMP",
        "record_date": "2026-11-10",
        "effective_date": "2026-11-12",
        "ratio_new": "2",
        "ratio_old": "1",
    }
    with db.session_scope() as session:
        ingest(parse_json(orjson.dumps([record])), session=session)
        action = session.exec(select(CorporateAction)).one()
        instrument = session.get(Instrument, action.instrument_id)
        assert instrument is not None
        take_snapshot(session=session, instrument=instrument, action=action)
        plans = compute_split_plans(session=session, action_id=action.id or 0, maker="alice")
        assert plans.cash is None
        stock_plan = plans.stock
        approve_payout(session, stock_plan.id or 0, "bob")
    execute_plan(stock_plan.id or 0, session_factory=db.session_scope)
    with db.session_scope() as session:
        done = session.get(PayoutPlan, stock_plan.id)
        assert done is not None and done.status == "attested"

    totals = world.owners_total()
    owners = list(world.holdings)
    associated = [ata(o, world.stock_mint) for o in owners]
    before = {o: dict(world.holdings[o])[a] for o, a in zip(owners, associated, strict=True)}
    after = _read(localnet_url, associated)
    # every holder, the issuer's inventory included, gets its whole holding again, minted into
    # its associated account (a second, plain account is left as it was)
    assert after == [before[o] + totals[str(o)] for o in owners]
    assert _supply(localnet_url, world.stock_mint) == 2 * supply


@pytest.mark.parametrize("program", ["token", "token2022"])
def test_a_snapshot_of_an_independently_built_chain_equals_what_was_minted(
    pg_ledger: str,
    localnet_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    program: str,
) -> None:
    amounts = [10**8, 0, 7, 250 * 10**8, 10**8]
    world = asyncio.run(
        stock_world(
            localnet_url,
            tmp_path,
            amounts,
            program=program,
            second_account_for=2,
            issuer_inventory=10**9,
        )
    )
    frozen_owner = next(iter(world.holdings))

    async def freeze() -> None:
        async with Chain(localnet_url) as chain:
            account = world.holdings[frozen_owner][0][0]
            await chain.freeze(world.authority, account, world.stock_mint, world.stock_program)
            await chain.wait_finalized()

    asyncio.run(freeze())
    _configure(monkeypatch, localnet_url, world)
    _register(world)
    with db.session_scope() as session:
        instrument = session.exec(select(Instrument)).one()
        summary = take_snapshot(session=session, instrument=instrument)
    holders = owners_as_base58(summary.holders)
    got = {row["owner"]: (row["amount"], row["frozen"]) for row in holders.iter_rows(named=True)}
    expected = {
        owner: (total, owner == str(frozen_owner))
        for owner, total in world.owners_total().items()
        if total
    }
    assert got == expected
    assert summary.snapshot.supply == _supply(localnet_url, world.stock_mint)
    assert summary.snapshot.excluded_total == 10**9


def test_a_ledger_batch_signed_for_another_derivation_is_refused_in_one_line_and_not_sent(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ledger from a build that derived associated accounts with a wrong program id holds
    signed transactions paying accounts no one owns; resuming it must refuse, not broadcast."""
    world = asyncio.run(stock_world(localnet_url, tmp_path, [5 * 10**8, 7 * 10**8]))
    _configure(monkeypatch, localnet_url, world)
    plan_id = _approved_dividend(world)
    killed = execute_command(plan_id, crash_at="after_persist")
    assert killed.returncode == -9, killed.stderr
    # What the old build signed: the same transfers, to the address a wrong program id derives.
    wrong_program = Pubkey.from_bytes(bytes(range(32)))
    with db.session_scope() as session:
        batch = session.exec(select(PayoutBatch).where(PayoutBatch.plan_id == plan_id)).one()
        lines = session.exec(
            select(PayoutLine).where(PayoutLine.batch_id == batch.id).order_by(PayoutLine.owner)
        ).all()
        seeds = [
            [bytes(Pubkey.from_string(line.owner)), bytes(layout.TOKEN_PROGRAM_ID), bytes(mint)]
            for line in lines
            for mint in [world.usdc_mint]
        ]
        plan_account = Pubkey.from_string(
            session.exec(select(PlanFunding).where(PlanFunding.plan_id == plan_id)).one().account
        )
        transfers = [
            tokens.transfer_checked(
                plan_account,
                world.usdc_mint,
                Pubkey.find_program_address(seed, wrong_program)[0],
                world.authority.pubkey(),
                line.amount_due,
                6,
            )
            for line, seed in zip(lines, seeds, strict=True)
        ]
        blockhash = asyncio.run(_blockhash(localnet_url))
        old = Transaction(
            [world.authority], Message(transfers, world.authority.pubkey()), blockhash
        )
        batch.signed_tx = bytes(old)
        batch.signature = str(old.signatures[0])
        session.add(batch)
    resumed = execute_command(plan_id)
    assert resumed.returncode != 0
    assert "Traceback" not in resumed.stderr
    refusal = [line for line in resumed.stderr.splitlines() if line.startswith("error:")]
    assert len(refusal) == 1 and "is not the associated account of" in refusal[0], resumed.stderr
    assert "upgrade note" in refusal[0]
    treasury, funded = _read(localnet_url, [world.treasury, plan_account])
    assert (treasury or 0) + (funded or 0) == world.treasury_usdc  # nothing reached anyone


async def _blockhash(url: str) -> Hash:
    async with Chain(url) as chain:
        return (await chain.client.get_latest_blockhash()).value.blockhash


def test_the_local_chains_fee_figure_is_what_litesvm_charges_per_signature() -> None:
    """getFeeForMessage answers from LAMPORTS_PER_SIGNATURE; the runtime's own fee decides."""
    svm = LiteSVM()
    payer, cosigner = Keypair(), Keypair()
    svm.airdrop(payer.pubkey(), 10**9)
    svm.airdrop(cosigner.pubkey(), 10**9)
    memo = tokens.memo("fee", (cosigner.pubkey(),))
    tx = Transaction([payer, cosigner], Message([memo], payer.pubkey()), svm.latest_blockhash())
    svm.send_transaction(tx)
    assert 10**9 - svm.get_balance(payer.pubkey()) == 2 * LAMPORTS_PER_SIGNATURE


def test_a_payout_authority_that_also_holds_the_stock_is_paid_to_itself_and_the_run_attests(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its line pays the treasury (its own USDC account): no net change on chain, which must
    not fail the other lines of the batch."""
    amounts = [5 * 10**8, 7 * 10**8, 3 * 10**8]
    world = asyncio.run(stock_world(localnet_url, tmp_path, amounts, authority_holding=4 * 10**8))
    _configure(monkeypatch, localnet_url, world)
    plan_id = _approved_dividend(world)
    report = execute_plan(plan_id, session_factory=db.session_scope)
    assert report.status == "attested", report
    with db.session_scope() as session:
        lines = list(session.exec(select(PayoutLine).where(PayoutLine.plan_id == plan_id)))
    assert all(line.status == "paid" for line in lines)
    others = [x for x in lines if x.owner != str(world.authority.pubkey())]
    assert len(others) == len(lines) - 1
    received = _read(
        localnet_url, [ata(Pubkey.from_string(x.owner), world.usdc_mint) for x in others]
    )
    assert received == [x.amount_due for x in others]
    assert _read(localnet_url, [world.treasury]) == [
        world.treasury_usdc - sum(x.amount_due for x in others)
    ]


def test_the_remaining_figures_match_their_sources() -> None:
    """Rent of a token account (the approval's fee estimate), the Compute Budget tags the local
    chain reads, and where transferChecked / mintToChecked name their destination (the check of
    stored transactions): each against the library or the runtime."""
    from corpactions.execution import approval, batching
    from corpactions.localnet import chain as localnet_chain

    assert LiteSVM().minimum_balance_for_rent_exemption(layout.ACCOUNT_LEN) == approval.ATA_RENT
    assert bytes(compute_budget.set_compute_unit_limit(1).data)[0] == (
        localnet_chain._SET_COMPUTE_UNIT_LIMIT
    )
    assert bytes(compute_budget.set_compute_unit_price(1).data)[0] == (
        localnet_chain._SET_COMPUTE_UNIT_PRICE
    )
    keys = [Keypair().pubkey() for _ in range(4)]
    transfer = spl.transfer_checked(
        spl_models.TransferCheckedParams(
            program_id=layout.TOKEN_PROGRAM_ID,
            source=keys[0],
            mint=keys[1],
            dest=keys[2],
            owner=keys[3],
            amount=1,
            decimals=6,
        )
    )
    minted = spl.mint_to_checked(
        spl_models.MintToCheckedParams(
            program_id=layout.TOKEN_PROGRAM_ID,
            mint=keys[0],
            dest=keys[1],
            mint_authority=keys[2],
            amount=1,
            decimals=6,
        )
    )
    for ix, destination in ((transfer, keys[2]), (minted, keys[1])):
        tag = bytes(ix.data)[0]
        assert ix.accounts[batching._TOKEN_DESTINATION[tag]].pubkey == destination

"""A cold treasury: each USDC plan is paid from its own account, funded once with exactly the
plan's to-send total, and closed back into the treasury once.

The executor here holds only the payer key. Chain state is read back (and the refused
transfers built and sent) with solana-py and spl's builders (tests/independent.py's client).
"""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest
from solana.rpc.commitment import Finalized
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import Transaction
from spl.token import instructions as spl
from spl.token import models
from spl.token.constants import TOKEN_PROGRAM_ID
from sqlmodel import select
from typer.testing import CliRunner

from corpactions import db
from corpactions.chain.keys import load_keypair
from corpactions.cli import app
from corpactions.errors import PlanError
from corpactions.execution.protocol import execute_plan
from corpactions.models import FundingStatus, PayoutPlan, PlanFunding, PlanStatus
from tests.chainkit import ROOT
from tests.independent import Chain, ata
from tests.payflow import Flow, execute_command, lines_of, prepare, treasury_balance

runner = CliRunner()


def _cold(monkeypatch: pytest.MonkeyPatch, url: str, tmp_path: Path, holders: int, **extra: str):  # type: ignore[no-untyped-def]
    """An approved plan whose treasury belongs to a key this host never sees: (flow, key file)."""
    owner_file = tmp_path / "cold" / "treasury-owner.json"
    flow = prepare(
        monkeypatch, url, tmp_path / "keys", holders, treasury_owner_path=owner_file, **extra
    )
    assert flow.seeded.treasury_owner != flow.seeded.authority
    assert "CORPACTIONS_TREASURY_KEYPAIR_PATH" not in os.environ
    return flow, owner_file


def _plan(plan_id: int) -> PayoutPlan:
    with db.session_scope() as session:
        plan = session.get(PayoutPlan, plan_id)
        assert plan is not None
        session.expunge(plan)
        return plan


def _funding(plan_id: int) -> PlanFunding:
    with db.session_scope() as session:
        row = session.exec(select(PlanFunding).where(PlanFunding.plan_id == plan_id)).one()
        session.expunge(row)
        return row


def _plan_account(flow: Flow, root: str) -> Pubkey:
    """Derived here with solders, from the treasury owner and the first 32 characters of the
    plan root (the seed), as createAccountWithSeed does."""
    return Pubkey.create_with_seed(
        Pubkey.from_string(flow.seeded.treasury_owner), root[:32], TOKEN_PROGRAM_ID
    )


def _balance(url: str, account: Pubkey) -> int | None:
    async def read() -> int | None:
        async with Chain(url) as chain:
            await chain.wait_finalized()
            return await chain.balance(account)

    return asyncio.run(read())


def _fund_cli(plan_id: int, *args: str) -> str:
    result = runner.invoke(app, ["payouts", "fund", str(plan_id), *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_an_unfunded_plan_is_refused_naming_payouts_fund(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow, _ = _cold(monkeypatch, localnet_url, tmp_path, 3)
    with pytest.raises(PlanError) as refused:
        execute_plan(flow.plan_id, session_factory=db.session_scope)
    assert "not funded" in refused.value.message
    assert f"payouts fund {flow.plan_id}" in (refused.value.hint or "")
    result = runner.invoke(app, ["payouts", "execute", str(flow.plan_id)])
    assert result.exit_code != 0
    assert "payouts fund" in result.output and "Traceback" not in result.output
    assert treasury_balance(localnet_url, flow.seeded) == flow.seeded.treasury_usdc
    assert all(line.status == "pending" for line in lines_of(flow.plan_id))


def test_funding_moves_exactly_the_plan_total_into_its_own_account_with_the_root_memo(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow, owner_file = _cold(monkeypatch, localnet_url, tmp_path, 5)
    plan = _plan(flow.plan_id)
    _fund_cli(flow.plan_id, "--treasury-key", str(owner_file))

    account = _plan_account(flow, plan.plan_hash)
    assert _funding(flow.plan_id).account == str(account)
    assert _balance(localnet_url, account) == plan.sent_total
    assert (
        treasury_balance(localnet_url, flow.seeded) == flow.seeded.treasury_usdc - plan.sent_total
    )

    async def read() -> tuple[Pubkey, str]:
        async with Chain(localnet_url) as chain:
            info = (await chain.client.get_account_info(account, commitment=Finalized)).value
            assert info is not None and info.owner == TOKEN_PROGRAM_ID
            owner = Pubkey.from_bytes(bytes(info.data)[32:64])  # token account: owner at 32..64
            tx = await chain.client.get_transaction(
                Signature.from_string(_funding(flow.plan_id).signature or ""),
                commitment=Finalized,
            )
            return owner, tx.to_json()

    owner, funding_tx = asyncio.run(read())
    assert owner == flow.authority.pubkey()  # the hot payer owns the plan's account
    assert f"funding root {plan.plan_hash}" in funding_tx

    again = _fund_cli(flow.plan_id, "--treasury-key", str(owner_file))  # exactly once
    assert "funded" in again
    assert (
        treasury_balance(localnet_url, flow.seeded) == flow.seeded.treasury_usdc - plan.sent_total
    )


def _refusal(url: str, payer: Keypair, instruction) -> str:  # type: ignore[no-untyped-def]
    """Send one instruction signed by the payer (with preflight); the chain's refusal text."""

    async def attempt() -> str:
        async with Chain(url) as chain:
            blockhash = (await chain.client.get_latest_blockhash()).value.blockhash
            tx = Transaction.new_signed_with_payer(
                [instruction], payer.pubkey(), [payer], blockhash
            )
            try:
                await chain.client.send_raw_transaction(bytes(tx))
            except Exception as exc:  # solana-py's RPCException with the simulation's logs
                return str(exc)
            return "accepted"

    return asyncio.run(attempt())


def test_the_payer_cannot_move_a_unit_more_than_funded(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow, owner_file = _cold(monkeypatch, localnet_url, tmp_path, 4)
    plan = _plan(flow.plan_id)
    _fund_cli(flow.plan_id, "--treasury-key", str(owner_file))
    payer = load_keypair(Path(flow.seeded.keys_dir) / "payout-authority.json")
    mint = Pubkey.from_string(flow.seeded.usdc_mint)
    account = _plan_account(flow, plan.plan_hash)
    thief = ata(payer.pubkey(), mint)
    asyncio.run(_open(localnet_url, payer, mint))

    def transfer(source: Pubkey, amount: int):  # type: ignore[no-untyped-def]
        return spl.transfer_checked(
            models.TransferCheckedParams(
                program_id=TOKEN_PROGRAM_ID,
                source=source,
                mint=mint,
                dest=thief,
                owner=payer.pubkey(),
                amount=amount,
                decimals=6,
            )
        )

    from_treasury = _refusal(
        localnet_url, payer, transfer(Pubkey.from_string(flow.seeded.treasury), 1)
    )
    assert "owner does not match" in from_treasury.lower(), from_treasury
    beyond = _refusal(localnet_url, payer, transfer(account, plan.sent_total + 1))
    assert "insufficient funds" in beyond.lower(), beyond
    assert _balance(localnet_url, thief) == 0
    assert (
        treasury_balance(localnet_url, flow.seeded) == flow.seeded.treasury_usdc - plan.sent_total
    )

    report = execute_plan(flow.plan_id, session_factory=db.session_scope)  # payer key only
    assert report.status == "attested", report
    assert (
        treasury_balance(localnet_url, flow.seeded) == flow.seeded.treasury_usdc - plan.sent_total
    )
    assert _balance(localnet_url, account) is None  # closed after reconciliation
    reconciliation = _plan(flow.plan_id).reconciliation
    assert reconciliation["checks"]["funded from the treasury == approved to send"] == [
        plan.sent_total,
        plan.sent_total,
    ]


async def _open(url: str, payer: Keypair, mint: Pubkey) -> None:
    async with Chain(url) as chain:
        await chain.send(
            payer,
            [spl.create_idempotent_associated_token_account(payer.pubkey(), payer.pubkey(), mint)],
        )


def test_funding_round_trips_through_an_external_signer(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow, owner_file = _cold(monkeypatch, localnet_url, tmp_path, 3)
    plan = _plan(flow.plan_id)
    exported = tmp_path / "tx.b64"
    _fund_cli(flow.plan_id, "--export", str(exported))
    assert _funding(flow.plan_id).status == FundingStatus.exported
    assert treasury_balance(localnet_url, flow.seeded) == flow.seeded.treasury_usdc

    # the external signer: solders, holding the treasury owner's key, signs what it was given
    unsigned = Transaction.from_bytes(base64.b64decode(exported.read_bytes()))
    owner = Keypair.from_bytes(bytes(load_keypair(owner_file)))
    unsigned.sign([owner], unsigned.message.recent_blockhash)
    signed = tmp_path / "signed.b64"
    signed.write_bytes(base64.b64encode(bytes(unsigned)))

    _fund_cli(flow.plan_id, "--signed", str(signed))
    assert _funding(flow.plan_id).status == FundingStatus.funded
    assert _balance(localnet_url, _plan_account(flow, plan.plan_hash)) == plan.sent_total
    report = execute_plan(flow.plan_id, session_factory=db.session_scope)
    assert report.status == "attested", report
    assert (
        treasury_balance(localnet_url, flow.seeded) == flow.seeded.treasury_usdc - plan.sent_total
    )


def test_a_signed_transaction_other_than_the_export_is_refused(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow, owner_file = _cold(monkeypatch, localnet_url, tmp_path, 2)
    _fund_cli(flow.plan_id, "--export", str(tmp_path / "tx.b64"))
    owner = load_keypair(owner_file)
    mint = Pubkey.from_string(flow.seeded.usdc_mint)
    other = Transaction.new_signed_with_payer(  # validly signed, but not the exported message
        [
            spl.transfer_checked(
                models.TransferCheckedParams(
                    program_id=TOKEN_PROGRAM_ID,
                    source=Pubkey.from_string(flow.seeded.treasury),
                    mint=mint,
                    dest=ata(flow.authority.pubkey(), mint),
                    owner=owner.pubkey(),
                    amount=_plan(flow.plan_id).sent_total,
                    decimals=6,
                )
            )
        ],
        owner.pubkey(),
        [owner],
        Transaction.from_bytes(
            base64.b64decode((tmp_path / "tx.b64").read_bytes())
        ).message.recent_blockhash,
    )
    (tmp_path / "other.b64").write_bytes(base64.b64encode(bytes(other)))
    result = runner.invoke(
        app, ["payouts", "fund", str(flow.plan_id), "--signed", str(tmp_path / "other.b64")]
    )
    assert result.exit_code != 0
    assert "not plan" in result.output and "exported funding" in result.output
    assert _funding(flow.plan_id).status == FundingStatus.exported
    assert treasury_balance(localnet_url, flow.seeded) == flow.seeded.treasury_usdc


def test_closing_returns_the_held_remainder_to_the_treasury_exactly_once(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # two of five holders have a USDC account; the other three are held for claim
    flow, owner_file = _cold(
        monkeypatch,
        localnet_url,
        tmp_path,
        5,
        usdc_accounts_for=2,
        missing_account_policy="hold",
    )
    plan = _plan(flow.plan_id)
    _fund_cli(flow.plan_id, "--treasury-key", str(owner_file))
    report = execute_plan(flow.plan_id, session_factory=db.session_scope)
    assert report.status == "attested", report
    lines = lines_of(flow.plan_id)
    paid = sum(line.amount_due for line in lines if line.status == "paid")
    held = sum(line.amount_due for line in lines if line.status == "held_for_claim")
    assert paid and held and paid + held == plan.sent_total

    row = _funding(flow.plan_id)
    assert row.status == FundingStatus.closed and row.returned == held
    assert _balance(localnet_url, Pubkey.from_string(row.account)) is None
    assert treasury_balance(localnet_url, flow.seeded) == flow.seeded.treasury_usdc - paid

    again = runner.invoke(app, ["payouts", "close", str(flow.plan_id)])
    assert again.exit_code == 0, again.output
    assert _funding(flow.plan_id).close_signature == row.close_signature
    assert treasury_balance(localnet_url, flow.seeded) == flow.seeded.treasury_usdc - paid


def _fund_process(
    plan_id: int, key: Path, crash_at: str | None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORPACTIONS_CRASH")}
    if crash_at:
        env["CORPACTIONS_CRASH_AT"] = crash_at
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "corpactions.cli",
            "payouts",
            "fund",
            str(plan_id),
            "--treasury-key",
            str(key),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize("point", ["fund_after_sign", "fund_after_persist"])
def test_a_funding_killed_between_signing_and_sending_funds_once_on_rerun(
    point: str, pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow, owner_file = _cold(monkeypatch, localnet_url, tmp_path, 3)
    plan = _plan(flow.plan_id)
    killed = _fund_process(flow.plan_id, owner_file, point)
    assert killed.returncode == -9, killed.stderr
    assert treasury_balance(localnet_url, flow.seeded) == flow.seeded.treasury_usdc
    rerun = _fund_process(flow.plan_id, owner_file, None)
    assert rerun.returncode == 0, rerun.stderr
    row = _funding(flow.plan_id)
    # the recorded attempt was sent again, or (its blockhash expired: 50 ms slots here) proven
    # dead and signed anew; either way the money moved once
    assert row.status == FundingStatus.funded and row.attempt in (1, 2)
    assert _balance(localnet_url, Pubkey.from_string(row.account)) == plan.sent_total
    assert (
        treasury_balance(localnet_url, flow.seeded) == flow.seeded.treasury_usdc - plan.sent_total
    )
    assert _plan(flow.plan_id).status == PlanStatus.approved


def test_units_taken_from_the_plan_account_outside_its_batches_make_a_discrepancy(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The payer key can move the funded remainder; reconciliation reads the account's balance
    from the chain, so a unit taken outside the plan's batches stops the plan (and its close)."""
    # one of three holders has no USDC account: its line is held, its amount stays in the account
    flow, owner_file = _cold(
        monkeypatch,
        localnet_url,
        tmp_path,
        3,
        usdc_accounts_for=2,
        missing_account_policy="hold",
    )
    plan = _plan(flow.plan_id)
    _fund_cli(flow.plan_id, "--treasury-key", str(owner_file))
    killed = execute_command(flow.plan_id, crash_at="after_confirm")  # paid, not reconciled
    assert killed.returncode == -9, killed.stderr
    payer = load_keypair(Path(flow.seeded.keys_dir) / "payout-authority.json")
    mint = Pubkey.from_string(flow.seeded.usdc_mint)
    account = _plan_account(flow, plan.plan_hash)
    asyncio.run(_open(localnet_url, payer, mint))

    async def take_one() -> None:
        async with Chain(localnet_url) as chain:
            await chain.send(
                payer,
                [
                    spl.transfer_checked(
                        models.TransferCheckedParams(
                            program_id=TOKEN_PROGRAM_ID,
                            source=account,
                            mint=mint,
                            dest=ata(payer.pubkey(), mint),
                            owner=payer.pubkey(),
                            amount=1,
                            decimals=6,
                        )
                    )
                ],
            )

    asyncio.run(take_one())
    report = execute_plan(flow.plan_id, session_factory=db.session_scope)
    assert report.status == "discrepancy", report
    checks = _plan(flow.plan_id).reconciliation["checks"]
    left, expected = checks["left in the plan account == funded - outflow"]
    assert expected - left == 1
    assert _funding(flow.plan_id).status == FundingStatus.funded  # not closed

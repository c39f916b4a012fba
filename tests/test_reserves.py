"""Proof of backing: custodian statements in (semt.002 and the own CSV/JSON), the check of token
supply against custody on the real local chain, its consequences for plans and splits, and its
memo on chain, written once even when the process is killed between signing and sending."""

from __future__ import annotations

import asyncio
import hashlib
import os
import struct
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from python_iso20022.semt.semt_002_001_11.models import (  # type: ignore[import-untyped]
    SecuritiesBalanceCustodyReportV11Semt00200111,
)
from solana.rpc.async_api import AsyncClient
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from spl.token.constants import TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID
from sqlmodel import col, select

from corpactions import db
from corpactions.chain.keys import load_keypair
from corpactions.corporate.multiplier import compute_multiplier_plan
from corpactions.corporate.splits import compute_split_plans
from corpactions.errors import PlanError
from corpactions.execution import approval as approval_module
from corpactions.execution.approval import approve
from corpactions.feeds.ingest import ingest
from corpactions.feeds.ownformat import parse_json
from corpactions.instruments import add_instrument
from corpactions.localnet.seed import SeedResult, seed
from corpactions.models import (
    Approval,
    BackingCheck,
    CorporateAction,
    CustodyStatement,
    Instrument,
    MultiplierPlan,
    PayoutPlan,
    QuarantinedStatement,
    TokenProgram,
    WebhookDelivery,
)
from corpactions.operators.decisions import Decision
from corpactions.operators.keys import sign_message
from corpactions.payouts.plan import compute_plan
from corpactions.reserves.backing import (
    backing_acknowledgement_required,
    check_instrument,
    funding_difference,
    multiplier_acknowledgement_required,
)
from corpactions.reserves.ingest import StatementReport, ingest_statement, register_auditor
from snapshots.take import take_snapshot
from tests.chainkit import ROOT
from tests.independent import Chain, ata, write_keypair
from tests.isoschema import problems
from tests.operatorkit import approve_payout, ensure_operator, multiplier_decision
from tests.payflow import configure
from tests.walletkit import set_wallet

SEMT = "urn:iso:std:iso:20022:tech:xsd:semt.002.001.11"
UNIT = Decimal(10) ** 8
RECORD_DAY_AS_OF = "2026-11-10T20:00:00+00:00"  # before the dividend's record-date cutoff


def semt002(
    shares: str,
    *,
    statement_id: str = "CUST-2026-11-10",
    as_of: str = RECORD_DAY_AS_OF,
    ticker: str = "AAPL",
    isin: str = "US0378331005",
) -> bytes:
    """A semt.002.001.11 Statement of Holdings of one position (held to the model by a test)."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="{SEMT}">
  <SctiesBalCtdyRpt>
    <Pgntn><PgNb>1</PgNb><LastPgInd>true</LastPgInd></Pgntn>
    <StmtGnlDtls>
      <StmtId>{statement_id}</StmtId>
      <StmtDtTm><DtTm>{as_of}</DtTm></StmtDtTm>
      <Frqcy><Cd>DAIL</Cd></Frqcy>
      <UpdTp><Cd>COMP</Cd></UpdTp>
      <StmtBsis><Cd>SETT</Cd></StmtBsis>
      <ActvtyInd>false</ActvtyInd>
      <SubAcctInd>false</SubAcctInd>
    </StmtGnlDtls>
    <AcctSvcr><Id><AnyBIC>CUSTUS33XXX</AnyBIC></Id></AcctSvcr>
    <SfkpgAcct><Id>TOKEN-RESERVE-1</Id></SfkpgAcct>
    <BalForAcct>
      <FinInstrmId>
        <ISIN>{isin}</ISIN>
        <OthrId><Id>{ticker}</Id><Tp><Cd>TS</Cd></Tp></OthrId>
      </FinInstrmId>
      <AggtBal>
        <ShrtLngInd>LONG</ShrtLngInd>
        <Qty><Qty><Qty><Unit>{shares}</Unit></Qty></Qty></Qty>
      </AggtBal>
    </BalForAcct>
  </SctiesBalCtdyRpt>
</Document>
""".encode()


def own_csv(rows: list[dict[str, str]]) -> bytes:
    header = "instrument,isin,cusip,shares,as_of,custodian,statement_id\n"
    lines = [
        ",".join(
            row.get(k, "")
            for k in ("instrument", "isin", "cusip", "shares", "as_of", "custodian", "statement_id")
        )
        for row in rows
    ]
    return (header + "\n".join(lines) + "\n").encode()


def position(**overrides: str) -> dict[str, str]:
    return {
        "instrument": "AAPL",
        "isin": "US0378331005",
        "cusip": "037833100",
        "shares": "1000",
        "as_of": RECORD_DAY_AS_OF,
        "custodian": "Custodian Bank NA",
        "statement_id": "CB-1",
        **overrides,
    }


def take_in(payload: bytes, fmt: str, **extra: Any) -> StatementReport:
    with db.session_scope() as session:
        return ingest_statement(session=session, payload=payload, fmt=fmt, **extra)


def statements() -> list[CustodyStatement]:
    with db.session_scope() as session:
        return list(session.exec(select(CustodyStatement).order_by(col(CustodyStatement.id))))


@pytest.fixture
def aapl(pg_ledger: str) -> None:
    with db.session_scope() as session:
        add_instrument(session=session, symbol="AAPL", mint=str(Keypair().pubkey()), decimals=8)


# ----------------------------------------------------------------------------- statements in


def test_the_semt002_test_payload_is_valid_against_the_semt_002_001_11_model() -> None:
    document = ET.fromstring(semt002("1234.5"))
    report = document.find(f"{{{SEMT}}}SctiesBalCtdyRpt")
    assert report is not None
    assert problems(report, SecuritiesBalanceCustodyReportV11Semt00200111, "/Rpt") == []


def test_the_model_check_would_catch_a_malformed_semt002() -> None:
    broken = semt002("12").replace(b"<ShrtLngInd>LONG</ShrtLngInd>", b"")
    report = ET.fromstring(broken).find(f"{{{SEMT}}}SctiesBalCtdyRpt")
    assert report is not None
    assert problems(report, SecuritiesBalanceCustodyReportV11Semt00200111, "/Rpt") != []


def test_a_semt002_statement_is_stored_as_a_position_with_the_files_sha256(aapl: None) -> None:
    payload = semt002("1234.5")
    report = take_in(payload, "semt002")
    assert len(report.accepted) == 1 and report.quarantined == []
    (stored,) = statements()
    assert (stored.custodian, stored.statement_id, stored.source) == (
        "CUSTUS33XXX",
        "CUST-2026-11-10",
        "semt002",
    )
    assert stored.shares == Decimal("1234.5") and stored.isin == "US0378331005"
    assert stored.as_of == datetime(2026, 11, 10, 20, tzinfo=UTC)
    assert stored.sha256 == hashlib.sha256(payload).hexdigest()


def test_a_short_semt002_position_is_refused_and_the_long_one_beside_it_kept(aapl: None) -> None:
    long = semt002("100")
    start = long.index(b"<BalForAcct>")
    balance = long[start : long.index(b"</BalForAcct>") + len(b"</BalForAcct>")]
    short = balance.replace(b"LONG", b"SHOR")
    payload = long.replace(balance, balance + short)
    report = ET.fromstring(payload).find(f"{{{SEMT}}}SctiesBalCtdyRpt")
    assert report is not None
    assert problems(report, SecuritiesBalanceCustodyReportV11Semt00200111, "/Rpt") == []
    taken = take_in(payload, "semt002")
    assert len(taken.accepted) == 1
    assert taken.quarantined == ["report 1 balance 2: a short position cannot back tokens"]


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_the_own_format_gives_every_position_of_the_file(aapl: None, fmt: str) -> None:
    rows = [position(), position(statement_id="CB-2", shares="1000.25")]
    payload = own_csv(rows) if fmt == "csv" else orjson.dumps(rows)
    report = take_in(payload, fmt)
    assert len(report.accepted) == 2
    assert [(s.statement_id, s.shares, s.cusip) for s in statements()] == [
        ("CB-1", Decimal("1000"), "037833100"),
        ("CB-2", Decimal("1000.25"), "037833100"),
    ]


def test_a_bad_position_is_quarantined_with_its_reasons_and_raw_payload(aapl: None) -> None:
    rows = [
        position(),
        position(statement_id="CB-2", shares="-5", as_of="2026-11-10T20:00:00"),
        position(statement_id="CB-3", instrument="MSFT", isin="", cusip=""),
    ]
    report = take_in(orjson.dumps(rows), "json")
    assert len(report.accepted) == 1
    with db.session_scope() as session:
        refused = list(
            session.exec(select(QuarantinedStatement).order_by(col(QuarantinedStatement.id)))
        )
    assert [q.position for q in refused] == ["record 2", "record 3"]
    assert "shares -5 is negative" in refused[0].reason
    assert "has no UTC offset" in refused[0].reason
    assert "no registered instrument MSFT" in refused[1].reason
    assert orjson.loads(refused[0].raw_payload)["statement_id"] == "CB-2"


def test_hostile_fields_are_quarantined_never_an_internal_error(aapl: None) -> None:
    """A NUL in a text field, an as-of the clock cannot hold, a statement from the future."""
    rows = [
        position(statement_id="CB\u0000-1"),
        position(statement_id="CB-2", as_of="0001-01-01T00:00:00+01:00"),
        position(statement_id="CB-3", as_of="2099-01-01T00:00:00Z"),
    ]
    report = take_in(orjson.dumps(rows), "json")
    assert report.accepted == [] and len(report.quarantined) == 3
    reasons = " | ".join(report.quarantined)
    assert "control characters" in reasons
    assert "out of range" in reasons
    assert "in the future" in reasons


def test_a_csv_field_beyond_the_reader_limit_quarantines_the_file(aapl: None) -> None:
    payload = own_csv([position(custodian="C" * 200_000)])
    report = take_in(payload, "csv")
    assert report.accepted == [] and "cannot be read" in report.quarantined[0]


def test_an_instrument_stated_twice_in_one_statement_is_not_taken_half(aapl: None) -> None:
    """Two accounts' positions for one instrument in one statement: neither is taken (the
    second silently dropped would understate custody)."""
    report = take_in(own_csv([position(shares="1000"), position(shares="999999")]), "csv")
    assert report.accepted == [] and len(report.quarantined) == 2
    assert "more than once" in report.quarantined[0]


def test_an_isin_given_earlier_for_another_instrument_is_refused(aapl: None) -> None:
    with db.session_scope() as session:
        add_instrument(session=session, symbol="MSFT", mint=str(Keypair().pubkey()), decimals=8)
    assert len(take_in(own_csv([position()]), "csv").accepted) == 1  # AAPL's ISIN, as AAPL
    stolen = take_in(own_csv([position(instrument="MSFT", statement_id="CB-9", cusip="")]), "csv")
    assert stolen.accepted == [] and "was given for AAPL" in stolen.quarantined[0]


def test_an_unreadable_file_is_quarantined_whole(aapl: None) -> None:
    report = take_in(b"<Document><unclosed></Document>", "semt002")
    assert report.accepted == [] and len(report.quarantined) == 1
    with db.session_scope() as session:
        (refused,) = session.exec(select(QuarantinedStatement)).all()
    assert refused.position == "file" and "not well-formed" in refused.reason


def test_a_restated_position_is_a_new_version_and_the_same_file_a_duplicate(aapl: None) -> None:
    first = own_csv([position(shares="1000")])
    assert len(take_in(first, "csv").accepted) == 1
    assert take_in(first, "csv").duplicate == 1
    again = take_in(own_csv([position(shares="1001")]), "csv")
    assert again.amended == 1
    old, new = statements()
    assert (old.version, new.version, new.shares) == (1, 2, Decimal("1001"))
    assert old.superseded_at is not None and new.superseded_at is None


def test_an_auditor_signature_over_the_sha256_is_checked_against_the_registered_key(
    aapl: None,
) -> None:
    auditor, stranger = Keypair(), Keypair()
    with db.session_scope() as session:
        register_auditor(session=session, name="Audit LLP", public_key=str(auditor.pubkey()))
    payload = semt002("1000")
    digest = hashlib.sha256(payload).digest()
    forged = take_in(
        payload, "semt002", auditor="Audit LLP", signature=str(stranger.sign_message(digest))
    )
    assert forged.accepted == [] and "does not verify" in forged.quarantined[0]
    signed = take_in(
        payload, "semt002", auditor="Audit LLP", signature=str(auditor.sign_message(digest))
    )
    assert len(signed.accepted) == 1
    (stored,) = statements()
    assert stored.auditor == "Audit LLP" and stored.auditor_signature


def test_the_cli_ingests_a_statement_and_refuses_an_unknown_format_in_one_line(
    aapl: None, tmp_path: Path
) -> None:
    path = tmp_path / "statement.xml"
    path.write_bytes(semt002("10"))
    ok = _cli("reserves", "ingest", str(path), "--format", "semt002")
    assert ok.returncode == 0, ok.stderr
    assert "1 accepted" in ok.stdout
    bad = _cli("reserves", "ingest", str(path), "--format", "pdf")
    assert bad.returncode == 2
    assert bad.stderr.strip().startswith("error:") and len(bad.stderr.strip().splitlines()) == 1


def test_checking_an_instrument_no_statement_names_is_one_readable_error(aapl: None) -> None:
    with db.session_scope() as session:
        add_instrument(session=session, symbol="MSFT", mint=str(Keypair().pubkey()), decimals=8)
    refused = _cli("reserves", "check", "MSFT")
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        "error: no custody statement names MSFT (corpactions reserves ingest FILE)"
    )


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "corpactions.cli", *args],
        cwd=ROOT,
        env=env or dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


# ----------------------------------------------------------------------------- the check


def _world(
    monkeypatch: pytest.MonkeyPatch, url: str, tmp_path: Path, program: str = "token"
) -> SeedResult:
    seeded = asyncio.run(
        seed(rpc_url=url, keys_dir=tmp_path / "keys", holders=4, program=program, realistic=False)
    )
    configure(monkeypatch, url, seeded)
    with db.session_scope() as session:
        add_instrument(
            session=session,
            symbol="AAPL",
            mint=seeded.stock_mint,
            token_program=TokenProgram(program),
            decimals=8,
            issuer_wallet=seeded.issuer_wallet,
        )
    return seeded


def outstanding(seeded: SeedResult) -> Decimal:
    """Shares the holders' tokens stand for: supply less the issuer's inventory, read back."""
    return Decimal(seeded.supply - seeded.issuer_inventory) / UNIT


def _statement(shares: Decimal, statement_id: str, as_of: datetime) -> None:
    row = position(shares=str(shares), statement_id=statement_id, as_of=as_of.isoformat())
    assert len(take_in(orjson.dumps([row]), "json").accepted) == 1


def test_a_supply_matching_custody_is_backed_with_every_input_recorded(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded = _world(monkeypatch, localnet_url, tmp_path)
    _statement(outstanding(seeded), "CB-1", datetime.now(UTC) - timedelta(hours=1))
    check = check_instrument(session_factory=db.session_scope, symbol="AAPL")
    assert check.verdict == "backed"
    assert check.supply == seeded.supply and check.excluded_total == seeded.issuer_inventory
    assert check.difference == 0 and check.custodian_shares == outstanding(seeded)
    assert check.statement_id == "CB-1" and check.statement_sha256 and check.slot > 0
    assert check.tolerance == 0 and check.multiplier is None


def test_tokens_minted_beyond_custody_are_over_minted_by_exactly_the_excess(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded = _world(monkeypatch, localnet_url, tmp_path)
    _statement(outstanding(seeded), "CB-1", datetime.now(UTC) - timedelta(hours=1))
    authority = load_keypair(Path(seeded.keys_dir) / "payout-authority.json")
    mint, extra = Pubkey.from_string(seeded.stock_mint), 5 * 10**8 + 1  # 5.00000001 shares

    async def over_mint() -> int:
        async with Chain(localnet_url) as chain:
            someone = Keypair().pubkey()
            await chain.open_associated(authority, [someone], mint, TOKEN_PROGRAM_ID)
            await chain.mint_to(authority, authority, mint, [(ata(someone, mint), extra)], 8)
            return await chain.supply(mint)

    supply = asyncio.run(over_mint())
    check = check_instrument(session_factory=db.session_scope, symbol="AAPL")
    assert check.supply == supply == seeded.supply + extra
    assert (check.verdict, check.difference) == ("over_minted", Decimal("5.00000001"))


def test_a_failed_check_announces_itself_to_the_webhooks(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded = _world(monkeypatch, localnet_url, tmp_path)
    monkeypatch.setenv("CORPACTIONS_WEBHOOK_URLS", '["http://127.0.0.1:9/hook"]')
    from corpactions.config import get_settings

    get_settings.cache_clear()
    _statement(outstanding(seeded) - 3, "CB-1", datetime.now(UTC) - timedelta(hours=1))
    check = check_instrument(session_factory=db.session_scope, symbol="AAPL")
    assert check.verdict == "over_minted"
    with db.session_scope() as session:
        (delivery,) = session.exec(select(WebhookDelivery)).all()
    assert delivery.event == "instrument.backing_failed"
    assert delivery.payload["check_id"] == check.id
    assert Decimal(delivery.payload["difference_shares"]) == 3


def test_tokens_of_a_wallet_the_registry_excludes_are_not_outstanding(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issuer's inventory, marked excluded in the wallet registry, is not backed by custody:
    the same extra tokens that make the token over-minted count for nothing once excluded."""
    seeded = _world(monkeypatch, localnet_url, tmp_path)
    _statement(outstanding(seeded), "CB-1", datetime.now(UTC) - timedelta(hours=1))
    authority = load_keypair(Path(seeded.keys_dir) / "payout-authority.json")
    mint, inventory = Pubkey.from_string(seeded.stock_mint), Keypair().pubkey()

    async def mint_inventory() -> None:
        async with Chain(localnet_url) as chain:
            await chain.open_associated(authority, [inventory], mint, TOKEN_PROGRAM_ID)
            await chain.mint_to(authority, authority, mint, [(ata(inventory, mint), 7 * 10**8)], 8)

    asyncio.run(mint_inventory())
    assert check_instrument(session_factory=db.session_scope, symbol="AAPL").verdict == (
        "over_minted"
    )
    set_wallet(str(inventory), excluded=True, reason="issuer inventory")
    check = check_instrument(session_factory=db.session_scope, symbol="AAPL")
    assert (check.verdict, check.difference) == ("backed", Decimal(0))


def test_a_difference_within_the_tolerance_is_still_backed(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded = _world(monkeypatch, localnet_url, tmp_path)
    monkeypatch.setenv("CORPACTIONS_PEG_TOLERANCE_SHARES", "0.5")
    from corpactions.config import get_settings

    get_settings.cache_clear()
    _statement(outstanding(seeded) - Decimal("0.4"), "CB-1", datetime.now(UTC) - timedelta(hours=1))
    check = check_instrument(session_factory=db.session_scope, symbol="AAPL")
    assert (check.verdict, check.difference, check.tolerance) == (
        "backed",
        Decimal("0.4"),
        Decimal("0.5"),
    )


def _set_multiplier(url: str, seeded: SeedResult, multiplier: float) -> None:
    """UpdateMultiplier of Token-2022's ScaledUiAmount, effective at once (timestamp 0)."""
    authority = load_keypair(Path(seeded.keys_dir) / "payout-authority.json")
    update = Instruction(
        TOKEN_2022_PROGRAM_ID,
        bytes([43, 1]) + struct.pack("<d", multiplier) + struct.pack("<q", 0),
        [
            AccountMeta(Pubkey.from_string(seeded.stock_mint), False, True),
            AccountMeta(authority.pubkey(), True, False),
        ],
    )

    async def send() -> None:
        async with Chain(url) as chain:
            await chain.send(authority, [update])
            await chain.wait_finalized()

    asyncio.run(send())


def test_a_token_2022_multiplier_change_between_statements_is_checked_at_each_multiplier(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded = _world(monkeypatch, localnet_url, tmp_path, program="token2022")
    now = datetime.now(UTC)
    _statement(outstanding(seeded), "CB-NOV", now - timedelta(hours=2))
    before = check_instrument(session_factory=db.session_scope, symbol="AAPL")
    _set_multiplier(localnet_url, seeded, 2.0)  # a 2-for-1 split by multiplier
    stale = check_instrument(session_factory=db.session_scope, symbol="AAPL")
    _statement(outstanding(seeded) * 2, "CB-DEC", now - timedelta(hours=1))
    after = check_instrument(session_factory=db.session_scope, symbol="AAPL")
    assert (before.verdict, before.multiplier, before.statement_id) == ("backed", "1.0", "CB-NOV")
    assert (stale.verdict, stale.multiplier, stale.difference) == (
        "over_minted",
        "2.0",
        outstanding(seeded),
    )
    assert (after.verdict, after.multiplier, after.statement_id) == ("backed", "2.0", "CB-DEC")
    assert before.supply == stale.supply == after.supply == seeded.supply  # raw never moved


def test_without_a_statement_as_of_the_cutoff_the_check_fails_as_no_statement(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded = _world(monkeypatch, localnet_url, tmp_path)
    _statement(outstanding(seeded), "CB-LATER", datetime.now(UTC) - timedelta(hours=1))
    cutoff = datetime.now(UTC) - timedelta(days=1)  # before the only statement
    check = check_instrument(session_factory=db.session_scope, symbol="AAPL", now=cutoff)
    assert (check.verdict, check.statement_id, check.difference) == ("no_statement", None, None)
    assert check.outstanding == outstanding(seeded)


# ----------------------------------------------------------------------------- plans and splits


def _snapshotted(
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    tmp_path: Path,
    record: dict[str, Any],
    short: int,
    program: str = "token",
) -> tuple[SeedResult, int]:
    """AAPL with a custody statement ``short`` shares below its tokens at the record date, one
    action (``record``, own JSON format) and its record-date snapshot: (seed, action id)."""
    seeded = _world(monkeypatch, url, tmp_path, program)
    custody = outstanding(seeded) - short
    _statement(custody, "CB-REC", datetime.fromisoformat(RECORD_DAY_AS_OF))
    with db.session_scope() as session:
        ingest(parse_json(orjson.dumps([record])), session=session)
        action = session.exec(select(CorporateAction)).one()
        instrument = session.exec(select(Instrument)).one()
        take_snapshot(session=session, instrument=instrument, action=action)
        return seeded, action.id or 0


DIVIDEND = {
    "reference": "DIV-1",
    "symbol": "AAPL",
    "kind": "cash_dividend",
    "status": "COMP",
    "record_date": "2026-11-10",
    "pay_date": "2026-11-13",
    "currency": "USD",
    "gross_rate": "0.25",
}


def test_a_plan_on_a_failing_snapshot_is_flagged_and_needs_the_acknowledgement(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, action_id = _snapshotted(monkeypatch, localnet_url, tmp_path, DIVIDEND, short=10)
    with db.session_scope() as session:
        plan = compute_plan(session=session, action_id=action_id, maker="maker").plan
        plan_id, plan_hash = plan.id or 0, plan.plan_hash
        funding = funding_difference(session, plan)
    assert funding is not None and funding["verdict"] == "over_minted"
    assert funding["difference_shares"] == "10"
    # the custodian receives 0.25 USD for 10 shares fewer than the plan pays for
    assert int(funding["custodian_receives"]) - int(funding["plan_pays"]) == -2_500_000
    assert funding["funding_difference"] == "-2500000"
    with db.session_scope() as session, pytest.raises(PlanError, match="failed its backing"):
        approve_payout(session, plan_id, "checker", plan_hash=plan_hash)
    with db.session_scope() as session:
        required = backing_acknowledgement_required(session, session.get(PayoutPlan, plan_id))
        assert required is not None
        text = required.removeprefix("acknowledged: ")
        key = ensure_operator(session, "checker")
        # a signature acknowledging something else does not count
        other = ("a different difference",)
        message = approval_module.decision_message(session, plan_id, "approve", other)
        with pytest.raises(PlanError, match="failed its backing"):
            approve(
                session=session,
                plan_id=plan_id,
                decision=Decision("checker", sign_message(key, message), other),
                plan_hash=plan_hash,
            )
    with db.session_scope() as session:
        assert session.get(PayoutPlan, plan_id).status == "draft"  # type: ignore[union-attr]
        message = approval_module.decision_message(session, plan_id, "approve", [text])
        assert b"\nacknowledged: AAPL" in message  # the acknowledgement is what is signed
        approve(
            session=session,
            plan_id=plan_id,
            decision=Decision("checker", sign_message(key, message), (text,)),
            plan_hash=plan_hash,
        )
    with db.session_scope() as session:
        (approval,) = session.exec(select(Approval).where(Approval.plan_id == plan_id)).all()
        assert session.get(PayoutPlan, plan_id).status == "approved"  # type: ignore[union-attr]
    assert approval.acknowledged is not None
    assert approval.acknowledged.startswith("acknowledged: AAPL")
    assert (
        "over-minted" in approval.acknowledged and "difference 10 shares" in approval.acknowledged
    )


def test_a_check_edited_to_backed_in_the_ledger_still_needs_the_acknowledgement(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, action_id = _snapshotted(monkeypatch, localnet_url, tmp_path, DIVIDEND, short=10)
    with db.session_scope() as session:
        plan = compute_plan(session=session, action_id=action_id, maker="maker").plan
        plan_id, plan_hash = plan.id or 0, plan.plan_hash
    with db.session_scope() as session:
        for check in session.exec(select(BackingCheck)):
            check.verdict = "backed"  # the attacker's edit
            session.add(check)
    with db.session_scope() as session, pytest.raises(PlanError, match="failed its backing"):
        approve_payout(session, plan_id, "checker", plan_hash=plan_hash)


def test_a_plan_on_a_backed_snapshot_approves_without_acknowledgement(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, action_id = _snapshotted(monkeypatch, localnet_url, tmp_path, DIVIDEND, short=0)
    with db.session_scope() as session:
        plan = compute_plan(session=session, action_id=action_id, maker="maker").plan
        assert funding_difference(session, plan)["funding_difference"] == "0"  # type: ignore[index]
        approved = approve_payout(session, plan.id or 0, "checker", plan_hash=plan.plan_hash)
        assert approved.status == "approved"


SPLIT = {
    "reference": "SPLIT-1",
    "symbol": "AAPL",
    "kind": "forward_split",
    "status": "COMP",
    "record_date": "2026-11-10",
    "effective_date": "2026-11-12",
    "ratio_new": "3",
    "ratio_old": "2",
}


def test_a_split_that_would_break_the_peg_is_refused_before_any_plan(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, action_id = _snapshotted(monkeypatch, localnet_url, tmp_path, SPLIT, short=2)
    with db.session_scope() as session, pytest.raises(PlanError, match="refused") as refused:
        compute_split_plans(session=session, action_id=action_id, maker="maker")
    assert "custodian" in str(refused.value) and "difference 3 " in str(refused.value)
    with db.session_scope() as session:
        assert session.exec(select(PayoutPlan)).all() == []


def test_a_token_2022_split_by_multiplier_that_would_break_the_peg_is_refused(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = {**SPLIT, "ratio_new": "2", "ratio_old": "1", "effective_date": "2027-01-04"}
    _, action_id = _snapshotted(
        monkeypatch, localnet_url, tmp_path, record, short=1, program="token2022"
    )
    with db.session_scope() as session, pytest.raises(PlanError, match="difference 2 "):
        asyncio.run(compute_multiplier_plan(session, action_id, maker="maker"))
    with db.session_scope() as session:
        assert session.exec(select(MultiplierPlan)).all() == []


def test_a_split_keeping_the_peg_gets_its_mint_plan(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, action_id = _snapshotted(monkeypatch, localnet_url, tmp_path, SPLIT, short=0)
    with db.session_scope() as session:
        plans = compute_split_plans(session=session, action_id=action_id, maker="maker")
        assert plans.stock.asset == "stock" and plans.stock.line_count > 0


# ----------------------------------------------------------------------------- on chain


async def _backing_memos(url: str, authority: Pubkey, mint: str) -> list[str]:
    """Backing memos naming ``mint`` in the authority's transactions, read with solana-py."""
    async with AsyncClient(url) as client:
        found = (await client.get_signatures_for_address(authority, limit=1000)).value
        memos = []
        for item in found:
            tx = (
                await client.get_transaction(item.signature, max_supported_transaction_version=0)
            ).value
            logs = tx.transaction.meta.log_messages if tx and tx.transaction.meta else None
            memos += [m for m in logs or [] if f"corpactions backing mint {mint}" in m]
        return memos


def test_the_check_memo_is_written_once_even_when_killed_between_sign_and_send(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded = _world(monkeypatch, localnet_url, tmp_path)
    _statement(outstanding(seeded), "CB-1", datetime.now(UTC) - timedelta(hours=1))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORPACTIONS_CRASH")}
    killed = _cli(
        "reserves", "check", "AAPL", env={**env, "CORPACTIONS_CRASH_AT": "memo_after_record"}
    )
    assert killed.returncode == -9, killed.stderr
    with db.session_scope() as session:
        (recorded,) = session.exec(select(BackingCheck)).all()
        assert recorded.attestation_signature is not None and recorded.attested_at is None
    for _ in range(10):  # the recorded attempt is asked about, and re-signed once it expired
        again = _cli("reserves", "publish", env=env)
        assert again.returncode == 0, again.stderr
        with db.session_scope() as session:
            check = session.get(BackingCheck, recorded.id)
            assert check is not None
        if check.attested_at is not None:
            break
        time.sleep(3)
    assert check.attested_at is not None
    memos = asyncio.run(
        _backing_memos(localnet_url, Pubkey.from_string(seeded.authority), seeded.stock_mint)
    )
    assert len(memos) == 1
    assert f"slot {check.slot} supply {seeded.supply} multiplier 1 custody" in memos[0]
    assert f"statement sha256 {check.statement_sha256} verdict backed" in memos[0]
    assert _cli("reserves", "publish", env=env).returncode == 0  # nothing more is sent
    assert (
        len(
            asyncio.run(
                _backing_memos(
                    localnet_url, Pubkey.from_string(seeded.authority), seeded.stock_mint
                )
            )
        )
        == 1
    )


def test_the_backing_api_and_status_show_the_latest_check_and_its_memo(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded = _world(monkeypatch, localnet_url, tmp_path)
    _statement(outstanding(seeded) - 1, "CB-1", datetime.now(UTC) - timedelta(hours=1))
    checked = _cli("reserves", "check", "AAPL")
    assert checked.returncode == 1 and "NOT backed (over_minted)" in checked.stdout
    from fastapi.testclient import TestClient

    from corpactions.api.app import create_app
    from corpactions.status import overview

    body = TestClient(create_app()).get("/v1/instruments/AAPL/backing").json()
    assert body["latest"]["verdict"] == "over_minted"
    assert body["latest"]["difference_shares"] == "1"
    assert body["latest"]["memo_signature"] and len(body["history"]) == 1
    with db.session_scope() as session:
        failing = overview(session)["backing_failing"]
    assert [(f["symbol"], f["verdict"]) for f in failing] == [("AAPL", "over_minted")]


def test_payouts_show_prints_the_funding_difference_and_approve_needs_the_flag(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, action_id = _snapshotted(monkeypatch, localnet_url, tmp_path, DIVIDEND, short=10)
    with db.session_scope() as session:
        plan = compute_plan(session=session, action_id=action_id, maker="maker").plan
        plan_id, plan_hash = str(plan.id), plan.plan_hash
    shown = _cli("payouts", "show", plan_id)
    assert shown.returncode == 0, shown.stderr
    assert "backing: FAILED (over_minted)" in shown.stdout
    assert "difference -2500000 base units" in shown.stdout
    with db.session_scope() as session:
        bob = write_keypair(tmp_path / "bob.json", ensure_operator(session, "bob"))
    approve_args = ("payouts", "approve", plan_id, "--plan-hash", plan_hash, "--key", str(bob))
    refused = _cli(*approve_args)
    assert refused.returncode == 2
    assert refused.stderr.startswith("error: plan") and "--acknowledge-backing-difference" in (
        refused.stderr
    )
    assert len(refused.stderr.strip().splitlines()) == 1
    accepted = _cli(*approve_args, "--acknowledge-backing-difference")
    assert accepted.returncode == 0, accepted.stderr
    with db.session_scope() as session:
        (approval,) = session.exec(select(Approval)).all()
    assert approval.approver == "bob" and "over-minted" in (approval.acknowledged or "")
    estimate = _cli("payouts", "execute", plan_id, "--dry-run", "--json")
    assert estimate.returncode == 0, estimate.stderr
    backing = orjson.loads(estimate.stdout)["backing"]
    assert (backing["verdict"], backing["funding_difference"]) == ("over_minted", "-2500000")


def test_the_monthly_task_checks_every_reported_instrument_and_publishes_the_result(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import celeryconfig
    from tasks.reserves import check_all_instruments

    monthly = celeryconfig.beat_schedule["check-backing-monthly"]
    assert monthly["task"] == "tasks.reserves.check_all"
    assert monthly["schedule"].day_of_month == {1}
    seeded = _world(monkeypatch, localnet_url, tmp_path)
    _statement(outstanding(seeded), "CB-1", datetime.now(UTC) - timedelta(hours=1))
    report = check_all_instruments()
    assert report["checked"] == {"AAPL": "backed"} and report["failed"] == {}
    (signature,) = report["published"].values()
    with db.session_scope() as session:
        (check,) = session.exec(select(BackingCheck)).all()
    assert check.trigger == "scheduled" and check.attestation_signature == signature
    assert check.attested_at is not None


def test_a_reinvestment_plan_on_a_failing_snapshot_needs_the_signed_acknowledgement(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from corpactions.corporate import decisions
    from tests.test_adjust import REINVEST, _plan, _setup

    seeded, action_id = _setup(localnet_url, tmp_path, monkeypatch, **REINVEST)
    short = Decimal(seeded.supply) / UNIT - 10  # the custodian holds 10 shares fewer
    _statement(short, "CB-R", datetime.now(UTC) - timedelta(hours=1))
    plan = _plan(action_id)
    plan_id = plan.id or 0
    assert check_instrument(session_factory=db.session_scope, symbol="AAPL").verdict != "backed"
    with db.session_scope() as session, pytest.raises(PlanError, match="failed its backing"):
        decisions.approve_multiplier_plan(
            session, plan_id, decision=multiplier_decision(session, plan_id, "bob")
        )
    with db.session_scope() as session:
        action = session.get(CorporateAction, action_id)
        assert action is not None
        required = multiplier_acknowledgement_required(session, action.instrument_id, None)
        assert required is not None and "AAPL" in required
        text = required.removeprefix("acknowledged: ")
        message = decisions.decision_message(session, plan_id, "approve", [text])
        approved = decisions.approve_multiplier_plan(
            session,
            plan_id,
            decision=Decision(
                "bob", sign_message(ensure_operator(session, "bob"), message), (text,)
            ),
        )
        assert approved.status == "approved"

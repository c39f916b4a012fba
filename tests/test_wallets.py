"""The wallet registry feeds payout plans: tax class, blocked and excluded wallets, read as the
registry stood when the snapshot was taken and committed to in the plan's inputs (its root).
Plans are computed from a real snapshot of the local chain."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from click.testing import Result
from solders.keypair import Keypair
from sqlmodel import select
from typer.testing import CliRunner

from corpactions import db
from corpactions.chain.keys import load_keypair, write_keypair
from corpactions.cli import app as cli
from corpactions.config import get_settings
from corpactions.errors import PlanError, SignatureRefused, WalletChangeRefused
from corpactions.feeds.ingest import ingest
from corpactions.feeds.ownformat import parse_csv
from corpactions.localnet.seed import SeedResult, seed
from corpactions.models import CorporateAction, PayoutLine, PayoutPlan, Snapshot, WalletRecord
from corpactions.payouts.plan import compute_plan
from corpactions.wallets.changes import PendingChange, Requested, prepare_change, record_change
from corpactions.wallets.registry import registry_at
from corpactions.wallets.signing import sign_change
from snapshots.take import take_snapshot
from tests.feed_corpus import csv_rows, own
from tests.operatorkit import add_operator, init_admin, revoke_operator
from tests.payflow import configure, register_aapl
from tests.walletkit import REGISTRAR, REGISTRAR_KEY, set_wallet

runner = CliRunner()


@dataclass
class World:
    seeded: SeedResult
    action_id: int
    holders: list[str]


@pytest.fixture
def world(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> World:
    seeded = asyncio.run(
        seed(rpc_url=localnet_url, keys_dir=tmp_path / "keys", holders=6, realistic=False)
    )
    configure(monkeypatch, localnet_url, seeded)
    holders = [w for w, _ in orjson.loads((Path(seeded.keys_dir) / "holders.json").read_bytes())]
    with db.session_scope() as session:
        register_aapl(session, seeded)
        ingest(parse_csv(csv_rows(own(gross_rate="0.2475"))), session=session)
        action = session.exec(select(CorporateAction)).one()
        return World(seeded, action.id or 0, holders)


def _snapshot(world: World) -> None:
    from corpactions.models import Instrument

    with db.session_scope() as session:
        action = session.get(CorporateAction, world.action_id)
        assert action is not None
        instrument = session.get(Instrument, action.instrument_id)
        assert instrument is not None
        take_snapshot(session=session, instrument=instrument, action=action)


def _plan(world: World) -> tuple[PayoutPlan, dict[str, PayoutLine]]:
    with db.session_scope() as session:
        plan = compute_plan(session=session, action_id=world.action_id, maker="maker").plan
        lines = {
            line.owner: line
            for line in session.exec(select(PayoutLine).where(PayoutLine.plan_id == plan.id))
        }
        session.expunge_all()
        return plan, lines


def test_a_w9_holder_is_not_withheld_and_the_others_are_at_the_default_rate(
    world: World,
) -> None:
    us_person, other = world.holders[0], world.holders[1]
    set_wallet(us_person, tax_class="w9")
    _snapshot(world)
    _, lines = _plan(world)
    assert lines[us_person].tax_class == "us_person"
    assert lines[us_person].gross > 0 and lines[us_person].withholding == 0
    assert lines[us_person].net == lines[us_person].gross
    assert lines[other].tax_class == "undocumented"
    expected = (Decimal(lines[other].gross) * Decimal("0.30")).to_integral_value("ROUND_HALF_UP")
    assert lines[other].withholding == int(expected) > 0


def test_a_w8ben_holder_is_withheld_at_its_treaty_rate(world: World) -> None:
    treaty = world.holders[0]
    set_wallet(treaty, tax_class="w8ben", treaty_rate="0.15")
    _snapshot(world)
    _, lines = _plan(world)
    expected = (Decimal(lines[treaty].gross) * Decimal("0.15")).to_integral_value("ROUND_HALF_UP")
    assert lines[treaty].tax_class == "treaty_15"
    assert lines[treaty].withholding == int(expected) > 0


def test_a_blocked_wallet_is_escrowed_with_its_reason(world: World) -> None:
    sanctioned = world.holders[1]
    set_wallet(sanctioned, blocked=True, reason="OFAC SDN list")
    _snapshot(world)
    plan, lines = _plan(world)
    assert lines[sanctioned].status == "escrowed"
    assert lines[sanctioned].status_reason == "wallet blocked: OFAC SDN list"
    assert plan.escrowed_total == lines[sanctioned].amount_due > 0
    assert {line.status for owner, line in lines.items() if owner != sanctioned} == {"pending"}


def test_an_excluded_wallet_is_out_of_the_pool(world: World) -> None:
    custodian = world.holders[2]
    set_wallet(custodian, excluded=True, reason="custodian omnibus")
    _snapshot(world)
    plan, lines = _plan(world)
    with db.session_scope() as session:
        snapshot = session.exec(select(Snapshot)).one()
        supply, excluded_total = snapshot.supply, snapshot.excluded_total
    custodian_held = _held(world, custodian)
    assert custodian not in lines and custodian_held > 0
    # the snapshot counts the registry-excluded wallet with the issuer's inventory: neither is
    # outstanding (the backing check reads the same total)
    assert excluded_total == world.seeded.issuer_inventory + custodian_held
    eligible = supply - excluded_total
    assert sum(line.shares for line in lines.values()) == eligible
    # The funded pool is $0.2475 times the eligible shares only (8 stock, 6 USDC decimals).
    assert plan.inputs["funded_amount"] == eligible * 2475 // 10**6


def _held(world: World, owner: str) -> int:
    from snapshots.parse import owners_as_base58
    from snapshots.take import load_holders

    with db.session_scope() as session:
        snapshot = session.exec(select(Snapshot)).one()
        holders = owners_as_base58(load_holders(snapshot))
    return int(holders.filter(holders["owner"] == owner)["amount"].sum())


def test_a_change_after_the_snapshot_does_not_move_the_plan(world: World) -> None:
    blocked, later_w9 = world.holders[1], world.holders[3]
    set_wallet(blocked, blocked=True, reason="KYC review")
    _snapshot(world)
    before, lines_before = _plan(world)
    set_wallet(blocked, blocked=False)
    set_wallet(later_w9, tax_class="w9")
    after, lines_after = _plan(world)
    assert after.id != before.id
    assert lines_after[blocked].status == "escrowed"
    assert lines_after[later_w9].withholding == lines_before[later_w9].withholding > 0
    assert after.inputs["wallet_registry"] == before.inputs["wallet_registry"]


def test_the_plan_records_the_registry_it_used_and_its_root_commits_to_it(world: World) -> None:
    set_wallet(world.holders[0], tax_class="w9")
    set_wallet(world.holders[1], blocked=True, reason="OFAC SDN list")
    _snapshot(world)
    plan, _ = _plan(world)
    with db.session_scope() as session:
        snapshot = session.exec(select(Snapshot)).one()
        state = registry_at(session, snapshot.created_at)
    recorded = plan.inputs["wallet_registry"]
    assert recorded == {
        "as_of": snapshot.created_at.isoformat(),
        "rows": 2,
        "sha256": state.sha256,
    }
    with db.session_scope() as session:
        stored = session.get(PayoutPlan, plan.id)
        assert stored is not None
        stored.inputs = {**stored.inputs, "wallet_registry": {**recorded, "rows": 1}}
        session.add(stored)
    from corpactions.payouts.plan import verify_hash

    with db.session_scope() as session:
        stored = session.get(PayoutPlan, plan.id)
        assert stored is not None
        assert verify_hash(session, stored) != stored.plan_hash


# Changes are signed by an operator key and verified against the operator registry.


@pytest.fixture
def admin_key(pg_ledger: str, tmp_path: Path) -> Path:
    """A registered admin 'alice' and her keypair file (0600)."""
    key = Keypair()
    with db.session_scope() as session:
        init_admin(session, "alice", key)
    path = tmp_path / "alice.json"
    write_keypair(path, key)
    return path


def _pending(address: str, operator: str = "alice", **requested: object) -> PendingChange:
    with db.session_scope() as session:
        pending = prepare_change(
            session,
            address,
            Requested(**requested),  # type: ignore[arg-type]
            operator=operator,
        )
    assert pending is not None
    return pending


def _record(pending: PendingChange, signature: str | None) -> None:
    with db.session_scope() as session:
        record_change(session, pending, signature=signature)  # type: ignore[arg-type]


def _rows() -> list[WalletRecord]:
    with db.session_scope() as session:
        rows = list(session.exec(select(WalletRecord)))
        session.expunge_all()
        return rows


WALLET = str(Keypair().pubkey())


@pytest.mark.parametrize(
    ("signer", "reason"),
    [
        (None, "must be signed by an operator key"),
        ("stranger", "not operator 'alice''s signature"),
    ],
    ids=["unsigned", "other-key"],
)
def test_an_unsigned_or_badly_signed_change_is_refused_and_nothing_recorded(
    admin_key: Path, signer: str | None, reason: str
) -> None:
    pending = _pending(WALLET, blocked=True, reason="OFAC SDN list")
    signature = None if signer is None else sign_change(Keypair(), pending.message)
    with pytest.raises(SignatureRefused, match=reason):
        _record(pending, signature)
    assert _rows() == []


def test_a_signature_over_other_text_is_refused(admin_key: Path) -> None:
    key = load_keypair(admin_key)
    blocked = _pending(WALLET, blocked=True, reason="OFAC SDN list")
    unblocked = _pending(WALLET, blocked=False, tax_class="w9")
    with pytest.raises(SignatureRefused, match="signature"):
        _record(unblocked, sign_change(key, blocked.message))
    assert _rows() == []


def test_an_operator_without_the_admin_role_cannot_change_the_registry(admin_key: Path) -> None:
    maker = Keypair()
    with db.session_scope() as session:
        add_operator(session, "mallory", ["maker"], [("alice", load_keypair(admin_key))], maker)
    pending = _pending(WALLET, operator="mallory", blocked=False, tax_class="w9")
    with pytest.raises(SignatureRefused, match="does not hold the admin role"):
        _record(pending, sign_change(maker, pending.message))
    assert _rows() == []


def test_a_signed_change_replayed_later_is_refused(admin_key: Path) -> None:
    """An old signed 'unblocked' cannot be re-applied over a later block: it names its row."""
    key = load_keypair(admin_key)
    _record(first := _pending(WALLET, blocked=True, reason="KYC"), sign_change(key, first.message))
    unblock = _pending(WALLET, blocked=False)
    signature = sign_change(key, unblock.message)
    _record(unblock, signature)
    _record(again := _pending(WALLET, blocked=True, reason="OFAC"), sign_change(key, again.message))
    with pytest.raises(WalletChangeRefused, match="row 2 exists"):
        _record(unblock, signature)
    assert [r.blocked for r in sorted(_rows(), key=lambda r: r.seq)] == [True, False, True]


def test_the_signed_text_names_the_deployment_wallet_row_and_whole_state(admin_key: Path) -> None:
    pending = _pending(WALLET, tax_class="w8ben", treaty_rate="0.15")
    assert pending.message.split("\n") == [
        "corpactions wallet change v1",
        f"deployment: {get_settings().deployment}",
        f"wallet: {WALLET}",
        "seq: 1",
        "tax_class: treaty_15",
        "tax_form: W-8BEN",
        "blocked: no",
        "blocked_reason: -",
        "excluded: no",
        "excluded_reason: -",
        "change: tax class treaty_15 (W-8BEN)",
        "operator: alice",
    ]


@pytest.mark.parametrize(
    ("requested", "reason"),
    [
        ({"tax_class": "w8ben"}, "needs its treaty rate"),
        ({"tax_class": "w8ben", "treaty_rate": "0.10"}, "treaty_10 .* is not in"),
        ({"tax_class": "martian"}, "unknown tax class"),
        ({"blocked": True}, "needs a reason"),
        ({"excluded": True}, "needs a reason"),
    ],
    ids=[
        "no-treaty-rate",
        "unconfigured-treaty",
        "unknown-class",
        "block-reason",
        "exclude-reason",
    ],
)
def test_a_change_the_policy_cannot_apply_is_refused(
    admin_key: Path, requested: dict[str, object], reason: str
) -> None:
    with pytest.raises(WalletChangeRefused, match=reason):
        _pending(WALLET, **requested)


def _cli(*args: str) -> Result:
    return runner.invoke(cli, ["wallets", *args])


def test_the_cli_sets_lists_and_shows_a_wallet_with_its_history(admin_key: Path) -> None:
    sign = ["--key", str(admin_key), "--operator", "Alice"]
    assert _cli("set", WALLET, "--tax-class", "w9", *sign).exit_code == 0
    blocked = _cli("set", WALLET, "--blocked", "--reason", "OFAC SDN list", *sign)
    assert blocked.exit_code == 0, blocked.output
    assert f"wallet {WALLET} row 2: blocked: OFAC SDN list" in blocked.output
    same = _cli("set", WALLET, "--blocked", "--reason", "OFAC SDN list", *sign)
    assert "nothing recorded" in same.output
    listed = orjson.loads(_cli("list", "--blocked", "--json").output)
    assert [(w["address"], w["tax_class"], w["blocked"]) for w in listed] == [
        (WALLET, "us_person", True)
    ]
    shown = orjson.loads(_cli("show", WALLET, "--json").output)
    assert shown["blocked_reason"] == "OFAC SDN list" and shown["tax_form"] == "W-9"
    assert [(h["seq"], h["change"], h["operator"]) for h in shown["history"]] == [
        (1, "tax class us_person (W-9)", "alice"),
        (2, "blocked: OFAC SDN list", "alice"),
    ]
    assert all(h["signature"] for h in shown["history"])


def test_the_cli_refuses_a_change_without_a_registered_key_in_one_line(
    admin_key: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other.json"
    write_keypair(other, Keypair())
    result = _cli("set", WALLET, "--tax-class", "w9", "--key", str(other), "--operator", "alice")
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert lines[0].startswith("error: ") and "signature" in lines[0]
    assert _rows() == []


def test_importing_a_sanctions_list_blocks_every_wallet_in_it(
    admin_key: Path, tmp_path: Path
) -> None:
    listed = [str(Keypair().pubkey()) for _ in range(3)]
    sdn = tmp_path / "sdn.csv"
    sdn.write_text("address\n" + "\n".join(listed) + "\n")
    sign = ["--key", str(admin_key), "--operator", "alice"]
    result = _cli("import", str(sdn), "--blocked", "--reason", "OFAC SDN 2026-12-01", *sign)
    assert result.exit_code == 0, result.output
    assert "3 wallet(s) changed, 0 already so" in result.output
    rows = _rows()
    assert sorted(r.address for r in rows) == sorted(listed)
    assert {(r.blocked, r.blocked_reason) for r in rows} == {(True, "OFAC SDN 2026-12-01")}
    assert all(r.source and r.source.startswith("import sdn.csv sha256 ") for r in rows)
    again = _cli("import", str(sdn), "--blocked", "--reason", "OFAC SDN 2026-12-01", *sign)
    assert "0 wallet(s) changed, 3 already so" in again.output


def test_one_bad_row_refuses_the_whole_file(admin_key: Path, tmp_path: Path) -> None:
    forms = tmp_path / "forms.csv"
    forms.write_text(
        "address,tax_class,treaty_rate\n"
        f"{Keypair().pubkey()},w9,\n"
        f"{Keypair().pubkey()},w8ben,0.15\n"
        "not-an-address,w9,\n"
    )
    result = _cli("import", str(forms), "--key", str(admin_key), "--operator", "alice")
    assert result.exit_code == 2
    assert "forms.csv line 4" in result.output and "nothing was recorded" in result.output
    assert _rows() == []


def test_a_registry_row_written_around_the_signature_check_stops_the_plan(world: World) -> None:
    """A row inserted by SQL (no valid signature) never moves money: the plan is refused."""
    set_wallet(world.holders[0], tax_class="w9")
    forged = world.holders[1]
    with db.session_scope() as session:
        session.add(
            WalletRecord(address=forged, seq=1, tax_class="us_person", change="tax class us_person")
        )
    _snapshot(world)
    with pytest.raises(
        PlanError, match=f"row 1 of wallet {forged} cannot be used: it is not signed"
    ):
        _plan(world)


def test_a_registry_row_whose_state_differs_from_the_signed_text_stops_the_plan(
    world: World,
) -> None:
    row = set_wallet(world.holders[1], blocked=True, reason="OFAC SDN list")
    with db.session_scope() as session:
        stored = session.get(WalletRecord, row.id)
        assert stored is not None
        stored.blocked = False  # edited in place, behind the registry's back
        session.add(stored)
    _snapshot(world)
    with pytest.raises(PlanError, match="its state is not the text that was signed"):
        _plan(world)


def test_a_change_signed_before_its_operator_was_revoked_still_counts(world: World) -> None:
    set_wallet(world.holders[1], blocked=True, reason="OFAC SDN list")
    second = Keypair()
    with db.session_scope() as session:
        add_operator(session, "bob", ["admin"], [(REGISTRAR, REGISTRAR_KEY)], second)
        revoke_operator(session, REGISTRAR, [("bob", second)])
    _snapshot(world)
    _, lines = _plan(world)
    assert lines[world.holders[1]].status == "escrowed"

"""The same Alembic migrations build and remove the ledger on PostgreSQL and SQLite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from corpactions import db

LEDGER_TABLES = {
    "instrument",
    "instrumentsymbol",
    "corporateaction",
    "corporateactionversion",
    "quarantinedrecord",
    "snapshot",
    "payoutplan",
    "payoutline",
    "lookuptable",
    "approval",
    "multiplierdecision",
    "payoutbatch",
    "walletrecord",
    "planfunding",
    "taskfailure",
    "webhookdelivery",
    "ballot",
    "ballotnonce",
    "meetingresult",
    "multiplierplan",
    "plannodes",
    "custodystatement",
    "quarantinedstatement",
    "auditorkey",
    "backingcheck",
    "operator",
    "operatorchange",
}


@pytest.fixture(params=["postgresql", "sqlite"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        url: str = request.getfixturevalue("empty_pg_url")
        return url
    return f"sqlite:///{tmp_path / 'ledger.db'}"


def _tables(url: str) -> set[str]:
    return set(sa.inspect(db.get_engine(url)).get_table_names()) - {"alembic_version"}


def test_upgrade_creates_every_ledger_table_then_downgrade_removes_them(empty_url: str) -> None:
    db.upgrade(empty_url)
    assert _tables(empty_url) == LEDGER_TABLES
    assert db.current_revision(empty_url) == db.head_revision()
    db.downgrade(empty_url, "base")
    assert _tables(empty_url) == set()
    assert db.current_revision(empty_url) is None


def test_migrations_match_the_models_exactly(empty_url: str) -> None:
    db.upgrade(empty_url)
    with db.get_engine(empty_url).connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []


def test_a_ledger_behind_the_code_is_refused_with_the_command_to_run(tmp_path: Path) -> None:
    from corpactions.errors import LedgerError

    url = f"sqlite:///{tmp_path / 'new.db'}"
    with pytest.raises(LedgerError, match="corpactions db upgrade"):
        db.require_current_schema(url)


def test_a_multiplier_plan_approved_before_decisions_were_recorded_keeps_its_approval(
    empty_url: str,
) -> None:
    db.upgrade(empty_url, "0009")
    with db.get_engine(empty_url).begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO instrument (id, symbol, mint, token_program, decimals, "
                "excluded_wallets, active, dividend_mode, created_at) VALUES (1, 'AAPL', 'M', "
                "'token2022', 8, '[]', true, 'usdc', '2026-11-01 00:00:00')"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO corporateaction (id, instrument_id, source, source_ref, kind, status,"
                " current_version, created_at, updated_at) VALUES (1, 1, 'own', 'S1',"
                " 'forward_split', 'approved', 1, '2026-11-01 00:00:00', '2026-11-01 00:00:00')"
            )
        )
        for plan_id, approver in ((1, "bob"), (2, None)):
            conn.execute(
                sa.text(
                    "INSERT INTO multiplierplan (id, action_id, action_version, instrument_id,"
                    " kind, factor, old_multiplier, new_multiplier, effective_timestamp, inputs,"
                    ' plan_hash, status, created_by, approved_by, approved_at, "check",'
                    " created_at) VALUES (:id, 1, 1, 1, 'forward_split', '2/1', '1.0', '2.0', 0,"
                    " '{}', :hash, :status, 'alice', :approver, :at, '{}',"
                    " '2026-11-01 00:00:00')"
                ),
                {
                    "id": plan_id,
                    "hash": f"{plan_id}" * 64,
                    "status": "approved" if approver else "draft",
                    "approver": approver,
                    "at": "2026-11-02 00:00:00" if approver else None,
                },
            )
    db.upgrade(empty_url)
    with db.get_engine(empty_url).connect() as conn:
        rows = conn.execute(
            sa.text("SELECT plan_id, approver, decision, plan_hash FROM multiplierdecision")
        ).all()
    assert [tuple(r) for r in rows] == [(1, "bob", "approve", "1" * 64)]


def test_versions_without_a_source_sequence_are_reordered_by_receipt_and_reasons_kept(
    empty_url: str,
) -> None:
    """0012: a version the source gave no sequence was keyed by its payload hash; it is
    re-keyed by its version number (the order of arrival), so the one received last ranks
    highest; a sequenced version keeps its key; a quarantine entry keeps its reason as a list."""
    db.upgrade(empty_url, "0010")
    blank = " " * 40
    keys = {1: f"{blank}|0|{'f' * 64}", 2: f"{blank}|0|{'0' * 64}", 3: f"{'7':>40}|1|{'a' * 64}"}
    with db.get_engine(empty_url).begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO instrument (id, symbol, mint, token_program, decimals, "
                "excluded_wallets, active, dividend_mode, created_at) VALUES (1, 'AAPL', 'M', "
                "'token', 8, '[]', true, 'usdc', '2026-11-01 00:00:00')"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO corporateaction (id, instrument_id, source, source_ref, kind, status,"
                " current_version, created_at, updated_at) VALUES (1, 1, 'polygon', 'D1',"
                " 'cash_dividend', 'announced', 1, '2026-11-01 00:00:00', '2026-11-01 00:00:00')"
            )
        )
        for number, key in keys.items():
            conn.execute(
                sa.text(
                    "INSERT INTO corporateactionversion (action_id, version, kind, function,"
                    " details, payload_sha256, sequence_key, raw_payload, received_at) VALUES"
                    " (1, :n, 'cash_dividend', 'NEWM', '{}', :sha, :key, '{}',"
                    " '2026-11-01 00:00:00')"
                ),
                {"n": number, "sha": str(number) * 64, "key": key},
            )
        conn.execute(
            sa.text(
                "INSERT INTO quarantinedrecord (source, reason, payload_sha256, raw_payload,"
                " received_at) VALUES ('file', 'unknown ticker ZZZZ', 'x', '{}',"
                " '2026-11-01 00:00:00')"
            )
        )
    db.upgrade(empty_url)
    with db.get_engine(empty_url).connect() as conn:
        rekeyed = dict(
            conn.execute(sa.text("SELECT version, sequence_key FROM corporateactionversion")).all()
        )
        reasons = conn.execute(sa.text("SELECT reasons FROM quarantinedrecord")).scalar_one()
    assert rekeyed[1] == f"{blank}|0|#{1:016d}" and rekeyed[2] == f"{blank}|0|#{2:016d}"
    assert rekeyed[2] > rekeyed[1]  # received last, ranks highest (the hash put it lowest)
    assert rekeyed[3] == keys[3]
    assert (json.loads(reasons) if isinstance(reasons, str) else reasons) == ["unknown ticker ZZZZ"]


def test_wallet_flags_set_before_the_registry_carry_over_as_first_rows(empty_url: str) -> None:
    """0016 (wallets): each row of the mutable wallet table becomes that wallet's first registry
    row (unsigned, saying where it came from), recorded when it was last changed."""
    db.upgrade(empty_url, "0015")
    with db.get_engine(empty_url).begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO wallet (address, blocked, blocked_reason, tax_class, updated_at) "
                "VALUES ('W1', true, 'sanctions', NULL, '2026-11-01 00:00:00'), "
                "('W2', false, NULL, 'us_person', '2026-11-02 00:00:00')"
            )
        )
    db.upgrade(empty_url)
    with db.get_engine(empty_url).connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT address, seq, blocked, blocked_reason, tax_class, excluded, source, "
                "signature FROM walletrecord ORDER BY address"
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        ("W1", 1, True, "sanctions", None, False, "migration 0016", None),
        ("W2", 1, False, None, "us_person", False, "migration 0016", None),
    ]

"""The same Alembic migrations build and remove the ledger on PostgreSQL and SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from corpactions import db

LEDGER_TABLES = {
    "instrument",
    "corporateaction",
    "corporateactionversion",
    "quarantinedrecord",
    "snapshot",
    "payoutplan",
    "payoutline",
    "approval",
    "payoutbatch",
    "wallet",
    "taskfailure",
    "ballot",
    "meetingresult",
    "multiplierplan",
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

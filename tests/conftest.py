"""Fixtures for the real services on this machine: PostgreSQL, Redis, SQLite files.

Each test session creates its own scratch PostgreSQL database (migrated with Alembic, as
production is) and drops it at the end, so parallel runs and CI never share state.
Set CORPACTIONS_TEST_PG_ADMIN_URL / CORPACTIONS_TEST_REDIS_URL to point elsewhere.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
import sqlalchemy as sa
from sqlmodel import SQLModel

from corpactions import db
from corpactions.config import get_settings

PG_ADMIN_URL = os.environ.get(
    "CORPACTIONS_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("CORPACTIONS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
# Before anything loads celeryconfig: every task a test sends, directly or as a follow-up of
# another task, goes to the tests' Redis database, never to the machine's default one.
os.environ["CORPACTIONS_BROKER_URL"] = REDIS_URL


def _with_database(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, migrated to head."""
    name = f"corpactions_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = _with_database(PG_ADMIN_URL, name).replace("postgresql://", "postgresql+psycopg://", 1)
    db.upgrade(url)
    yield url
    db.dispose_engines()
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def empty_pg_url() -> Iterator[str]:
    """A PostgreSQL database with no schema at all (for migration tests)."""
    name = f"corpactions_e_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = _with_database(PG_ADMIN_URL, name).replace("postgresql://", "postgresql+psycopg://", 1)
    yield url
    db.dispose_engines()
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def truncate_all(url: str) -> None:
    # A fresh pool for every test: a test that cut the ledger's connections (the outage tests)
    # must not hand the next one a pooled connection in an unknown state (seen once: a TRUNCATE
    # that never reached the server and waited forever).
    db.dispose_engines()
    engine = db.get_engine(url)
    tables = [t.name for t in reversed(SQLModel.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            quoted = ", ".join(f'"{t}"' for t in tables)
            conn.execute(sa.text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(sa.text(f'DELETE FROM "{table}"'))


@pytest.fixture
def pg_ledger(pg_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """The session's PostgreSQL ledger, emptied, configured as *the* ledger for this test."""
    truncate_all(pg_url)
    _configure(monkeypatch, tmp_path, pg_url)
    yield pg_url
    get_settings.cache_clear()


@pytest.fixture
def sqlite_ledger(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """A migrated embedded SQLite ledger in a temporary data dir, configured for this test."""
    url = f"sqlite:///{tmp_path / 'data' / 'ledger.db'}"
    _configure(monkeypatch, tmp_path, None)
    db.upgrade(url)
    yield url
    db.dispose_engines()
    get_settings.cache_clear()


@pytest.fixture(params=["postgresql", "sqlite"])
def ledger(request: pytest.FixtureRequest) -> str:
    """Runs the test once on PostgreSQL and once on the embedded SQLite ledger."""
    name = "pg_ledger" if request.param == "postgresql" else "sqlite_ledger"
    url: str = request.getfixturevalue(name)
    return url


def _configure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url: str | None) -> None:
    monkeypatch.setenv("CORPACTIONS_DATA_DIR", str(tmp_path / "data"))
    if url is None:
        monkeypatch.delenv("CORPACTIONS_DATABASE_URL", raising=False)
    else:
        monkeypatch.setenv("CORPACTIONS_DATABASE_URL", url)
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def _no_claims_left_over() -> None:
    """Plan ids restart in every test's ledger: a claim an earlier test left in the tests' Redis
    (a killed worker's, say) must not hold a later test's plan."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        for key in client.scan_iter("corpactions:lock:*"):
            client.delete(key)
    except redis.RedisError:
        pass  # tests that need Redis say so themselves
    finally:
        client.close()


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    """The machine's real Redis, on a database index reserved for tests, emptied."""
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture(scope="session")
def localnet_url() -> Iterator[str]:
    """A real ``corpactions localnet`` process for the whole test session (50 ms slots)."""
    from tests.chainkit import LocalnetProcess

    process = LocalnetProcess("--slot-ms", "50")
    yield process.url
    process.stop()


@pytest.fixture(scope="module")
def api_data(
    pg_url: str, localnet_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[object]:
    """Ledger data made by the real pipeline on the localnet (see ``tests.apikit``), once per
    module; the module's tests only read it."""
    from tests.apikit import build_api_data

    with pytest.MonkeyPatch.context() as monkeypatch:
        yield build_api_data(pg_url, localnet_url, tmp_path_factory.mktemp("api"), monkeypatch)
        get_settings.cache_clear()

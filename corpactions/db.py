"""The ledger database: one engine per URL, session helpers, and Alembic migrations.

Workers and the CLI use ``session_scope()``; the API reads through ``get_engine(autocommit=True)``
(``corpactions.api.deps.read_session``).
Schema changes go through the migrations in ``corpactions/migrations`` (``corpactions db upgrade``),
which run unchanged on PostgreSQL and SQLite.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, ExceptionContext
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

if TYPE_CHECKING:  # Alembic is imported where migrations run (0.2 s a command otherwise)
    from alembic.config import Config

from corpactions.config import get_settings, normalize_database_url
from corpactions.errors import LedgerError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
SessionFactory = Callable[[], AbstractContextManager[Session]]
"""What workers and commands pass around to open a ledger session: ``session_scope`` itself, or
a test's own."""


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _failed_ping_is_a_disconnect(context: ExceptionContext) -> None:
    """A pooled connection whose liveness check (``pool_pre_ping``) failed in any way is dead:
    the pool opens a new one (which raises ``OperationalError``, hence ``LedgerError``, while
    the ledger is down). Without this, a connection that died during the check can escape as a
    ``ProgrammingError`` (seen with the ledger cut mid-payout: "can't change 'autocommit' now:
    connection in transaction status ACTIVE", SQLAlchemy's psycopg ping restoring autocommit on
    the broken connection), which is not transient, so the task gave up at once."""
    if context.is_pre_ping:
        context.is_disconnect = True


_ENGINES: dict[str, Engine] = {}


def _create_engine(url: str, *, autocommit: bool = False) -> Engine:
    options: dict[str, Any] = {"isolation_level": "AUTOCOMMIT"} if autocommit else {}
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"check_same_thread": False}, **options)
        sa.event.listen(engine, "connect", _on_sqlite_connect)
        return engine
    # psycopg prepares a statement after 5 runs; PostgreSQL may then use a generic plan that
    # scans the whole table for a large IN list (seen: ingest slowing 15x past 50k actions).
    # The autocommit engine serves the API's few fixed read shapes: those keep psycopg's
    # default (prepared after 5 runs), which saves planning a six-table join on every request.
    prepare = {} if autocommit else {"prepare_threshold": None}
    if autocommit:  # the API's pool: as many connections as its threads run queries at once
        options.update(pool_size=20, max_overflow=20)
    engine = sa.create_engine(url, pool_pre_ping=True, connect_args=prepare, **options)
    sa.event.listen(engine, "handle_error", _failed_ping_is_a_disconnect)
    return engine


def get_engine(url: str | None = None, *, autocommit: bool = False) -> Engine:
    """The engine for ``url`` (default: the configured ledger), created once per process.
    ``autocommit`` engines (their own pool) serve single-statement reads without BEGIN and
    ROLLBACK round trips."""
    resolved = normalize_database_url(url) if url else get_settings().ledger_url
    key = f"{resolved}#autocommit" if autocommit else resolved
    engine = _ENGINES.get(key)
    if engine is None:
        engine = _ENGINES[key] = _create_engine(resolved, autocommit=autocommit)
    return engine


def dispose_engines(*, close: bool = True) -> None:
    """Forget the engines and their pooled connections (tests). A forked process passes
    ``close=False``: the connections are its parent's to close, never to be used here."""
    while _ENGINES:
        _, engine = _ENGINES.popitem()
        engine.dispose(close=close)


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(get_engine(url), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except OperationalError as exc:
            session.rollback()
            raise LedgerError(f"the ledger database failed: {exc.orig}") from exc
        except BaseException:
            session.rollback()
            raise


def alembic_config(url: str | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url or get_settings().ledger_url)
    cfg.attributes["configure_logger"] = False
    return cfg


def _run_migration(action: str, url: str | None, revision: str) -> None:
    resolved = normalize_database_url(url) if url else get_settings().ledger_url
    if resolved.startswith("sqlite:///"):
        Path(resolved.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    from alembic import command

    try:
        if action == "upgrade":
            command.upgrade(alembic_config(resolved), revision)
        else:
            command.downgrade(alembic_config(resolved), revision)
    except OperationalError as exc:
        raise LedgerError(f"cannot migrate the ledger at {_redact(resolved)}: {exc.orig}") from exc


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Bring the ledger schema to ``revision`` (default: the newest)."""
    _run_migration("upgrade", url, revision)


def downgrade(url: str | None = None, revision: str = "base") -> None:
    _run_migration("downgrade", url, revision)


def current_revision(url: str | None = None) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with get_engine(url).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


_REVISION = re.compile(r"^(down_revision|revision)\b[^=]*=\s*(None|'[^']*'|\"[^\"]*\")", re.M)


def _stamped_revision(url: str | None) -> str | None:
    """The ledger's revision as Alembic stamps it (``alembic_version``), read without Alembic;
    None for an empty ledger."""
    engine = get_engine(url)
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return None
        rows = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
    if len(rows) > 1:
        raise LedgerError(f"the ledger has several schema heads: {', '.join(sorted(rows))}")
    return rows[0] if rows else None


def _code_head() -> str | None:
    """The newest migration, read from the migration files' ``revision``/``down_revision``
    lines (a linear history); Alembic decides whenever the files say anything else."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        found = {key: value.strip("'\"") for key, value in _REVISION.findall(path.read_text())}
        if "revision" not in found or "down_revision" not in found:
            return head_revision()
        revisions.add(found["revision"])
        if found["down_revision"] != "None":
            parents.add(found["down_revision"])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else head_revision()


def require_current_schema(url: str | None = None) -> None:
    """Refuse to work on a ledger whose schema is missing or behind the code, naming the
    ledger's URL. A SQLite ledger file that does not exist is not created by asking."""
    resolved = normalize_database_url(url) if url else get_settings().ledger_url
    where = _redact(resolved)
    _require_existing_sqlite_file(resolved, where)
    try:
        current = _stamped_revision(url)
    except OperationalError as exc:
        raise LedgerError(f"cannot reach the ledger database {where}: {exc.orig}") from exc
    head = _code_head()
    if current is None:
        raise LedgerError(
            f"the ledger at {where} has no schema (the code needs {head})",
            hint="run 'corpactions db upgrade', or set CORPACTIONS_DATABASE_URL to your ledger",
        )
    if current != head:
        raise LedgerError(
            f"the ledger schema at {where} is at {current}, the code needs {head}",
            hint="run 'corpactions db upgrade'",
        )


def _require_existing_sqlite_file(url: str, where: str) -> None:
    if not url.startswith("sqlite"):
        return
    path = url.removeprefix("sqlite:///")
    if not path or path == ":memory:" or path.startswith("file:") or Path(path).exists():
        return
    unset = "" if get_settings().database_url else " (CORPACTIONS_DATABASE_URL is not set)"
    raise LedgerError(
        f"no ledger at {where}{unset}",
        hint="run 'corpactions db upgrade' to create it, or set CORPACTIONS_DATABASE_URL",
    )


def _redact(url: str) -> str:
    return sa.engine.make_url(url).render_as_string(hide_password=True)

"""The admin CLI: help everywhere, one-line errors with exit 2, instruments on both ledgers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa
import typer
from typer._click.utils import make_default_short_help
from typer.testing import CliRunner

from corpactions import db
from corpactions.cli import app
from corpactions.cli.root import COMMANDS, load_command

runner = CliRunner()
GROUPS = [
    "db",
    "instruments",
    "feeds",
    "actions",
    "snapshot",
    "payouts",
    "reserves",
    "adjust",
    "localnet",
    "api",
    "demo",
    "status",
    "verify-line",
    "worker",
    "beat",
    "operators",
    "sign",
    "wallets",
    "reports",
]
MINT = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
OTHER_MINT = "So11111111111111111111111111111111111111112"
WALLET = "11111111111111111111111111111111"


def test_root_help_lists_every_group() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for group in GROUPS:
        assert f"  {group} " in result.output


HEAVY = {"polars", "solders", "sqlalchemy", "sqlmodel", "fastapi", "celery", "numpy", "httpx"}


def _imported(args: list[str], env: dict[str, str] | None = None) -> set[str]:
    """Top-level packages a fresh ``python -m corpactions.cli ARGS`` imports (-X importtime)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "corpactions.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[1],
        env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.startswith("import time:")]
    modules = {line.rsplit("|", 1)[1].strip() for line in lines[1:]}
    return modules | {module.split(".")[0] for module in modules}


def test_root_help_imports_no_domain_library() -> None:
    """Every command pays the root's start: it loads no command group, hence none of polars,
    solders, SQLAlchemy, FastAPI or Celery."""
    imported = _imported(["--help"])
    assert not any(
        module.startswith("corpactions.cli.")
        for module in imported - {"corpactions.cli.root", "corpactions.cli.__main__"}
    )
    assert "typer" in imported  # the probe sees imports at all
    assert not imported & HEAVY, sorted(imported & HEAVY)


def test_a_ledger_read_imports_no_alembic(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A ledger read checks the schema without Alembic: the stamped revision against the
    migration files' head, both held here to what Alembic says."""
    from corpactions.config import get_settings

    monkeypatch.setenv("CORPACTIONS_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CORPACTIONS_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        db.upgrade()
        assert db._stamped_revision(None) == db.current_revision() == db.head_revision()
        assert db._code_head() == db.head_revision()
    finally:
        db.dispose_engines()
        get_settings.cache_clear()
    imported = _imported(["instruments", "list", "--json"], env=dict(os.environ))
    assert "sqlalchemy" in imported
    assert not imported & {"alembic", "polars", "solders", "fastapi", "celery"}


def test_a_group_help_imports_only_its_own_group() -> None:
    imported = _imported(["db", "--help"])
    assert "sqlalchemy" in imported
    assert not imported & {"polars", "solders", "fastapi", "celery"}


def test_the_root_listing_is_each_commands_own_help() -> None:
    """The listing is written from COMMANDS without importing them; it says what the loaded
    commands say."""
    assert set(COMMANDS) == {*GROUPS, "meetings"}
    for name, (_module, _attribute, text) in COMMANDS.items():
        command = load_command(name)
        assert command.name == name
        for limit in (30, 45, 66, 200):
            assert make_default_short_help(text, limit) == command.get_short_help_str(limit), name
    group = typer.main.get_command(app)
    assert group.list_commands(typer.Context(group)) == list(COMMANDS)


@pytest.mark.parametrize("group", GROUPS)
def test_every_group_has_help(group: str) -> None:
    result = runner.invoke(app, [group, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def _one_error_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert lines[0].startswith("error: ")
    assert "Traceback" not in text
    return lines[0]


def test_an_unknown_option_is_one_line_and_exit_2() -> None:
    result = runner.invoke(app, ["instruments", "list", "--bogus"])
    assert result.exit_code == 2
    assert "--bogus" in _one_error_line(result.output)


def test_a_missing_argument_is_one_line_and_exit_2() -> None:
    result = runner.invoke(app, ["instruments", "add", "--mint", MINT])
    assert result.exit_code == 2
    assert "symbol" in _one_error_line(result.output).lower()


def test_a_bad_option_value_is_one_line_and_exit_2() -> None:
    result = runner.invoke(app, ["instruments", "add", "AAPL", "--mint", MINT, "--decimals", "x"])
    assert result.exit_code == 2
    assert "--decimals" in _one_error_line(result.output)


def test_instruments_add_then_list_as_json(ledger: str) -> None:
    added = runner.invoke(
        app,
        [
            "instruments",
            "add",
            "aapl",
            "--mint",
            MINT,
            "--program",
            "token2022",
            "--decimals",
            "8",
            "--exclude",
            WALLET,
            "--json",
        ],
    )
    assert added.exit_code == 0, added.output
    assert orjson.loads(added.stdout)["symbol"] == "AAPL"
    runner.invoke(app, ["instruments", "add", "MSFT", "--mint", OTHER_MINT])
    listed = runner.invoke(app, ["instruments", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = orjson.loads(listed.stdout)
    assert [(r["symbol"], r["mint"], r["token_program"]) for r in rows] == [
        ("AAPL", MINT, "token2022"),
        ("MSFT", OTHER_MINT, "token"),
    ]
    assert rows[0]["excluded_wallets"] == [WALLET]


def _instrument_count(url: str) -> int:
    with db.get_engine(url).connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM instrument")).scalar_one())


@pytest.mark.parametrize(
    ("mint", "reason"),
    [
        ("EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt10", "not base58"),
        ("EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1vEPj", "not 32"),
        ("abc", "not 32"),
        ("", "empty"),
    ],
)
def test_a_malformed_mint_exits_2_with_a_clear_message_and_writes_nothing(
    ledger: str, mint: str, reason: str
) -> None:
    result = runner.invoke(app, ["instruments", "add", "AAPL", "--mint", mint])
    assert result.exit_code == 2
    assert reason in _one_error_line(result.output)
    assert _instrument_count(ledger) == 0


def test_registering_a_symbol_twice_is_refused(ledger: str) -> None:
    assert runner.invoke(app, ["instruments", "add", "AAPL", "--mint", MINT]).exit_code == 0
    again = runner.invoke(app, ["instruments", "add", "AAPL", "--mint", OTHER_MINT])
    assert again.exit_code == 2
    assert "already registered" in _one_error_line(again.output)
    assert _instrument_count(ledger) == 1


def test_db_upgrade_creates_the_embedded_ledger(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pytest.TempPathFactory
) -> None:
    from corpactions.config import get_settings

    monkeypatch.setenv("CORPACTIONS_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CORPACTIONS_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["db", "upgrade"])
        assert result.exit_code == 0, result.output
        assert db.current_revision() == db.head_revision()
    finally:
        db.dispose_engines()
        get_settings.cache_clear()


def test_commands_refuse_a_ledger_that_was_never_migrated(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pytest.TempPathFactory
) -> None:
    from corpactions.config import get_settings

    monkeypatch.setenv("CORPACTIONS_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CORPACTIONS_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["instruments", "list"])
        assert result.exit_code == 1
        assert "corpactions db upgrade" in _one_error_line(result.output)
    finally:
        db.dispose_engines()
        get_settings.cache_clear()


def test_a_worker_for_an_unknown_queue_is_refused_in_one_line(sqlite_ledger: str) -> None:
    result = runner.invoke(app, ["worker", "--queues", "payouts,bogus"])
    assert result.exit_code == 2
    assert "unknown queue(s) bogus" in _one_error_line(result.output)


def test_a_worker_without_a_reachable_broker_says_which_setting(
    sqlite_ledger: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from corpactions.config import get_settings

    monkeypatch.setenv("CORPACTIONS_BROKER_URL", "redis://127.0.0.1:1/0")
    get_settings.cache_clear()
    result = runner.invoke(app, ["beat"])
    assert result.exit_code == 2
    line = _one_error_line(result.output)
    assert "cannot reach the broker at redis://127.0.0.1:1/0" in line
    assert "CORPACTIONS_BROKER_URL" in line


def test_adjust_show_prints_iso_times_and_no_python_reprs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from corpactions.cli.adjust import _show

    _show(
        {
            "id": 3,
            "action_id": 9,
            "kind": "forward_split",
            "status": "sent",
            "factor": "2",
            "old_multiplier": "1",
            "new_multiplier": "2",
            "effective_timestamp": 1_795_000_000,
            "pending_at_planning": None,
            "plan_hash": "f" * 64,
            "maker": "alice",
            "approvals": ["bob"],
            "approvals_required": 1,
            "signature": "5" * 88,
            "check": {"multiplier": "2", "matches": True},
            "error": None,
        },
        as_json=False,
    )
    out = capsys.readouterr().out
    assert "from 2026-11-18T11:06:40+00:00" in out
    assert "forward split (shares)" in out
    assert f"    {'f' * 64}\n" in out and f"    {'5' * 88}\n" in out
    assert "on-chain check: multiplier: 2; matches: yes" in out
    assert "{" not in out and "[" not in out and "unix" not in out

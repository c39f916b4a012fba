"""Key hygiene: a secret-key file its group or others may access is refused, as ssh refuses such
a private key; everything corpactions writes that holds a secret key is created 0600."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from solders.keypair import Keypair
from structlog.testing import capture_logs
from typer.testing import CliRunner

from corpactions.chain.keys import load_keypair, load_or_create_keypair, write_keypair
from corpactions.cli import app
from corpactions.config import get_settings
from corpactions.errors import ConfigurationError

runner = CliRunner()


@pytest.fixture(autouse=True)
def _settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.delenv("CORPACTIONS_ALLOW_INSECURE_KEYS", raising=False)
    monkeypatch.setenv("CORPACTIONS_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _key_file(path: Path, mode: int) -> Keypair:
    """A keypair file written by the test itself (not by the code under test)."""
    keypair = Keypair()
    path.write_bytes(orjson.dumps(list(bytes(keypair))))
    path.chmod(mode)
    return keypair


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o602, 0o666, 0o610])
def test_a_keypair_file_group_or_others_can_access_is_refused_with_the_chmod_to_run(
    tmp_path: Path, mode: int
) -> None:
    path = tmp_path / "payout.json"
    _key_file(path, mode)
    with pytest.raises(ConfigurationError) as refused:
        load_keypair(path)
    line = refused.value.one_line()
    assert f"keypair file {path} has mode {mode:04o}" in line
    assert f"chmod 600 {path}" in line
    assert "\n" not in line


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_a_keypair_file_only_its_owner_can_access_is_used(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "payout.json"
    keypair = _key_file(path, mode)
    assert load_keypair(path).pubkey() == keypair.pubkey()


def test_the_override_uses_an_open_keypair_file_and_logs_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "payout.json"
    keypair = _key_file(path, 0o644)
    monkeypatch.setenv("CORPACTIONS_ALLOW_INSECURE_KEYS", "1")
    get_settings.cache_clear()
    with capture_logs() as logs:
        assert load_keypair(path).pubkey() == keypair.pubkey()
    [warning] = [entry for entry in logs if entry["log_level"] == "warning"]
    assert warning["file"] == str(path)
    assert warning["mode"] == "0644"
    assert "CORPACTIONS_ALLOW_INSECURE_KEYS" in warning["event"]


def test_a_command_given_an_open_payout_key_stops_with_one_line(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    _key_file(keys / "payout-authority.json", 0o644)
    result = runner.invoke(
        app,
        [
            "localnet",
            "seed",
            "--rpc",
            "http://127.0.0.1:9",
            "--holders",
            "1",
            "--keys-dir",
            str(keys),
        ],
    )
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code != 0
    assert len(lines) == 1, result.output
    assert f"chmod 600 {keys / 'payout-authority.json'}" in lines[0]
    assert "Traceback" not in result.output


@pytest.mark.parametrize("umask", [0o000, 0o022])
def test_keypair_files_are_created_0600_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    previous = os.umask(umask)
    try:
        write_keypair(tmp_path / "new" / "a.json", Keypair())
        load_or_create_keypair(tmp_path / "new" / "b.json")
    finally:
        os.umask(previous)
    assert _mode(tmp_path / "new" / "a.json") == 0o600
    assert _mode(tmp_path / "new" / "b.json") == 0o600
    assert _mode(tmp_path / "new") == 0o700 & ~umask


def test_rewriting_an_open_key_file_makes_it_private_before_the_key_is_written(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.json"
    _key_file(path, 0o644)
    keypair = Keypair()
    write_keypair(path, keypair)
    assert _mode(path) == 0o600
    assert load_keypair(path).pubkey() == keypair.pubkey()

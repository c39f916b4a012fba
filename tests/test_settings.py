"""Settings come from CORPACTIONS_* variables, with embedded defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from corpactions.config import MAINNET_USDC_MINT, Settings


def test_defaults_use_an_embedded_sqlite_ledger_under_the_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CORPACTIONS_DATABASE_URL", raising=False)
    monkeypatch.delenv("CORPACTIONS_BROKER_URL", raising=False)  # the suite points it at db 15
    monkeypatch.setenv("CORPACTIONS_DATA_DIR", str(tmp_path))
    settings = Settings(_env_file=None)
    assert settings.ledger_url == f"sqlite:///{tmp_path.resolve() / 'ledger.db'}"
    assert settings.broker_url == "redis://127.0.0.1:6379/0"
    assert settings.usdc_mint == MAINNET_USDC_MINT
    assert settings.authority_keypair_path == tmp_path / "keys" / "payout-authority.json"


def test_every_setting_can_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORPACTIONS_RPC_URL", "http://127.0.0.1:9999")
    monkeypatch.setenv("CORPACTIONS_DATABASE_URL", "postgres://u@h/db")
    monkeypatch.setenv("CORPACTIONS_BROKER_URL", "redis://10.0.0.1:6379/3")
    monkeypatch.setenv("CORPACTIONS_KEYPAIR_PATH", "/secure/authority.json")
    monkeypatch.setenv("CORPACTIONS_COMMITMENT", "finalized")
    settings = Settings(_env_file=None)
    assert settings.rpc_url == "http://127.0.0.1:9999"
    assert settings.ledger_url == "postgresql+psycopg://u@h/db"
    assert settings.broker_url == "redis://10.0.0.1:6379/3"
    assert settings.authority_keypair_path == Path("/secure/authority.json")
    assert settings.commitment == "finalized"


def test_an_unknown_commitment_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORPACTIONS_COMMITMENT", "eventually")
    with pytest.raises(ValidationError, match="commitment"):
        Settings(_env_file=None)


def test_settings_read_a_dotenv_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CORPACTIONS_RPC_URL", raising=False)
    env_file = tmp_path / ".env"
    env_file.write_text("CORPACTIONS_RPC_URL=http://127.0.0.1:7777\n")
    assert Settings(_env_file=env_file).rpc_url == "http://127.0.0.1:7777"

"""One place for every setting: ``Settings`` reads ``CORPACTIONS_*`` variables and ``.env``.

Every field is documented where it is declared; ``corpactions --help`` and the README list them.
The payout authority's key is only ever referred to by its *path*; its bytes are read by
``corpactions.chain.keys`` at the moment of signing and never logged or stored.
"""

from __future__ import annotations

from datetime import time
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from corpactions.errors import ConfigurationError

MAINNET_USDC_MINT = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
LOCALNET_RPC_URL = "http://127.0.0.1:8899"

Commitment = Literal["processed", "confirmed", "finalized"]


class Settings(BaseSettings):
    """Runtime configuration. Each field is also ``CORPACTIONS_<FIELD>`` in the environment."""

    model_config = SettingsConfigDict(
        env_prefix="CORPACTIONS_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    data_dir: Path = Field(
        default=Path(".corpactions"),
        description="Where the embedded ledger, snapshots, exports and local keypairs live.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the ledger. Default: SQLite file ledger.db in data_dir.",
    )
    broker_url: str = Field(default="redis://127.0.0.1:6379/0", description="Celery broker.")
    rpc_url: str = Field(default=LOCALNET_RPC_URL, description="Solana JSON-RPC endpoint.")
    keypair_path: Path | None = Field(
        default=None,
        description="Payout authority keypair (Solana CLI JSON, 64 bytes). "
        "Default: data_dir/keys/payout-authority.json.",
    )
    payer_address: str | None = Field(
        default=None,
        description="Public key of the payout authority, for hosts without its keypair (an "
        "approver's machine funding a plan). Default: read from keypair_path.",
    )
    usdc_mint: str = Field(default=MAINNET_USDC_MINT, description="Mint of the payout currency.")
    payout_decimals: int = Field(default=6, ge=0, le=18, description="Decimals of usdc_mint.")
    commitment: Commitment = Field(default="confirmed", description="Commitment for reads.")
    rpc_timeout_seconds: float = Field(default=30.0, gt=0, description="Per-request RPC timeout.")
    snapshot_pagination: Literal["auto", "always", "never"] = Field(
        default="auto",
        description="getProgramAccountsV2 paging: auto (when plain getProgramAccounts is "
        "refused), always, or never.",
    )
    snapshot_page_limit: int = Field(default=10_000, ge=1, le=10_000, description="V2 page size.")
    snapshot_attempts: int = Field(
        default=3, ge=1, le=20, description="Reads tried until balances reconcile with supply."
    )
    record_date_cutoff: time = Field(
        default=time(23, 59, 59), description="Time of day positions are struck on the record date."
    )
    record_date_timezone: str = Field(
        default="America/New_York", description="Zone of record_date_cutoff (IANA name)."
    )
    polygon_api_key: SecretStr | None = Field(default=None, description="Polygon API key.")
    polygon_base_url: str = Field(default="https://api.polygon.io", description="Polygon API.")
    polygon_api: Literal["v3", "v1"] = Field(
        default="v3",
        description="v3: /v3/reference/{dividends,splits}; v1: /stocks/v1/{dividends,splits}.",
    )
    alpaca_key_id: str | None = Field(default=None, description="Alpaca API key id.")
    alpaca_secret_key: SecretStr | None = Field(default=None, description="Alpaca API secret.")
    alpaca_base_url: str = Field(default="https://api.alpaca.markets", description="Alpaca API.")
    feed_timeout_seconds: float = Field(default=30.0, gt=0, description="Per-request timeout.")
    feed_max_retries: int = Field(default=5, ge=0, le=20, description="Retries on 429/5xx.")
    feed_lookback_days: int = Field(
        default=30, ge=1, le=3650, description="Default window of 'feeds pull' without --since."
    )
    feed_max_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=1024,
        description="Largest feed file or provider response read; a larger one is refused whole "
        "(read streaming, never loaded past this).",
    )
    tax_rates: dict[str, Decimal] = Field(
        default_factory=lambda: {
            "undocumented": Decimal("0.30"),
            "us_person": Decimal("0"),
            "treaty_15": Decimal("0.15"),
        },
        description="Withholding rate per tax class, as fractions (JSON object in the env).",
    )
    default_tax_class: str = Field(
        default="undocumented", description="Tax class of wallets without one."
    )
    minimum_payout: int = Field(
        default=100_000,
        ge=0,
        description="Lines below this many payout base units are carried to a later payout.",
    )
    frozen_policy: Literal["escrow", "pay"] = Field(
        default="escrow", description="Holders whose stock tokens are frozen: escrow or pay."
    )
    approvals_required: int = Field(
        default=1, ge=1, le=10, description="Approvals needed besides the plan's maker."
    )
    treasury_account: str | None = Field(
        default=None,
        description="USDC treasury account that funds each plan and takes back what a plan "
        "leaves. Default: the treasury owner's associated account.",
    )
    treasury_owner: str | None = Field(
        default=None,
        description="Public key owning the treasury account (a cold key, a multisig vault). "
        "Default: the treasury keypair's key if set, else the payout authority's.",
    )
    treasury_keypair_path: Path | None = Field(
        default=None,
        description="Treasury owner keypair on this host. Set: the host funds approved plans "
        "itself. Unset: funding comes from 'corpactions payouts fund'.",
    )
    missing_account_policy: Literal["create", "hold"] = Field(
        default="create",
        description="Recipients without a USDC account: create it in the transfer (payer pays "
        "rent) or hold the line for claim.",
    )
    compute_unit_price_cap: int = Field(
        default=50_000, ge=0, description="Highest priority fee, micro-lamports per CU."
    )
    confirm_timeout_seconds: float = Field(
        default=300.0, gt=0, description="How long 'payouts execute' waits for finality."
    )
    feed_inbox_dir: Path | None = Field(
        default=None,
        description="Drop folder the feed task ingests (*.csv, *.json own format; *.xml "
        "seev.031; *.polygon.json, *.alpaca.json). Default: data_dir/inbox.",
    )
    schedule_feeds_seconds: float = Field(
        default=3600.0, gt=0, description="Beat: pull providers and the inbox this often."
    )
    schedule_snapshots_seconds: float = Field(
        default=60.0, gt=0, description="Beat: scan for due snapshots and plans this often."
    )
    schedule_payouts_seconds: float = Field(
        default=10.0, gt=0, description="Beat: start or resume approved plans this often."
    )
    schedule_confirm_seconds: float = Field(
        default=10.0, gt=0, description="Beat: confirm in-flight transactions this often."
    )
    schedule_reconcile_seconds: float = Field(
        default=300.0, gt=0, description="Beat: reconcile, attest and release escrow this often."
    )
    task_time_limit_seconds: int = Field(
        default=900, ge=10, description="Hard time limit of one task (the soft one is 90%)."
    )
    lock_ttl_seconds: int = Field(
        default=120,
        ge=5,
        description="Expiry of the Redis locks that keep one worker per batch and per plan.",
    )
    api_host: str = Field(default="127.0.0.1", description="Address the history API binds.")
    api_port: int = Field(default=8000, ge=1, le=65535, description="Port of the history API.")
    api_cors_origins: list[str] = Field(
        default_factory=list,
        description='Origins allowed to call the API from a browser (JSON list, e.g. ["*"]).',
    )
    explorer_tx_url: str = Field(
        default="https://explorer.solana.com/tx/{signature}",
        description="Transaction link of the holder page; {signature} is replaced.",
    )
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR.")
    log_json: bool | None = Field(
        default=None, description="JSON logs; default: JSON when stderr is not a terminal."
    )

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError(f"log_level must be DEBUG, INFO, WARNING or ERROR, not {value!r}")
        return level

    @field_validator("record_date_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}; use an IANA name") from exc
        return value

    @field_validator("tax_rates")
    @classmethod
    def _rates_are_fractions(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        for name, rate in value.items():
            if not rate.is_finite() or not Decimal(0) <= rate <= 1:
                raise ValueError(f"tax rate of class {name!r} must be a fraction from 0 to 1")
        return value

    @property
    def ledger_url(self) -> str:
        """The database URL in force: the configured one, or the embedded SQLite file."""
        if self.database_url:
            return normalize_database_url(self.database_url)
        return f"sqlite:///{(self.data_dir / 'ledger.db').resolve()}"

    @property
    def inbox_dir(self) -> Path:
        return self.feed_inbox_dir or self.data_dir / "inbox"

    @property
    def authority_keypair_path(self) -> Path:
        return self.keypair_path or self.data_dir / "keys" / "payout-authority.json"

    def ensure_data_dir(self) -> Path:
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot create data dir {self.data_dir}: {exc.strerror}",
                hint="set CORPACTIONS_DATA_DIR to a writable folder",
            ) from exc
        return self.data_dir


def normalize_database_url(url: str) -> str:
    """Accept the common spellings of a PostgreSQL URL and pin the psycopg (v3) driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings. Tests that change the environment call ``cache_clear()``."""
    return Settings()

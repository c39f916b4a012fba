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
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

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
    rpc_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Several independent JSON-RPC endpoints, comma-separated (replaces rpc_url): "
        "reads fail over between them; a transaction's final fate needs rpc_quorum of them.",
    )
    rpc_quorum: int = Field(
        default=1,
        ge=1,
        description="How many of rpc_urls must agree before a transaction counts as landed, "
        "failed or expired.",
    )
    keypair_path: Path | None = Field(
        default=None,
        description="Payout authority keypair (Solana CLI JSON, 64 bytes). "
        "Default: data_dir/keys/payout-authority.json.",
    )
    allow_insecure_keys: bool = Field(
        default=False,
        description="Use keypair files that group or others may access (logged as a warning); "
        "without it they are refused, as ssh refuses such private keys.",
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
        default=1,
        ge=1,
        le=10,
        description="Approvals needed besides the plan's maker; also the admin signatures an "
        "operator registry change needs.",
    )
    deployment: str = Field(
        default="default",
        min_length=1,
        max_length=64,
        description="Name of this deployment, part of every signed decision so that a "
        "signature cannot be replayed into another deployment.",
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
    priority_percentile: int = Field(
        default=75,
        ge=0,
        le=100,
        description="Percentile of getRecentPrioritizationFees over a batch's writable accounts "
        "taken as its compute-unit price.",
    )
    priority_max_microlamports: int | None = Field(
        default=None,
        ge=0,
        description="Highest compute-unit price, micro-lamports per CU. Default: "
        "compute_unit_price_cap.",
    )
    lookup_tables: Literal["recurring", "all", "off"] = Field(
        default="recurring",
        description="Which recipients' token accounts go into address lookup tables ahead of a "
        "run (v0 batches): holders paid in an earlier plan, every existing account, or none.",
    )
    alt_idle_days: int = Field(
        default=30,
        ge=1,
        description="Lookup tables unused this many days are deactivated, then closed (rent back).",
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
    webhook_urls: list[str] = Field(
        default_factory=list,
        description="Receivers of event webhooks (JSON list of URLs); none: no webhooks.",
    )
    webhook_secret: SecretStr | None = Field(
        default=None,
        description="Key of the HMAC-SHA256 signature each webhook carries "
        "(X-Corpactions-Signature: sha256=<hex>).",
    )
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    schedule_webhooks_seconds: float = Field(
        default=30.0, gt=0, description="Every how often pending webhook deliveries are sent."
    )
    explorer_tx_url: str = Field(
        default="https://explorer.solana.com/tx/{signature}",
        description="Transaction link of the holder page; {signature} is replaced.",
    )
    peg_tolerance_shares: Decimal = Field(
        default=Decimal(0),
        ge=0,
        description="Largest difference, in shares, between the tokens outstanding and the "
        "custodian's shares that still counts as backed 1:1.",
    )
    schedule_backing_day: int = Field(
        default=1, ge=1, le=28, description="Day of the month of the scheduled backing checks."
    )
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR.")
    log_json: bool | None = Field(
        default=None, description="JSON logs; default: JSON when stderr is not a terminal."
    )

    @field_validator("rpc_urls", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [url.strip() for url in value.split(",") if url.strip()]
        return value

    @model_validator(mode="after")
    def _quorum_reachable(self) -> Settings:
        if self.rpc_quorum > len(self.rpc_endpoints):
            raise ValueError(
                f"rpc_quorum {self.rpc_quorum} is more than the {len(self.rpc_endpoints)} "
                "endpoint(s) configured; list them in CORPACTIONS_RPC_URLS"
            )
        return self

    @property
    def rpc_endpoints(self) -> list[str]:
        """The endpoints in order of preference: rpc_urls when given, else rpc_url alone."""
        return list(self.rpc_urls) or [self.rpc_url]

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
    def priority_cap(self) -> int:
        """Highest compute-unit price paid (micro-lamports per CU)."""
        if self.priority_max_microlamports is not None:
            return self.priority_max_microlamports
        return self.compute_unit_price_cap

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
    """The process-wide settings. Tests that change the environment call ``cache_clear()``.

    A bad value is one ``ConfigurationError`` naming the variable, what it was given and what
    is allowed (never pydantic's multi-line report)."""
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigurationError(
            "; ".join(_setting_problem(error) for error in exc.errors()),
            hint="fix the variable in the environment or .env (see README, Configuration)",
        ) from None
    except SettingsError as exc:
        raise ConfigurationError(_unparsable(str(exc)), hint=_JSON_HINT) from None


_JSON_HINT = 'give it as JSON, e.g. CORPACTIONS_TAX_RATES=\'{"us_person": "0"}\''


def _variable(field: object) -> str:
    return f"{Settings.model_config.get('env_prefix', '')}{field}".upper()


def _setting_problem(error: Any) -> str:
    where = error.get("loc") or ("?",)
    name = _variable(where[0])
    given = error.get("input")
    shown = f"={given!r}" if isinstance(given, str | int | float) else ""
    context = error.get("ctx") or {}
    if error.get("type") == "literal_error" and "expected" in context:
        return f"{name}{shown} is not allowed; use {context['expected']}"
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    inner = ".".join(str(p) for p in where[1:])
    return f"{name}{shown} is not valid{f' ({inner})' if inner else ''}: {message}"


def _unparsable(text: str) -> str:
    """pydantic-settings' 'error parsing value for field "tax_rates" from source ...'."""
    field = text.split('"')[1] if text.count('"') >= 2 else "?"
    return f"{_variable(field)} is not valid JSON"

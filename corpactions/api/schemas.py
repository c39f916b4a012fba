"""Response shapes of the API (they are its OpenAPI schema)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from corpactions.api.money import Money

PublicStatus = Literal["paid", "pending", "carried", "escrowed", "held_for_claim", "failed"]


class ActionRef(BaseModel):
    id: int
    symbol: str
    kind: str
    ex_date: date | None
    record_date: date | None
    pay_date: date | None
    currency: str | None
    rate_per_share: str = Field(description="Gross rate per share, as the feed gave it.")


class Shares(BaseModel):
    raw: str = Field(description="Token base units held at the record-date snapshot.")
    ui_amount: str = Field(description="Shares as a decimal (with the multiplier in force).")


class PayoutItem(BaseModel):
    line_id: int
    plan_id: int
    action: ActionRef
    kind: str = Field(
        description="What the line pays: cash_dividend, cash_in_lieu (USDC), split or "
        "stock_dividend (shares minted)."
    )
    kind_label: str = Field(description="The kind as a person says it, e.g. 'cash in lieu'.")
    rate_meaning: str = Field(
        description="What action.rate_per_share is for this line (a price for cash in lieu)."
    )
    shares: Shares
    gross: Money
    withholding: Money
    net: Money
    carried_in: Money
    amount_due: Money
    status: PublicStatus
    status_reason: str | None
    tax_class: str | None
    signature: str | None
    slot: int | None
    carried_into_plan: int | None = Field(
        default=None,
        description="For a carried line: the later plan that pays it (see that plan's line).",
    )


class PayoutPage(BaseModel):
    wallet: str
    items: list[PayoutItem]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next (older) page.")


class SummaryRow(BaseModel):
    symbol: str
    year: int
    lines: int
    gross: Money
    withheld: Money
    net: Money
    paid: Money


class SharesReceivedRow(BaseModel):
    symbol: str
    year: int
    kind: str
    kind_label: str
    lines: int
    shares: Money = Field(description="Shares minted to the wallet (unit: shares).")
    delivered: Money = Field(description="Of which minted on chain so far.")


class Summary(BaseModel):
    wallet: str
    rows: list[SummaryRow] = Field(description="USDC totals (tax reporting); never shares.")
    shares_received: list[SharesReceivedRow] = Field(
        default_factory=list, description="Shares minted by splits and stock dividends."
    )
    shares_note: str = Field(description="The cost-basis note for shares received.")


class ActionItem(BaseModel):
    id: int
    symbol: str
    kind: str
    status: str
    current_version: int
    ex_date: date | None
    record_date: date | None
    pay_date: date | None
    currency: str | None
    rate_per_share: str | None


class ActionPage(BaseModel):
    items: list[ActionItem]
    next_cursor: str | None


class VersionOut(BaseModel):
    version: int
    function: str
    ex_date: date | None
    record_date: date | None
    pay_date: date | None
    effective_date: date | None
    gross_rate: str | None
    net_rate: str | None
    ratio_new: str | None
    ratio_old: str | None
    payload_sha256: str
    received_at: datetime
    superseded_at: datetime | None


class SnapshotOut(BaseModel):
    id: int
    slot: int
    block_time: datetime | None
    supply: str
    account_count: int
    owner_count: int
    excluded_total: str
    multiplier: str | None
    sha256: str
    created_at: datetime


class PlanOut(BaseModel):
    id: int
    kind: str = Field(description="cash_dividend, split (stock minted) or cash_in_lieu.")
    kind_label: str = Field(description="The kind as a person says it.")
    asset: str = Field(description="usdc, or stock for a split's minted tokens.")
    status: str
    plan_hash: str
    line_count: int
    gross_pool: Money
    withheld_total: Money
    sent_total: Money
    carried_total: Money
    escrowed_total: Money
    undistributed: Money
    created_at: datetime
    approved_at: datetime | None
    paid_at: datetime | None
    ledger_sha256: str | None
    attestation_signature: str | None
    chain_check: dict[str, Any] = Field(
        default_factory=dict,
        description="After the run: reconciliation against the chain (and a split's re-read).",
    )


class AdjustmentOut(BaseModel):
    id: int
    kind: str
    status: str
    factor: str = Field(description="Exact factor p/q applied to the UI multiplier.")
    old_multiplier: str
    new_multiplier: str
    effective_timestamp: int
    plan_hash: str
    signature: str | None
    check: dict[str, Any] = Field(description="What the mint showed after the update landed.")


class ActionDetail(ActionItem):
    status_reason: str | None
    versions: list[VersionOut]
    snapshot: SnapshotOut | None
    plans: list[PlanOut]
    adjustments: list[AdjustmentOut] = Field(
        default_factory=list, description="Multiplier plans (splits, reinvestment)."
    )


class Problem(BaseModel):
    detail: str


class LineProof(BaseModel):
    """A holder's line, its Merkle leaf and proof, and the plan root (docs/architecture.md, "The
    plan root"): recompute sha256(0x00 || leaf_text), walk the proof, compare with the root the
    attestation memo carries on chain."""

    plan_id: int
    wallet: str
    status: str
    amount_due: int
    account: str | None
    signature: str | None
    leaf_index: int
    leaf_count: int
    leaf_text: str
    leaf_hash: str
    proof: list[str] = Field(description="Sibling hashes (hex) from the leaf upward.")
    root: str
    attestation_signature: str | None
    encoding: str


class BackingCheckOut(BaseModel):
    """One check of the token supply against the custodian's shares, with its inputs."""

    id: int
    trigger: str = Field(description="snapshot (record date), scheduled or manual.")
    snapshot_id: int | None
    slot: int
    cutoff: datetime = Field(description="The statement used is the latest as of this time.")
    supply: str = Field(description="Raw token supply at the slot (base units).")
    decimals: int
    multiplier: str | None = Field(description="Token-2022 UI multiplier in force, if any.")
    excluded_total: str = Field(description="Raw units held by excluded wallets.")
    tokens_outstanding: str = Field(description="(supply - excluded) x multiplier, in shares.")
    statement_id: str | None
    statement_sha256: str | None
    custodian_shares: str | None
    difference_shares: str | None = Field(description="Tokens outstanding - custodian shares.")
    tolerance_shares: str
    verdict: Literal["backed", "over_minted", "under_minted", "no_statement"]
    checked_at: datetime
    memo_signature: str | None = Field(description="The memo that published it on chain.")
    memo_published_at: datetime | None


class Backing(BaseModel):
    symbol: str
    mint: str
    latest: BackingCheckOut | None
    history: list[BackingCheckOut] = Field(description="Newest first (the latest included).")


ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No such wallet history, action or plan."},
    422: {"model": Problem, "description": "A parameter is not acceptable; detail says why."},
}
"""The error answers most routes document."""

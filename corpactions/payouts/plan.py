"""Payout plans: from an action's current version and its snapshot to exact, reconciled lines.

1. Holdings of the snapshot, excluded wallets removed (their share stays out of the pool): the
   instrument's, and those the wallet registry excluded.
2. ``allocate``: gross per holder, summing exactly to the pool.
3. Withholding per wallet tax class (settings), rounded half up in base units; net = gross -
   withholding; per-class totals are part of the summary.
4. Carried balances from earlier payouts (lines then below the minimum) are added: amount due =
   net + carried in.
   The wallet registry is read as it stood when the snapshot was taken (a later change does not
   move a plan), every row in force proven by its operator's signature (``wallets.audit``); its
   digest is part of the inputs, so of the root.
5. Status: blocked wallets are escrowed (not sent, not redistributed); frozen holders follow the
   frozen policy; amounts due below the minimum are carried; the rest are pending (to send).
6. Reconciliation, stored with the plan: sent + carried + escrowed + withheld == gross pool +
   carried in, and funded == gross pool + undistributed.
7. ``plan_hash``: the Merkle root over the canonical inputs and each line (``merkle``); each line
   keeps its leaf index, the account it pays and its proof; approval binds to the root.

A plan is immutable. Computing again for the same action makes a new plan and marks older draft
plans stale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import polars as pl
import sqlalchemy as sa
from solders.pubkey import Pubkey
from solders.token.associated import get_associated_token_address
from sqlmodel import Session, col, select

from corpactions.actions import current_version
from corpactions.chain.layout import TOKEN_PROGRAM_ID
from corpactions.config import Settings, get_settings
from corpactions.errors import NotFound, PlanError
from corpactions.logs import get_logger
from corpactions.models import (
    TERMINAL_ACTION_STATUSES,
    ActionKind,
    ActionStatus,
    CorporateAction,
    CorporateActionVersion,
    Instrument,
    LineStatus,
    PayoutLine,
    PayoutPlan,
    PlanNodes,
    PlanStatus,
    Snapshot,
)
from corpactions.notify import notify
from corpactions.payouts import merkle
from corpactions.payouts.allocate import allocate, pool_of, rate_fraction
from corpactions.wallets.audit import check_rows
from corpactions.wallets.registry import registry_at
from snapshots.parse import owners_as_base58
from snapshots.take import current_snapshot, load_holders

log = get_logger(__name__)
_INSERT_CHUNK = 5000
LEAF_COLUMNS = (
    "leaf_index",
    "owner",
    "account",
    "amount_due",
    "shares",
    "gross",
    "withholding",
    "net",
    "carried_in",
    "tax_class",
    "status",
)


@dataclass(frozen=True)
class PlanResult:
    plan: PayoutPlan
    lines: pl.DataFrame
    by_class: pl.DataFrame


def _withholding(gross: pl.Expr, rate: Decimal) -> pl.Expr:
    numerator, exponent = rate_fraction(rate)
    denominator: int = 10**exponent
    wide = gross.cast(pl.Int128)
    return ((wide * (2 * numerator) + denominator) // (2 * denominator)).cast(pl.Int64)


@dataclass(frozen=True)
class PlanTree:
    root: bytes
    inputs_proof: bytes
    lines: pl.DataFrame
    """The lines in leaf order, with ``leaf_index``, ``account`` and ``leaf_text``."""
    levels: list[bytes]
    """Every level of the tree, leaves first (``merkle.stored_chunks`` keeps them)."""


def mint_of(inputs: dict[str, Any], asset: str) -> str:
    """The mint a plan's lines deliver: USDC, or for a stock plan the instrument's own."""
    return str(inputs["usdc_mint"] if asset == "usdc" else inputs["mint"])


def stored_line_text(plan_id: int, line: PayoutLine, *, mint: str, asset: str) -> bytes:
    """The leaf text of a stored line row, as ``plan_tree`` wrote it for the approved root."""
    return merkle.line_text(
        plan_id=plan_id,
        index=line.leaf_index or 0,
        owner=line.owner,
        account=line.account or "",
        mint=mint,
        asset=asset,
        amount_due=line.amount_due,
        shares=line.shares,
        gross=line.gross,
        withholding=line.withholding,
        net=line.net,
        carried_in=line.carried_in,
        tax_class=line.tax_class,
        status=line.status,
    )


def plan_tree(
    plan_id: int, inputs: dict[str, Any], lines: pl.DataFrame, *, mint: str, asset: str
) -> PlanTree:
    """The Merkle tree of a plan (``corpactions.payouts.merkle``): the root, its levels, and each
    line with its leaf index and the associated account it pays."""
    ordered = lines.sort("owner")
    mint_key = Pubkey.from_string(mint)
    accounts = [
        str(get_associated_token_address(Pubkey.from_string(owner), mint_key, TOKEN_PROGRAM_ID))
        for owner in ordered["owner"].to_list()
    ]
    ordered = ordered.with_columns(
        leaf_index=pl.int_range(1, ordered.height + 1, dtype=pl.Int64),
        account=pl.Series(accounts, dtype=pl.String),
    )
    texts = [
        merkle.line_text(
            plan_id=plan_id,
            index=row["leaf_index"],
            owner=row["owner"],
            account=row["account"],
            mint=mint,
            asset=asset,
            amount_due=row["amount_due"],
            shares=row["shares"],
            gross=row["gross"],
            withholding=row["withholding"],
            net=row["net"],
            carried_in=row["carried_in"],
            tax_class=row["tax_class"],
            status=row["status"],
        )
        for row in ordered.select(LEAF_COLUMNS).iter_rows(named=True)
    ]
    leaves = merkle.leaf_hash(merkle.inputs_text(plan_id, inputs)) + merkle.leaf_hashes(texts)
    levels = merkle.levels_of(leaves)
    # leaf 0 (the inputs) has node 1 of each level below the root as its sibling
    inputs_proof = b"".join(level[32:64] for level in levels[:-1] if len(level) >= 64)
    ordered = ordered.with_columns(leaf_text=pl.Series(texts, dtype=pl.Binary))
    return PlanTree(levels[-1], inputs_proof, ordered, levels)


FROZEN_REASON = "stock tokens frozen at the record date"
BLOCKED_PREFIX = "wallet blocked: "

CARRY_IS_OWED = (
    PlanStatus.approved,
    PlanStatus.executing,
    PlanStatus.paid,
    PlanStatus.reconciled,
    PlanStatus.attested,
)


def _carried_in(session: Session) -> pl.DataFrame:
    """Carried balances still owed: carried lines of approved (or later) plans not yet paid by
    a later plan. Draft, stale and rejected plans owe nothing."""
    rows = session.execute(
        sa.select(col(PayoutLine.owner), sa.func.sum(PayoutLine.amount_due))
        .join(PayoutPlan, col(PayoutPlan.id) == col(PayoutLine.plan_id))
        .where(
            col(PayoutLine.status) == LineStatus.carried,
            col(PayoutLine.carried_into).is_(None),
            col(PayoutPlan.status).in_(CARRY_IS_OWED),
            col(PayoutPlan.asset) == "usdc",
        )
        .group_by(col(PayoutLine.owner))
    ).all()
    return pl.DataFrame(
        [(owner, int(total)) for owner, total in rows],
        schema={"owner": pl.String, "carried_in": pl.Int64},
        orient="row",
    )


def build_lines(
    holders: pl.DataFrame,
    *,
    rate: Decimal,
    token_decimals: int,
    settings: Settings,
    wallets: pl.DataFrame,
    carried: pl.DataFrame,
) -> pl.DataFrame:
    """Pure: holders (owner base58, amount, frozen, excluded) to plan lines (see module doc)."""
    eligible = holders.filter(~pl.col("excluded"))
    gross = allocate(
        eligible.select("owner", "amount"),
        rate_per_share=rate,
        token_decimals=token_decimals,
        payout_decimals=settings.payout_decimals,
    )
    # Carried balances are owed whether or not their owner still holds the stock: the full
    # join gives a former holder a line of its own (no shares, nothing gross, the carry due).
    frame = (
        gross.join(eligible.select("owner", "frozen"), on="owner", how="left")
        .join(carried, on="owner", how="full", coalesce=True)
        .join(wallets, on="owner", how="left")
        .with_columns(
            amount=pl.col("amount").fill_null(0),
            payout=pl.col("payout").fill_null(0),
            frozen=pl.col("frozen").fill_null(value=False),
            tax_class=pl.col("wallet_class").fill_null(settings.default_tax_class),
            carried_in=pl.col("carried_in").fill_null(0),
            blocked=pl.col("blocked").fill_null(value=False),
        )
    )
    unknown = set(frame["tax_class"].unique().to_list()) - set(settings.tax_rates)
    if unknown:
        raise PlanError(
            f"tax class(es) {', '.join(sorted(unknown))} have no rate",
            hint="add them to CORPACTIONS_TAX_RATES or fix the wallets' tax class",
        )
    withholding = pl.lit(0, dtype=pl.Int64)
    for name, class_rate in settings.tax_rates.items():
        withholding = (
            pl.when(pl.col("tax_class") == name)
            .then(_withholding(pl.col("payout"), class_rate))
            .otherwise(withholding)
        )
    frame = (
        frame.with_columns(gross=pl.col("payout"), withholding=withholding)
        .with_columns(net=pl.col("gross") - pl.col("withholding"))
        .with_columns(amount_due=pl.col("net") + pl.col("carried_in"))
    )
    frozen_escrow = pl.col("frozen") & pl.lit(settings.frozen_policy == "escrow")
    status = (
        pl.when(pl.col("blocked"))
        .then(pl.lit(LineStatus.escrowed.value))
        .when(frozen_escrow)
        .then(pl.lit(LineStatus.escrowed.value))
        .when(pl.col("amount_due") < settings.minimum_payout)
        .then(pl.lit(LineStatus.carried.value))
        .otherwise(pl.lit(LineStatus.pending.value))
    )
    reason = (
        pl.when(pl.col("blocked"))
        .then(
            pl.concat_str(
                pl.lit(BLOCKED_PREFIX), pl.col("blocked_reason").fill_null("no reason given")
            )
        )
        .when(frozen_escrow)
        .then(pl.lit(FROZEN_REASON))
        .when(pl.col("amount_due") < settings.minimum_payout)
        .then(pl.lit(f"below the minimum of {settings.minimum_payout} base units"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    return (
        frame.with_columns(status=status, status_reason=reason)
        .filter((pl.col("gross") > 0) | (pl.col("carried_in") > 0))
        .select(
            "owner",
            shares=pl.col("amount"),
            gross="gross",
            withholding="withholding",
            net="net",
            carried_in="carried_in",
            amount_due="amount_due",
            status="status",
            status_reason="status_reason",
            tax_class="tax_class",
        )
        .sort("owner")
    )


def _totals(lines: pl.DataFrame) -> dict[str, int]:
    def total(expr: pl.Expr) -> int:
        return int(lines.select(expr).item() or 0) if lines.height else 0

    due = pl.col("amount_due")
    return {
        "gross_pool": total(pl.col("gross").sum()),
        "withheld_total": total(pl.col("withholding").sum()),
        "sent_total": total(due.filter(pl.col("status") == LineStatus.pending.value).sum()),
        "carried_total": total(due.filter(pl.col("status") == LineStatus.carried.value).sum()),
        "escrowed_total": total(due.filter(pl.col("status") == LineStatus.escrowed.value).sum()),
        "carried_in_total": total(pl.col("carried_in").sum()),
    }


def by_tax_class(lines: pl.DataFrame) -> pl.DataFrame:
    return (
        lines.group_by("tax_class")
        .agg(
            lines=pl.len(),
            gross=pl.col("gross").sum(),
            withheld=pl.col("withholding").sum(),
            net=pl.col("net").sum(),
        )
        .sort("tax_class")
    )


def reconcile(plan: PayoutPlan) -> None:
    """Raise if the stored totals do not add up (they always should; this is the proof)."""
    outgoing = plan.sent_total + plan.carried_total + plan.escrowed_total + plan.withheld_total
    incoming = plan.gross_pool + plan.carried_in_total
    if outgoing != incoming:
        raise PlanError(f"plan {plan.id} does not reconcile: {outgoing} out, {incoming} in")
    funded = plan.inputs.get("funded_amount")
    if funded is not None and int(funded) != plan.gross_pool + plan.undistributed:
        raise PlanError(
            f"plan {plan.id}: funded {funded} != lines {plan.gross_pool} "
            f"+ undistributed {plan.undistributed}"
        )


def compute_plan(
    *, session: Session, action_id: int, maker: str, settings: Settings | None = None
) -> PlanResult:
    """Build and store the payout plan for a cash dividend's current version and snapshot."""
    settings = settings or get_settings()
    action = session.get(CorporateAction, action_id)
    if action is None:
        raise NotFound(f"no corporate action {action_id}", hint="see 'corpactions actions list'")
    if action.status in TERMINAL_ACTION_STATUSES:
        raise PlanError(
            f"action {action_id} is {action.status}; nothing can be planned for it again",
            hint=f"its plans and outcome: corpactions actions show {action_id}",
        )
    if action.kind != ActionKind.cash_dividend:
        raise PlanError(
            f"action {action_id} is a {action.kind}, not a cash dividend",
            hint="splits and reinvestments have their own plans",
        )
    version = current_version(session, action)
    assert version is not None
    instrument = session.get(Instrument, action.instrument_id)
    if instrument is not None and instrument.dividend_mode == "reinvest":
        raise PlanError(
            f"{instrument.symbol} reinvests dividends (dividend mode reinvest): nothing is paid "
            "in USDC",
            hint=f"compute the multiplier plan: corpactions adjust compute {action_id}",
        )
    rate = version.gross_rate if version.gross_rate is not None else version.net_rate
    if rate is None:
        raise PlanError(f"action {action_id} version {version.version} has no rate per share")
    snapshot = current_snapshot(session, action_id)
    if snapshot is None:
        raise PlanError(
            f"action {action_id} has no current snapshot",
            hint=f"take it with 'corpactions snapshot take --action {action_id}'",
        )
    instrument = session.get(Instrument, action.instrument_id)
    assert instrument is not None
    registry = registry_at(session, snapshot.created_at)
    check_rows(session, registry.rows, settings)
    holders = owners_as_base58(load_holders(snapshot))
    holders = holders.with_columns(
        excluded=pl.col("excluded") | pl.col("owner").is_in(sorted(registry.excluded()))
    )
    lines = build_lines(
        holders,
        rate=rate,
        token_decimals=instrument.decimals,
        settings=settings,
        wallets=registry.flags().drop("excluded"),
        carried=_carried_in(session),
    )
    eligible_total = int(holders.filter(~pl.col("excluded"))["amount"].cast(pl.Int128).sum() or 0)
    funded = pool_of(
        eligible_total,
        rate_per_share=rate,
        token_decimals=instrument.decimals,
        payout_decimals=settings.payout_decimals,
    )
    inputs = {
        "action_id": action_id,
        "action_version": version.version,
        "version_payload_sha256": version.payload_sha256,
        "symbol": instrument.symbol,
        "snapshot_id": snapshot.id,
        "snapshot_sha256": snapshot.sha256,
        "rate_per_share": format(rate, "f"),
        "token_decimals": instrument.decimals,
        "payout_decimals": settings.payout_decimals,
        "usdc_mint": settings.usdc_mint,
        "tax_rates": {k: format(v, "f") for k, v in sorted(settings.tax_rates.items())},
        "default_tax_class": settings.default_tax_class,
        "minimum_payout": settings.minimum_payout,
        "frozen_policy": settings.frozen_policy,
        "funded_amount": funded,
        "wallet_registry": registry.as_input(),
    }
    plan = store_plan(
        session,
        action=action,
        version=version,
        snapshot=snapshot,
        lines=lines,
        inputs=inputs,
        maker=maker,
        rate=rate,
    )
    return PlanResult(plan, lines, by_tax_class(lines))


def store_plan(
    session: Session,
    *,
    action: CorporateAction,
    version: CorporateActionVersion,
    snapshot: Snapshot,
    lines: pl.DataFrame,
    inputs: dict[str, Any],
    maker: str,
    rate: Decimal,
    kind: str = "cash_dividend",
    asset: str = "usdc",
) -> PayoutPlan:
    """Store a plan and its lines (hash, totals, reconciliation); earlier drafts of the same
    action and kind become stale."""
    for older in session.exec(
        select(PayoutPlan).where(
            PayoutPlan.action_id == action.id,
            PayoutPlan.status == PlanStatus.draft,
            PayoutPlan.kind == kind,
        )
    ):
        older.status = PlanStatus.stale
        older.stale_reason = "a newer plan was computed"
        session.add(older)
    totals = _totals(lines)
    funded = int(inputs.get("funded_amount", totals["gross_pool"]))
    inputs = {**inputs, "tree": merkle.SCHEME, "line_count": lines.height}
    plan = PayoutPlan(
        action_id=action.id or 0,
        action_version=version.version,
        snapshot_id=snapshot.id or 0,
        kind=kind,
        asset=asset,
        rate_per_share=rate,
        undistributed=funded - totals["gross_pool"],
        line_count=lines.height,
        inputs=inputs,
        plan_hash="",  # the root, once the plan has its id (every leaf names the plan)
        created_by=maker,
        gross_pool=totals["gross_pool"],
        withheld_total=totals["withheld_total"],
        sent_total=totals["sent_total"],
        carried_total=totals["carried_total"],
        escrowed_total=totals["escrowed_total"],
        carried_in_total=totals["carried_in_total"],
    )
    reconcile(plan)
    session.add(plan)
    session.flush()
    tree = plan_tree(plan.id or 0, inputs, lines, mint=mint_of(inputs, asset), asset=asset)
    plan.plan_hash = tree.root.hex()
    plan.inputs_proof = tree.inputs_proof
    session.add(plan)
    rows = (
        tree.lines.with_columns(plan_id=pl.lit(plan.id, dtype=pl.Int64))
        .drop("leaf_text")
        .to_dicts()
    )
    for start in range(0, len(rows), _INSERT_CHUNK):
        session.execute(sa.insert(PayoutLine), rows[start : start + _INSERT_CHUNK])
    store_tree(session, plan.id or 0, tree.levels)
    if action.status in (ActionStatus.snapshotted, ActionStatus.confirmed, ActionStatus.announced):
        action.status = ActionStatus.planned
        action.updated_at = datetime.now(UTC)
        session.add(action)
    notify(
        session,
        "plan.ready_for_approval",
        {
            "plan_id": plan.id,
            "action_id": action.id,
            "kind": kind,
            "asset": asset,
            "lines": lines.height,
            "to_send": str(plan.sent_total),
            "plan_hash": plan.plan_hash,
            "maker": maker,
        },
    )
    log.info(
        "payout plan computed",
        plan=plan.id,
        action=action.id,
        kind=kind,
        lines=lines.height,
        pool=plan.gross_pool,
        hash=plan.plan_hash,
    )
    return plan


def load_lines(session: Session, plan_id: int) -> pl.DataFrame:
    rows = session.execute(
        sa.select(
            col(PayoutLine.owner),
            col(PayoutLine.shares),
            col(PayoutLine.gross),
            col(PayoutLine.withholding),
            col(PayoutLine.net),
            col(PayoutLine.carried_in),
            col(PayoutLine.amount_due),
            col(PayoutLine.status),
            col(PayoutLine.status_reason),
            col(PayoutLine.tax_class),
            col(PayoutLine.signature),
            col(PayoutLine.slot),
        ).where(col(PayoutLine.plan_id) == plan_id)
    ).all()
    schema = {
        "owner": pl.String,
        "shares": pl.UInt64,
        "gross": pl.Int64,
        "withholding": pl.Int64,
        "net": pl.Int64,
        "carried_in": pl.Int64,
        "amount_due": pl.Int64,
        "status": pl.String,
        "status_reason": pl.String,
        "tax_class": pl.String,
        "signature": pl.String,
        "slot": pl.Int64,
    }
    return pl.DataFrame([tuple(r) for r in rows], schema=schema, orient="row").sort("owner")


def get_plan(session: Session, plan_id: int) -> PayoutPlan:
    plan = session.get(PayoutPlan, plan_id)
    if plan is None:
        raise NotFound(f"no payout plan {plan_id}", hint="see 'corpactions payouts compute'")
    return plan


def store_tree(session: Session, plan_id: int, levels: list[bytes]) -> None:
    """Keep the tree's levels in chunks: every line's proof is read from them."""
    chunks = [
        {"plan_id": plan_id, "level": level, "chunk": number, "nodes": nodes}
        for level, number, nodes in merkle.stored_chunks(levels)
    ]
    for start in range(0, len(chunks), _INSERT_CHUNK):
        session.execute(sa.insert(PlanNodes), chunks[start : start + _INSERT_CHUNK])


def stored_proofs(
    session: Session, plan_id: int, leaf_count: int, lines: Sequence[PayoutLine]
) -> dict[int, bytes | None]:
    """Each line's proof by leaf index, read from the plan's stored tree in one query (a line of
    a plan computed before the tree was kept carries its own). None: not derivable."""
    out: dict[int, bytes | None] = {}
    wanted = []
    for line in lines:
        if line.leaf_index is None:
            continue
        if line.proof is not None:
            out[line.leaf_index] = line.proof
        else:
            wanted.append(line.leaf_index)
    if not wanted:
        return out
    keys = merkle.chunk_keys(wanted, leaf_count)
    rows = session.exec(
        select(PlanNodes.level, PlanNodes.chunk, PlanNodes.nodes).where(
            PlanNodes.plan_id == plan_id,
            sa.tuple_(col(PlanNodes.level), col(PlanNodes.chunk)).in_(sorted(keys)),
        )
    ).all()
    chunks = {(level, chunk): bytes(nodes) for level, chunk, nodes in rows}
    for index in wanted:
        out[index] = merkle.proof_from(chunks, index, leaf_count)
    return out


def verify_hash(session: Session, plan: PayoutPlan) -> str:
    """Recompute the root from the stored inputs and lines (every one); it must equal
    ``plan_hash``."""
    if plan.inputs.get("tree") != merkle.SCHEME:
        raise PlanError(
            f"plan {plan.id} was computed before plans had a Merkle root; it cannot be approved "
            "or paid",
            hint=f"compute a new plan for action {plan.action_id}",
        )
    lines = load_lines(session, plan.id or 0)
    mint = mint_of(plan.inputs, plan.asset)
    return plan_tree(plan.id or 0, plan.inputs, lines, mint=mint, asset=plan.asset).root.hex()

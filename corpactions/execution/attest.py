"""After the last batch: reconcile the plan against the chain, then attest its ledger by memo.

The ledger is a CSV file (header: plan id and plan hash; one row per line, sorted by owner:
owner, amount due, status, signature, slot); the plan's Merkle root and the file's sha256 are
written on chain in a memo signed by the payout authority, and the file is kept under the data
dir so anyone can recompute the hash (and any holder check its line against the root).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa
from solders.keypair import Keypair
from solders.message import Message
from solders.transaction import Transaction
from sqlmodel import col, func, select

from corpactions.chain import tokens
from corpactions.chain.rpc import Rpc
from corpactions.corporate.splits import verify_split
from corpactions.execution.crashpoints import crash_point
from corpactions.execution.reconcile import reconcile_from_chain
from corpactions.execution.report import summarize
from corpactions.execution.sendonce import Attempt, fate, settle
from corpactions.logs import get_logger
from corpactions.models import (
    ActionStatus,
    CorporateAction,
    PayoutPlan,
    PlanStatus,
)
from corpactions.notify import notify
from corpactions.payouts.plan import load_lines
from corpactions.payouts.verify import memo_text

log = get_logger(__name__)


def ledger_bytes(plan: PayoutPlan, lines: pl.DataFrame) -> bytes:
    header = f"plan_id,{plan.id}\nplan_hash,{plan.plan_hash}\n".encode()
    body = (
        lines.select(
            "owner",
            "amount_due",
            "status",
            pl.col("signature").fill_null(""),
            pl.col("slot").cast(pl.String).fill_null(""),
        )
        .sort("owner")
        .write_csv(include_header=True)
        .encode()
    )
    return header + body


def ledger_path(data_dir: Path, plan_id: int, digest: str) -> Path:
    return data_dir / "ledgers" / f"plan-{plan_id}-{digest[:16]}.csv"


async def finish_plan(rpc: Rpc, session_factory: Any, plan_id: int, ctx: Any) -> None:
    with session_factory() as session:
        plan = session.get(PayoutPlan, plan_id)
        assert plan is not None
        report = summarize(session, plan_id)
        if report.open_lines or report.failed_lines:
            log.error(
                "plan not fully paid",
                plan=plan_id,
                open=report.open_lines,
                failed=report.failed_lines,
            )
            return
        if plan.status in (PlanStatus.executing, PlanStatus.reconciled):
            # read from the chain before every attempt to attest, whatever the ledger's status
            # column says (a plan set to reconciled by hand is checked all the same)
            treasury = str(ctx.treasury) if ctx.treasury is not None else None
            chain = await reconcile_from_chain(
                rpc, session, plan, mint=str(ctx.mint), treasury=treasury
            )
            plan.reconciliation = {**plan.reconciliation, **chain, "fees_lamports": report.fees}
            if not chain["matches"]:
                failed = [name for name, (a, b) in chain["checks"].items() if a != b]
                plan.status = PlanStatus.discrepancy
                plan.stale_reason = (
                    f"{chain['difference_count']} line difference(s) between ledger and chain"
                    + (f"; failed checks: {', '.join(failed)}" if failed else "")
                )
                session.add(plan)
                notify(
                    session,
                    "plan.discrepancy",
                    {"plan_id": plan_id, "action_id": plan.action_id, "reason": plan.stale_reason},
                )
                log.error(
                    "plan disagrees with the chain; not attested",
                    plan=plan_id,
                    reason=plan.stale_reason,
                    differences=chain["differences"][:5],
                )
                return
            if plan.status == PlanStatus.executing:
                plan.status = PlanStatus.reconciled
                plan.paid_at = datetime.now(UTC)
            session.add(plan)
        if plan.status != PlanStatus.reconciled:
            return  # only a plan reconciled from the chain just now is attested
        stock_unchecked = plan.asset == "stock" and "split_check" not in plan.reconciliation
    if stock_unchecked:  # a split's new tokens: read every holder's balance and supply again
        await verify_split(plan_id, session_factory=session_factory, settings=ctx.settings)
    with session_factory() as session:
        plan = session.get(PayoutPlan, plan_id)
        assert plan is not None
        if plan.status == PlanStatus.attested:
            return
        lines = load_lines(session, plan_id)
        data = ledger_bytes(plan, lines)
        digest = hashlib.sha256(data).hexdigest()
        path = ledger_path(ctx.settings.ensure_data_dir(), plan_id, digest)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        previous = plan.attestation_signature
        root = plan.plan_hash
        previous_last_valid = int(plan.reconciliation.get("attestation_last_valid", 0))

    def record(signature: str, last_valid: int) -> bool:
        with session_factory() as session:
            plan = session.get(PayoutPlan, plan_id)
            assert plan is not None
            # kept beside the reconciliation: the inputs are leaf 0 of the root and never change
            reconciliation = {**plan.reconciliation, "attestation_last_valid": last_valid}
            return record_attempt(
                session,
                PayoutPlan.__table__,  # type: ignore[attr-defined]
                plan_id,
                previous,
                attestation_signature=signature,
                ledger_sha256=digest,
                reconciliation=reconciliation,
            )

    landed = await publish_memo(
        rpc,
        ctx.authority,
        memo_text(plan_id, root, digest),
        previous=previous,
        previous_last_valid=previous_last_valid,
        record=record,
    )
    if landed is not None:
        await _mark_attested(session_factory, plan_id, digest, landed)


async def publish_memo(
    rpc: Rpc,
    authority: Keypair,
    text: str,
    *,
    previous: str | None,
    previous_last_valid: int,
    record: Callable[[str, int], bool],
) -> str | None:
    """Post a memo signed by ``authority`` exactly once; returns the signature that landed, or
    None while an earlier attempt may still land (ask again later).

    ``previous`` is the attempt recorded before (if any); ``record(signature, last_valid)`` must
    durably store a new attempt *before* the transaction is sent, as a compare-and-set against
    ``previous``: False means another executor recorded an attempt first, and this one sends
    nothing (the next run looks at that attempt instead).
    """
    if previous is not None:
        found = await fate(rpc, Attempt(previous, previous_last_valid))
        if found.succeeded:
            return previous
        if found.state == "pending":
            return None  # may still land; look again on the next run
        # expired unlanded, or landed with an error: a new attempt
    blockhash = await rpc.latest_blockhash()
    memo = tokens.memo(text, (authority.pubkey(),))
    tx = Transaction([authority], Message([memo], authority.pubkey()), blockhash.blockhash)
    if not record(str(tx.signatures[0]), blockhash.last_valid_block_height):
        log.info("another executor is attesting this record; nothing sent", memo=text)
        return None
    crash_point("memo_after_record")
    signature = await rpc.send_raw(bytes(tx), skip_preflight=True)
    crash_point("memo_after_send")
    landed = await settle(
        rpc, Attempt(str(signature), blockhash.last_valid_block_height, bytes(tx))
    )
    return str(signature) if landed.succeeded else None


def record_attempt(
    session: Any, table: Any, row_id: int, previous: str | None, **values: Any
) -> bool:
    """Store a new attestation attempt on ``table``'s row only if its attempt is still
    ``previous`` (compare-and-set); True when this caller's attempt was stored."""
    column = table.c.attestation_signature
    unchanged = column.is_(None) if previous is None else column == previous
    result = session.connection().execute(
        sa.update(table).where(table.c.id == row_id, unchanged).values(**values)
    )
    return bool(result.rowcount == 1)


async def _mark_attested(session_factory: Any, plan_id: int, digest: str, signature: str) -> None:
    with session_factory() as session:
        plan = session.get(PayoutPlan, plan_id)
        assert plan is not None
        plan.ledger_sha256 = digest
        plan.attestation_signature = signature
        plan.status = PlanStatus.attested
        session.add(plan)
        session.flush()
        open_plans = session.exec(
            select(func.count()).where(
                PayoutPlan.action_id == plan.action_id,
                col(PayoutPlan.status).not_in(
                    [PlanStatus.attested, PlanStatus.stale, PlanStatus.rejected]
                ),
            )
        ).one()
        action = session.get(CorporateAction, plan.action_id)
        if action is not None and open_plans == 0:  # e.g. a split's cash-in-lieu plan still open
            action.status = ActionStatus.attested
            session.add(action)
        notify(
            session,
            "plan.attested",
            {
                "plan_id": plan_id,
                "action_id": plan.action_id,
                "kind": plan.kind,
                "paid": str(plan.sent_total),
                "plan_hash": plan.plan_hash,
                "ledger_sha256": digest,
                "attestation_signature": signature,
            },
        )
    log.info("plan attested", plan=plan_id, ledger_sha256=digest, signature=signature)


def read_ledger(session: Any, plan_id: int) -> bytes:
    """The plan's ledger file, verified against the hash its attestation published."""
    from corpactions.config import get_settings
    from corpactions.errors import NotFound, PlanError

    plan = session.get(PayoutPlan, plan_id)
    if plan is None:
        raise NotFound(f"no payout plan {plan_id}")
    if not plan.ledger_sha256:
        raise PlanError(
            f"plan {plan_id} has no attested ledger yet",
            hint="it is written when the plan is fully paid",
        )
    path = ledger_path(get_settings().data_dir, plan_id, plan.ledger_sha256)
    if not path.exists():
        raise PlanError(f"ledger file {path} is missing", hint="restore the data dir")
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != plan.ledger_sha256:
        raise PlanError(
            f"ledger file {path} does not match the attested sha256", hint="the file was altered"
        )
    return data

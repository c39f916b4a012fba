"""Exactly-once execution of an approved plan: sign, persist, send, confirm, resume.

Every step commits before the next one acts, so a process killed anywhere resumes correctly:

``planned``    lines assigned to the batch (durably) but nothing signed yet: sign a new attempt.
``signed``     signed bytes, signature and lastValidBlockHeight are committed before any send:
               (re)send exactly those bytes; the same bytes land at most once.
``sent``       ask the chain: finalized without error -> ``finalized`` (lines paid from the
               transaction's token balance deltas); failed on chain -> ``failed_on_chain``
               (lines split into two new batches, a single line is marked failed); unknown ->
               re-broadcast while the blockhash can still land; only when the *finalized* block
               height has passed lastValidBlockHeight and a history search still does not know
               the signature is the attempt ``expired`` and a new one signed. Nothing else
               re-signs.

The functions are plain and re-entrant: the CLI runs ``execute_plan`` in the foreground, Celery
tasks run ``advance_batch`` per batch, and any number of restarts converge on the same ledger.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from corpactions.chain.keys import load_keypair
from corpactions.chain.rpc import Rpc, TransactionRejected
from corpactions.config import Settings, get_settings
from corpactions.db import SessionFactory
from corpactions.errors import PlanError, TransientRpcError
from corpactions.execution.approval import treasury_address
from corpactions.execution.attest import finish_plan
from corpactions.execution.batching import (
    MAX_COMPUTE_UNITS,
    MEMO_TEMPLATE,
    LineSpec,
    compile_message,
    inspect_recipients,
    instructions,
    pack,
    stored_transaction_problem,
)
from corpactions.execution.crashpoints import crash_point
from corpactions.execution.credited import credited_for, stop_paid_again
from corpactions.execution.fees import unit_price
from corpactions.execution.funding import (
    close_when_finished,
    ensure_funded,
    expected_funding,
    funded_account,
    funding_of,
    require_open_account,
)
from corpactions.execution.proofs import (
    PlanTampered,
    approved,
    check_line_count,
    mark_tampered,
    tamper_reason,
)
from corpactions.execution.reconcile import read_transaction
from corpactions.execution.report import Report, summarize
from corpactions.execution.sendonce import Attempt, Fate, fates
from corpactions.execution.v0 import batch_tables, plan_tables, stored_lookups
from corpactions.logs import get_logger
from corpactions.models import (
    ActionStatus,
    BatchStatus,
    CorporateAction,
    Instrument,
    LineStatus,
    PayoutBatch,
    PayoutLine,
    PayoutPlan,
    PlanStatus,
)
from corpactions.models.types import utcnow

log = get_logger(__name__)
LIVE = (BatchStatus.planned, BatchStatus.signed, BatchStatus.sent, BatchStatus.expired)
LINES = PayoutLine.__table__  # type: ignore[attr-defined]
CONCURRENT_BATCHES = 16
CHECK_CHUNK = 256  # getSignatureStatuses takes at most 256 signatures
"""Batches advanced at once: their RPC calls overlap; ledger writes stay one at a time."""


@dataclass
class Context:
    settings: Settings
    authority: Keypair
    treasury: Pubkey | None
    """The USDC account paying out; None when the lines are minted (a split's new tokens)."""
    mint: Pubkey
    decimals: int
    units: dict[tuple[int, ...], int] = field(default_factory=dict)
    """CU limit by batch shape, from the simulation of the first batch of that shape."""
    tables: dict[str, dict[Pubkey, Pubkey]] = field(default_factory=dict)
    """The ledger's lookup-table index, read once per executor."""

    @classmethod
    def load(cls, settings: Settings) -> Context:
        return cls(
            settings=settings,
            authority=load_keypair(settings.authority_keypair_path),
            treasury=treasury_address(settings),
            mint=Pubkey.from_string(settings.usdc_mint),
            decimals=settings.payout_decimals,
        )

    @classmethod
    def for_plan(
        cls,
        settings: Settings,
        session_factory: SessionFactory,
        plan_id: int,
        *,
        estimate: bool = False,
    ) -> Context:
        """USDC from the plan's funded account, or for a stock plan the instrument's own mint.
        With ``estimate`` (nothing is signed) an unfunded plan's account is the one its funding
        will create."""
        with session_factory() as session:
            plan = session.get(PayoutPlan, plan_id)
            if plan is None:
                return cls.load(settings)
            if plan.asset != "stock":  # USDC: only from the plan's own funded account
                if estimate and funding_of(session, plan_id) is None:
                    source = expected_funding(session, plan_id, settings).account
                else:
                    source = funded_account(session, plan_id)
                return cls(
                    settings=settings,
                    authority=load_keypair(settings.authority_keypair_path),
                    treasury=source,
                    mint=Pubkey.from_string(settings.usdc_mint),
                    decimals=settings.payout_decimals,
                )
            action = session.get(CorporateAction, plan.action_id)
            instrument = session.get(Instrument, action.instrument_id) if action else None
            assert instrument is not None
            mint, decimals = instrument.mint, instrument.decimals
        return cls(
            settings=settings,
            authority=load_keypair(settings.authority_keypair_path),
            treasury=None,
            mint=Pubkey.from_string(mint),
            decimals=decimals,
        )


FINISHED = (PlanStatus.reconciled, PlanStatus.attested)


def _check_executable(session: Session, plan: PayoutPlan) -> None:
    if plan.status == PlanStatus.tampered:
        raise PlanTampered(f"plan {plan.id} is tampered: {plan.stale_reason}")
    if plan.status == PlanStatus.discrepancy:
        raise PlanError(
            f"plan {plan.id} disagrees with the chain and is not attested: {plan.stale_reason}",
            hint=f"see the report in 'corpactions payouts show {plan.id} --json' (reconciliation)",
        )
    if plan.status in FINISHED:
        return  # paid already; running again only completes the attestation
    if plan.status not in (PlanStatus.approved, PlanStatus.executing):
        raise PlanError(
            f"plan {plan.id} is {plan.status}; only approved plans are executed",
            hint="approve it first",
        )
    action = session.get(CorporateAction, plan.action_id)
    if (
        action is None
        or action.current_version != plan.action_version
        or action.status in (ActionStatus.cancelled, ActionStatus.withdrawn)
    ):
        raise PlanError(
            f"action {plan.action_id} changed after plan {plan.id} was approved "
            "(amended or cancelled); nothing more is sent",
            hint="review the action; compute and approve a new plan for what remains",
        )


# ----- planning batches ---------------------------------------------------------------------


async def plan_batches(
    rpc: Rpc, session_factory: SessionFactory, plan_id: int, ctx: Context
) -> int:
    """Assign unassigned pending lines to new batches, durably. Returns batches created."""
    with session_factory() as session:
        rows = session.exec(
            select(PayoutLine.id, PayoutLine.owner, PayoutLine.amount_due)
            .where(
                PayoutLine.plan_id == plan_id,
                PayoutLine.status == LineStatus.pending,
                col(PayoutLine.batch_id).is_(None),
            )
            .order_by(col(PayoutLine.owner))
        ).all()
    if not rows:
        return 0
    what = "USDC" if ctx.treasury is not None else "stock token"
    recipients = await inspect_recipients(rpc, [owner for _, owner, _ in rows], ctx.mint, what)
    held: list[tuple[int, str]] = []
    specs: list[LineSpec] = []
    for line_id, owner, amount in rows:
        recipient = recipients[owner]
        if recipient.problem:
            held.append((line_id or 0, recipient.problem))
        elif not recipient.exists and ctx.settings.missing_account_policy == "hold":
            held.append((line_id or 0, f"no {what} account; held for claim"))
        else:
            specs.append(
                LineSpec(line_id or 0, owner, amount, not recipient.exists, recipient.account)
            )
    tables = await plan_tables(
        rpc, session_factory, plan_id, specs, settings=ctx.settings, authority=ctx.authority
    )
    groups = pack(
        specs,
        payer=ctx.authority.pubkey(),
        treasury=ctx.treasury,
        mint=ctx.mint,
        decimals=ctx.decimals,
        tables=tables,
    )
    try:
        with session_factory() as session:
            if held:
                session.connection().execute(
                    sa.update(LINES)
                    .where(
                        LINES.c.id == sa.bindparam("line_id"),
                        LINES.c.status == LineStatus.pending.value,
                    )
                    .values(
                        status=LineStatus.held_for_claim.value, status_reason=sa.bindparam("reason")
                    ),
                    [{"line_id": line_id, "reason": reason} for line_id, reason in held],
                )
            next_seq = (
                session.exec(
                    select(func.max(PayoutBatch.seq)).where(PayoutBatch.plan_id == plan_id)
                ).one()
                or 0
            ) + 1
            if groups:
                now = utcnow()
                ids = (
                    session.execute(
                        sa.insert(PayoutBatch).returning(
                            col(PayoutBatch.id), sort_by_parameter_order=True
                        ),
                        [
                            {
                                "plan_id": plan_id,
                                "seq": next_seq + offset,
                                "status": BatchStatus.planned.value,
                                "attempt": 0,
                                "creates_accounts": any(s.create for s in group),
                                "created_at": now,
                                "updated_at": now,
                            }
                            for offset, group in enumerate(groups)
                        ],
                    )
                    .scalars()
                    .all()
                )
                # Claim only lines still unassigned: an executor racing on the same plan claims
                # nothing twice, and its empty batches are removed below.
                session.connection().execute(
                    sa.update(LINES)
                    .where(
                        LINES.c.id == sa.bindparam("line_id"),
                        LINES.c.batch_id.is_(None),
                        LINES.c.status == LineStatus.pending.value,
                    )
                    .values(
                        batch_id=sa.bindparam("batch"),
                        status=LineStatus.batched.value,
                        status_reason=sa.bindparam("note"),
                    ),
                    [
                        {
                            "line_id": spec.line_id,
                            "batch": batch_id,
                            "note": "create USDC account" if spec.create else None,
                        }
                        for batch_id, group in zip(ids, groups, strict=True)
                        for spec in group
                    ],
                )
                claimed = sa.select(LINES.c.id).where(LINES.c.batch_id == BATCHES.c.id).exists()
                session.connection().execute(
                    sa.delete(BATCHES).where(BATCHES.c.id.in_(ids), ~claimed)
                )
    except IntegrityError:
        # Another executor batched these lines at the same moment (same batch numbers); its
        # batches stand and this transaction left nothing behind.
        log.info("another executor batched this plan first", plan=plan_id)
        return 0
    log.info("lines batched", plan=plan_id, batches=len(groups), held=len(held))
    return len(groups)


# ----- one batch ------------------------------------------------------------------------------


def _proven_specs(session: Session, batch: PayoutBatch) -> tuple[list[LineSpec], str | None]:
    """The batch's lines as transfer specs, each proven against the approved root first; a
    failure marks the plan tampered (committed with the session) and is returned instead."""
    lines = session.exec(
        select(PayoutLine).where(PayoutLine.batch_id == batch.id).order_by(col(PayoutLine.owner))
    ).all()
    plan = session.get(PayoutPlan, batch.plan_id)
    assert plan is not None
    reason = tamper_reason(session, plan, lines)
    if reason is not None:
        return [], f"plan {batch.plan_id} batch {batch.seq}: {reason}"
    specs = [
        LineSpec(
            line.id or 0,
            line.owner,
            line.amount_due,
            create=line.status_reason == "create USDC account",
            destination=Pubkey.from_string(line.account or ""),
        )
        for line in lines
    ]
    return specs, None


async def _sign(rpc: Rpc, session_factory: SessionFactory, batch_id: int, ctx: Context) -> None:
    """Build, simulate, sign and persist a new attempt of the batch (state: signed)."""
    with session_factory() as session:
        batch = session.get(PayoutBatch, batch_id)
        assert batch is not None
        specs, tampered = _proven_specs(session, batch)
        attempt = batch.attempt + 1
        plan_id, seq = batch.plan_id, batch.seq
        plan = session.get(PayoutPlan, plan_id)
        approved_at = plan.approved_at if plan is not None else None
    if tampered:
        raise PlanTampered(tampered)  # nothing of this batch is signed
    source = ctx.treasury if ctx.treasury is not None else ctx.mint
    credited = credited_for(plan_id, str(source), str(ctx.mint), approved_at)
    await credited.refresh(rpc)
    again = credited.paid_already([str(spec.destination) for spec in specs])
    if again:
        with session_factory() as session:
            current = session.get(PayoutBatch, batch_id)
            if current is None or (
                current.status not in (BatchStatus.planned, BatchStatus.expired)
                or current.attempt != attempt - 1
            ):
                # another executor signed this batch while the history was read: what landed
                # is its attempt, not a second payment (its compare-and-set decides)
                log.info("another executor took this batch", batch=batch_id)
                return
            stop = stop_paid_again(session, plan_id, again)
        raise stop  # committed above; nothing of this batch is signed
    payer = ctx.authority.pubkey()
    memo = MEMO_TEMPLATE.format(plan=plan_id, batch=seq, attempt=attempt)
    tables = await batch_tables(rpc, session_factory, payer, specs, ctx.tables)
    writable = [payer, *(s.destination for s in specs if s.destination is not None)]
    if ctx.treasury is not None:
        writable.append(ctx.treasury)
    price = await unit_price(
        rpc, writable, pct=ctx.settings.priority_percentile, cap=ctx.settings.priority_cap
    )

    def build(unit_limit: int) -> list[Instruction]:
        return instructions(
            specs,
            payer=payer,
            treasury=ctx.treasury,
            mint=ctx.mint,
            decimals=ctx.decimals,
            memo=memo,
            unit_limit=unit_limit,
            unit_price=price,
        )

    blockhash = await rpc.latest_blockhash()

    def signed(unit_limit: int) -> VersionedTransaction:
        message = compile_message(build(unit_limit), payer, blockhash.blockhash, tables)
        return VersionedTransaction(message, [ctx.authority])

    creates = sum(1 for spec in specs if spec.create)
    shape = (len(specs), creates, len(tables), bool(ctx.treasury))
    units = ctx.units.get(shape)
    if units is None or creates:
        # The first batch of a shape is simulated for its compute units. One that creates
        # accounts is always simulated: deriving each new account costs a varying number of
        # bump-seed tries, so its units differ from batch to batch.
        simulated = await rpc.call_json(
            "simulateTransaction",
            [
                _b64(bytes(signed(MAX_COMPUTE_UNITS))),
                {"encoding": "base64", "sigVerify": False, "replaceRecentBlockhash": True},
            ],
        )
        value = simulated["value"]
        if value.get("err") is not None:
            await _failed(
                session_factory,
                batch_id,
                f"simulation failed: {value['err']}; logs: {(value.get('logs') or [])[-3:]}",
                unsigned_attempt=attempt - 1,
            )
            return
        consumed = int(value.get("unitsConsumed") or 200_000)
        units = min(MAX_COMPUTE_UNITS, consumed * 11 // 10 + 1_000)
        if not creates:
            units = ctx.units.setdefault(shape, units)
    tx = signed(units)
    crash_point("after_sign")  # signed, not yet persisted: a restart signs again, nothing was sent
    with session_factory() as session:
        # Compare-and-set: only the executor that saw this exact state may record its attempt.
        # A second executor racing on the same batch finds nothing to update and signs nothing
        # more; its transaction was never sent.
        won = _transition(
            session,
            batch_id,
            {BatchStatus.planned, BatchStatus.expired},
            attempt=attempt - 1,
            values={
                "signed_tx": bytes(tx),
                "signature": str(tx.signatures[0]),
                "last_valid_block_height": blockhash.last_valid_block_height,
                "attempt": attempt,
                "status": BatchStatus.signed.value,
            },
        )
    if not won:
        log.info("another executor signed this batch first", batch=batch_id)
        return
    crash_point("after_persist")


BATCHES = PayoutBatch.__table__  # type: ignore[attr-defined]


def _transition(
    session: Session,
    batch_id: int,
    from_states: set[BatchStatus],
    *,
    values: dict[str, Any],
    attempt: int | None = None,
    signature: str | None = None,
) -> bool:
    """Atomically move a batch out of ``from_states`` (and, when given, that attempt or
    signature); False when another executor changed it first."""
    condition = [BATCHES.c.id == batch_id, BATCHES.c.status.in_([s.value for s in from_states])]
    if attempt is not None:
        condition.append(BATCHES.c.attempt == attempt)
    if signature is not None:
        condition.append(BATCHES.c.signature == signature)
    result = session.connection().execute(
        sa.update(BATCHES).where(*condition).values(**values, updated_at=utcnow())
    )
    return bool(result.rowcount == 1)


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


async def _send(rpc: Rpc, session_factory: SessionFactory, batch_id: int, ctx: Context) -> None:
    with session_factory() as session:
        batch = session.get(PayoutBatch, batch_id)
        assert batch is not None and batch.signed_tx is not None
        signed = batch.signed_tx
        specs, tampered = _proven_specs(session, batch)
        problem = None
        if not tampered:
            problem = stored_transaction_problem(
                signed,
                specs,
                mint=ctx.mint,
                treasury=ctx.treasury,
                lookups=stored_lookups(session_factory, signed),
            )
    if tampered:
        raise PlanTampered(tampered)  # the stored attempt is not broadcast
    if problem is not None:
        raise PlanError(
            f"batch {batch.seq} of plan {batch.plan_id} is not sent: {problem}",
            hint="ledgers written before the program-id fix are not migrated; see the "
            "README's upgrade note",
        )
    try:
        await rpc.send_raw(signed, skip_preflight=True)
    except TransactionRejected as exc:  # refused outright (e.g. blockhash unknown): nothing landed
        log.warning("send refused; the status check decides", batch=batch_id, error=exc.message)
    with session_factory() as session:
        batch = session.get(PayoutBatch, batch_id)
        assert batch is not None
        if batch.status == BatchStatus.signed:
            batch.status = BatchStatus.sent
            batch.updated_at = utcnow()
            session.add(batch)
    crash_point("after_send")


async def _failed(
    session_factory: SessionFactory,
    batch_id: int,
    error: str,
    *,
    unsigned_attempt: int | None = None,
) -> None:
    """The batch cannot land as it is: split it so one bad line does not hold the others back.

    ``unsigned_attempt``: the failure is a simulation of a new attempt after that one, and
    counts only while the batch is still unsigned there (a racing executor may have signed,
    sent and landed it meanwhile: then the simulation's failure means nothing)."""
    with session_factory() as session:
        won = _transition(
            session,
            batch_id,
            {BatchStatus.planned, BatchStatus.expired}
            if unsigned_attempt is not None
            else {BatchStatus.planned, BatchStatus.signed, BatchStatus.sent, BatchStatus.expired},
            attempt=unsigned_attempt,
            values={"status": BatchStatus.failed_on_chain.value, "error": error},
        )
        if not won:
            return  # another executor already settled this batch
        batch = session.get(PayoutBatch, batch_id)
        assert batch is not None
        lines = session.exec(
            select(PayoutLine)
            .where(PayoutLine.batch_id == batch_id)
            .order_by(col(PayoutLine.owner))
        ).all()
        if len(lines) == 1:
            lines[0].status = LineStatus.failed
            lines[0].status_reason = error[:500]
            session.add(lines[0])
            log.error("payout line failed", line=lines[0].id, owner=lines[0].owner, error=error)
            return
        next_seq = (
            session.exec(
                select(func.max(PayoutBatch.seq)).where(PayoutBatch.plan_id == batch.plan_id)
            ).one()
            or 0
        ) + 1
        half = len(lines) // 2
        for offset, part in enumerate((lines[:half], lines[half:])):
            child = PayoutBatch(
                plan_id=batch.plan_id,
                seq=next_seq + offset,
                creates_accounts=batch.creates_accounts,
            )
            session.add(child)
            session.flush()
            for line in part:
                line.batch_id = child.id
                session.add(line)
        log.warning("batch failed; split", batch=batch_id, error=error, lines=len(lines))


async def _finalize(
    rpc: Rpc,
    session_factory: SessionFactory,
    batch_id: int,
    signature: str,
    slot: int,
    ctx: Context,
) -> None:
    """Mark lines paid from the finalized transaction's token balance deltas, account by
    account. A line whose account received nothing is failed (it can be sent again); one whose
    account received another amount stays paid with the difference noted, and reconciliation
    keeps the plan from being attested: it is never sent again."""
    reading = await read_transaction(rpc, signature, str(ctx.mint), retries=1)
    if reading.missing:
        return  # not visible at finalized yet (or not a success): ask again later
    treasury = str(ctx.treasury) if ctx.treasury is not None else None
    with session_factory() as session:
        batch = session.get(PayoutBatch, batch_id)
        assert batch is not None
        if batch.status == BatchStatus.finalized:
            return
        lines = session.exec(select(PayoutLine).where(PayoutLine.batch_id == batch_id)).all()
        to_others = sum(line.amount_due for line in lines if line.account != treasury)
        outflow_ok = treasury is None or -reading.deltas.get(treasury, 0) == to_others
        differing: list[str] = []
        for line in lines:
            received = (
                line.amount_due
                if treasury is not None and line.account == treasury
                else reading.deltas.get(line.account or "", 0)
            )
            if received == line.amount_due:
                line.status = LineStatus.paid
                line.status_reason = (
                    None if outflow_ok else "the treasury's outflow differs from the lines"
                )
                if not outflow_ok:
                    differing.append(line.owner)
            elif received == 0:
                line.status = LineStatus.failed
                line.status_reason = f"its account received nothing in {signature}"
                differing.append(line.owner)
            else:
                line.status = LineStatus.paid
                line.status_reason = f"on-chain delta {received} differs from {line.amount_due}"
                differing.append(line.owner)
            line.signature = signature
            line.slot = slot
            session.add(line)
        batch.status = BatchStatus.finalized
        batch.slot = slot
        batch.fee = reading.fee
        batch.updated_at = utcnow()
        session.add(batch)
    if differing:
        log.error("paid amounts differ from the plan", batch=batch_id, owners=differing[:5])
    crash_point("after_confirm")


async def _check(rpc: Rpc, session_factory: SessionFactory, batch_id: int, ctx: Context) -> None:
    await _check_many(rpc, session_factory, [batch_id], ctx)


async def _check_many(
    rpc: Rpc, session_factory: SessionFactory, batch_ids: list[int], ctx: Context
) -> None:
    """Ask the chain about sent batches: one finalized height, statuses 256 at a time."""
    with session_factory() as session:
        sent = [
            (b.id or 0, b.signature or "", b.last_valid_block_height or 0, b.signed_tx)
            for b in session.exec(select(PayoutBatch).where(col(PayoutBatch.id).in_(batch_ids)))
            if b.status == BatchStatus.sent and b.signature
        ]
    if not sent:
        return
    found = await fates(
        rpc, [Attempt(sig, last_valid, signed) for _, sig, last_valid, signed in sent]
    )

    async def settle(batch_id: int, signature: str, result: Fate) -> None:
        if result.state == "landed" and result.err is None:
            await _finalize(rpc, session_factory, batch_id, signature, result.slot, ctx)
        elif result.state == "landed":
            await _failed(
                session_factory, batch_id, f"failed on chain in slot {result.slot}: {result.err}"
            )
        elif result.state == "expired":
            _expire(session_factory, batch_id, signature)

    await asyncio.gather(
        *(settle(b, sig, r) for (b, sig, _, _), r in zip(sent, found, strict=True))
    )


def _expire(session_factory: SessionFactory, batch_id: int, signature: str) -> None:
    """The finalized chain is past the last block that could include the attempt, and the status
    lookup made afterwards (with history) does not know it: it can never land."""
    with session_factory() as session:
        won = _transition(
            session,
            batch_id,
            {BatchStatus.sent},
            signature=signature,
            values={
                "status": BatchStatus.expired.value,
                "error": f"attempt ({signature}) expired unlanded",
            },
        )
    if won:
        log.warning(
            "attempt expired unlanded; signing a new one", batch=batch_id, signature=signature
        )


async def advance_batch(
    rpc: Rpc, session_factory: SessionFactory, batch_id: int, ctx: Context
) -> BatchStatus:
    """Move one batch one step along the protocol; returns its status afterwards."""
    with session_factory() as session:
        batch = session.get(PayoutBatch, batch_id)
        assert batch is not None
        status = BatchStatus(batch.status)
    if status in (BatchStatus.planned, BatchStatus.expired):
        await _sign(rpc, session_factory, batch_id, ctx)
        if _batch_status(session_factory, batch_id) == BatchStatus.signed:
            await _send(rpc, session_factory, batch_id, ctx)
    elif status == BatchStatus.signed:
        await _send(rpc, session_factory, batch_id, ctx)
    elif status == BatchStatus.sent:
        await _check(rpc, session_factory, batch_id, ctx)
    return _batch_status(session_factory, batch_id)


def _batch_status(session_factory: SessionFactory, batch_id: int) -> BatchStatus:
    with session_factory() as session:
        batch = session.get(PayoutBatch, batch_id)
        assert batch is not None
        return BatchStatus(batch.status)


# ----- the whole plan --------------------------------------------------------------------------


def _live_batches(session: Session, plan_id: int) -> list[tuple[int, str]]:
    """(id, status) of the plan's batches still on their way, in sequence order."""
    rows = session.exec(
        select(PayoutBatch.id, PayoutBatch.status)
        .where(PayoutBatch.plan_id == plan_id, col(PayoutBatch.status).in_(LIVE))
        .order_by(col(PayoutBatch.seq))
    ).all()
    return [(batch_id or 0, str(status)) for batch_id, status in rows]


def begin_execution(session_factory: SessionFactory, plan_id: int) -> None:
    """Check that the plan may be executed and move an approved plan to executing."""
    with session_factory() as session:
        plan = session.get(PayoutPlan, plan_id)
        if plan is None:
            raise PlanError(f"no payout plan {plan_id}")
        _check_executable(session, plan)
        require_open_account(session, plan)
        tampered = None
        if plan.status in (PlanStatus.approved, PlanStatus.executing):
            try:
                approved(session, plan)
                tampered = check_line_count(session, plan)
            except PlanTampered as exc:
                tampered = exc.message
            if tampered:
                mark_tampered(session, plan, tampered)
        if plan.status == PlanStatus.approved:
            plan.status = PlanStatus.executing
            session.add(plan)
            action = session.get(CorporateAction, plan.action_id)
            if action is not None:
                action.status = ActionStatus.paying
                session.add(action)
    if tampered:
        raise PlanTampered(f"plan {plan_id}: {tampered}")


async def execute_plan_async(
    plan_id: int,
    *,
    session_factory: SessionFactory,
    settings: Settings | None = None,
    progress: Callable[[Report], None] | None = None,
    poll_seconds: float = 0.25,
) -> Report:
    settings = settings or get_settings()
    await ensure_funded(session_factory, plan_id, settings)
    begin_execution(session_factory, plan_id)
    ctx = Context.for_plan(settings, session_factory, plan_id)
    deadline = asyncio.get_running_loop().time() + settings.confirm_timeout_seconds
    async with Rpc(settings=settings) as rpc:
        while True:
            await plan_batches(rpc, session_factory, plan_id, ctx)
            with session_factory() as session:
                current = session.get(PayoutPlan, plan_id)
                if current is None:
                    raise PlanError(f"no payout plan {plan_id}")
                _check_executable(session, current)
                live = [] if current.status in FINISHED else _live_batches(session, plan_id)
            if not live:
                break
            to_sign = [batch_id for batch_id, status in live if status != BatchStatus.sent]
            to_check = [batch_id for batch_id, status in live if status == BatchStatus.sent]
            for start in range(0, len(to_sign), CONCURRENT_BATCHES):
                group = to_sign[start : start + CONCURRENT_BATCHES]
                outcomes = await asyncio.gather(
                    *(advance_batch(rpc, session_factory, batch_id, ctx) for batch_id in group),
                    return_exceptions=True,
                )
                for batch_id, outcome in zip(group, outcomes, strict=True):
                    if isinstance(outcome, TransientRpcError):
                        log.warning(
                            "RPC trouble; will retry", batch=batch_id, error=outcome.message
                        )
                    elif isinstance(outcome, BaseException):
                        raise outcome
            for start in range(0, len(to_check), CHECK_CHUNK):
                try:
                    await _check_many(
                        rpc, session_factory, to_check[start : start + CHECK_CHUNK], ctx
                    )
                except TransientRpcError as exc:
                    log.warning("RPC trouble while confirming; will retry", error=exc.message)
            if progress is not None:
                with session_factory() as session:
                    progress(summarize(session, plan_id))
            if asyncio.get_running_loop().time() > deadline:
                raise TransientRpcError(
                    f"plan {plan_id} not fully confirmed "
                    f"after {settings.confirm_timeout_seconds:.0f}s",
                    hint="run 'corpactions payouts execute' again: it resumes where it stopped",
                )
            await asyncio.sleep(poll_seconds)
        await finish_plan(rpc, session_factory, plan_id, ctx)
        await close_when_finished(rpc, session_factory, plan_id, ctx.authority)
    with session_factory() as session:
        return summarize(session, plan_id)


def execute_plan(
    plan_id: int,
    *,
    session_factory: SessionFactory,
    settings: Settings | None = None,
    progress: Callable[[Report], None] | None = None,
) -> Report:
    return asyncio.run(
        execute_plan_async(
            plan_id, session_factory=session_factory, settings=settings, progress=progress
        )
    )


def dry_run(session: Session, plan_id: int) -> dict[str, Any]:
    plan = session.get(PayoutPlan, plan_id)
    if plan is None:
        raise PlanError(f"no payout plan {plan_id}")
    _check_executable(session, plan)
    pending = session.exec(
        select(func.count(), func.coalesce(func.sum(PayoutLine.amount_due), 0)).where(
            PayoutLine.plan_id == plan_id,
            col(PayoutLine.status).in_([LineStatus.pending, LineStatus.batched]),
        )
    ).one()
    return {
        "plan_id": plan_id,
        "lines_to_send": int(pending[0]),
        "amount_to_send": int(pending[1]),
        "status": str(plan.status),
    }

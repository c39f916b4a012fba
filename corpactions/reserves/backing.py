"""The check of backing: tokens outstanding at a slot against the custodian's shares.

tokens outstanding (shares) = (supply - held by excluded wallets) x UI multiplier / 10**decimals

taken from the chain at one slot (raw amounts; the Token-2022 ScaledUiAmount multiplier in force
at that slot's block time, as the exact decimal of its shortest repr), compared with the shares
of the custodian's statement as of the nearest ``as_of`` at or before the cutoff. Integer and
Decimal arithmetic only (100 significant digits): never float.

A check is recorded with every input (``BackingCheck``), once per (instrument, statement, slot).
It runs at every record-date snapshot (from the snapshot's own supply, slot and excluded total),
monthly and on demand (from a fresh, supply-proven read of every token account), and before a
split's mint plan is stored. An instrument no custody statement has ever named is not checked.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any

from solders.pubkey import Pubkey
from sqlmodel import Session, col, select

from corpactions.chain.rpc import Rpc
from corpactions.config import Settings, get_settings
from corpactions.db import SessionFactory
from corpactions.errors import BackingError, NotFound, PlanError
from corpactions.logs import get_logger
from corpactions.models import (
    BackingCheck,
    CustodyStatement,
    Instrument,
    PayoutPlan,
    Snapshot,
    TokenProgram,
)
from corpactions.notify import notify
from corpactions.wallets.registry import rows_in_force
from snapshots.fetch import read_mint, read_token_accounts
from snapshots.parse import aggregate_holders

log = get_logger(__name__)
PRECISION = 100
BACKED = "backed"
VERDICTS = (BACKED, "over_minted", "under_minted", "no_statement")


@dataclass(frozen=True)
class ChainSupply:
    slot: int
    supply: int
    decimals: int
    multiplier: str | None
    """The multiplier in force (Token-2022 ScaledUiAmount), as the shortest repr of the f64."""
    excluded_total: int


def excluded_wallets(session: Session, instrument: Instrument) -> set[str]:
    """Wallets whose tokens are not outstanding (the issuer's inventory, the custodian): the
    instrument's issuer wallet and excluded wallets, and the wallets the wallet registry marks
    excluded as it stands now."""
    return {
        *instrument.excluded_wallets,
        *([instrument.issuer_wallet] if instrument.issuer_wallet else []),
        *(row.address for row in rows_in_force(session) if row.excluded),
    }


def outstanding_shares(
    supply: int, excluded_total: int, multiplier: str | None, decimals: int
) -> Decimal:
    """Exact: (supply - excluded) raw units x multiplier, in shares."""
    with localcontext() as ctx:
        ctx.prec = PRECISION
        factor = Decimal(multiplier) if multiplier is not None else Decimal(1)
        return (Decimal(supply - excluded_total) * factor).scaleb(-decimals)


def verdict_of(difference: Decimal | None, tolerance: Decimal) -> str:
    if difference is None:
        return "no_statement"
    if abs(difference) <= tolerance:
        return BACKED
    return "over_minted" if difference > 0 else "under_minted"


def multiplier_in_force(
    multiplier: float | None, new: float | None, new_at: int | None, at: int
) -> str | None:
    """The ScaledUiAmount multiplier at unix time ``at``: the new one once its effective time
    has come; as the shortest repr of the f64 (``Decimal`` of it is exact)."""
    if multiplier is None:
        return None
    if new is not None and new_at is not None and new_at <= at:
        return repr(new)
    return repr(multiplier)


def reported(session: Session, instrument_id: int) -> bool:
    """Whether any custody statement has named the instrument (else it is not checked)."""
    return (
        session.exec(
            select(CustodyStatement.id).where(CustodyStatement.instrument_id == instrument_id)
        ).first()
        is not None
    )


def statement_at(session: Session, instrument_id: int, cutoff: datetime) -> CustodyStatement | None:
    """The current version of the statement with the latest ``as_of`` at or before ``cutoff``."""
    return session.exec(
        select(CustodyStatement)
        .where(
            CustodyStatement.instrument_id == instrument_id,
            col(CustodyStatement.superseded_at).is_(None),
            CustodyStatement.as_of <= cutoff,
        )
        .order_by(col(CustodyStatement.as_of).desc(), col(CustodyStatement.id).desc())
    ).first()


def record_check(
    session: Session,
    *,
    instrument: Instrument,
    chain: ChainSupply,
    cutoff: datetime,
    trigger: str,
    snapshot_id: int | None = None,
    settings: Settings | None = None,
) -> BackingCheck:
    """Compare and store (or return the check already stored for this statement and slot)."""
    settings = settings or get_settings()
    assert instrument.id is not None
    statement = statement_at(session, instrument.id, cutoff)
    existing = session.exec(
        select(BackingCheck).where(
            BackingCheck.instrument_id == instrument.id,
            BackingCheck.slot == chain.slot,
            BackingCheck.statement_row_id == (statement.id if statement else None),
        )
    ).first()
    if existing is not None and statement is not None:
        if snapshot_id is not None and existing.snapshot_id is None:
            existing.snapshot_id = snapshot_id  # the same check serves the record date too
            session.add(existing)
            session.flush()
        return existing
    outstanding = outstanding_shares(
        chain.supply, chain.excluded_total, chain.multiplier, chain.decimals
    )
    difference = None
    if statement is not None:
        with localcontext() as ctx:
            ctx.prec = PRECISION
            difference = outstanding - statement.shares
    tolerance = settings.peg_tolerance_shares
    check = BackingCheck(
        instrument_id=instrument.id,
        trigger=trigger,
        snapshot_id=snapshot_id,
        slot=chain.slot,
        cutoff=cutoff,
        supply=chain.supply,
        decimals=chain.decimals,
        multiplier=chain.multiplier,
        excluded_total=chain.excluded_total,
        outstanding=outstanding,
        statement_row_id=statement.id if statement else None,
        statement_id=statement.statement_id if statement else None,
        statement_sha256=statement.sha256 if statement else None,
        custodian_shares=statement.shares if statement else None,
        difference=difference,
        tolerance=tolerance,
        verdict=verdict_of(difference, tolerance),
    )
    session.add(check)
    session.flush()
    if not check.backed:
        notify(
            session,
            "instrument.backing_failed",
            {
                "symbol": instrument.symbol,
                "mint": instrument.mint,
                "check_id": check.id,
                "slot": chain.slot,
                "verdict": check.verdict,
                "tokens_outstanding": str(outstanding),
                "custodian_shares": None if statement is None else str(statement.shares),
                "difference_shares": None if difference is None else str(difference),
                "statement_id": check.statement_id,
                "what_to_do": "compare the custodian's statement with the token supply; a plan "
                "on this snapshot needs the difference acknowledged in its signed approval",
            },
            settings=settings,
        )
    (log.info if check.backed else log.warning)(
        "backing checked",
        symbol=instrument.symbol,
        slot=chain.slot,
        verdict=check.verdict,
        outstanding=str(outstanding),
        custodian=str(check.custodian_shares),
        difference=str(difference),
    )
    return check


def check_snapshot(
    session: Session,
    *,
    snapshot: Snapshot,
    instrument: Instrument,
    cutoff: datetime,
    settings: Settings | None = None,
) -> BackingCheck | None:
    """The record-date check, from the snapshot's own supply, slot and excluded total."""
    if instrument.id is None or not reported(session, instrument.id):
        return None
    chain = ChainSupply(
        slot=snapshot.slot,
        supply=snapshot.supply,
        decimals=instrument.decimals,
        multiplier=snapshot.multiplier,
        excluded_total=snapshot.excluded_total,
    )
    return record_check(
        session,
        instrument=instrument,
        chain=chain,
        cutoff=cutoff,
        trigger="snapshot",
        snapshot_id=snapshot.id,
        settings=settings,
    )


async def read_chain_supply(
    rpc: Rpc, instrument: Instrument, excluded: set[str], settings: Settings
) -> tuple[ChainSupply, datetime | None]:
    """Supply, multiplier and excluded holdings at one slot, read as a snapshot reads them
    (every token account, proven equal to supply); and the slot's block time if known."""
    mint = Pubkey.from_string(instrument.mint)
    token_2022 = instrument.token_program == TokenProgram.token2022
    state = await read_mint(rpc, mint)
    chain = await read_token_accounts(rpc, mint, token_2022=token_2022, settings=settings)
    try:
        block_time: int | None = int(await rpc.call_json("getBlockTime", [chain.slot]))
    except Exception:  # informative; many nodes prune it
        block_time = None
    holders = aggregate_holders(chain.accounts.lazy(), excluded=excluded)
    excluded_total = int(holders.filter(holders["excluded"])["amount"].sum() or 0)
    moment = block_time if block_time is not None else int(datetime.now(UTC).timestamp())
    multiplier = multiplier_in_force(
        state.multiplier, state.new_multiplier, state.new_multiplier_at, moment
    )
    supply = ChainSupply(
        slot=chain.slot,
        supply=chain.supply,
        decimals=state.decimals,
        multiplier=multiplier,
        excluded_total=excluded_total,
    )
    return supply, datetime.fromtimestamp(block_time, UTC) if block_time else None


def instrument_by_symbol(session: Session, symbol: str) -> Instrument:
    instrument = session.exec(select(Instrument).where(Instrument.symbol == symbol.upper())).first()
    if instrument is None:
        raise NotFound(f"no instrument {symbol}", hint="corpactions instruments list")
    return instrument


def check_instrument(
    *,
    session_factory: SessionFactory,
    symbol: str,
    trigger: str = "manual",
    now: datetime | None = None,
    settings: Settings | None = None,
) -> BackingCheck:
    """Read the chain now and check ``symbol`` against its latest statement up to ``now``."""
    settings = settings or get_settings()
    with session_factory() as session:
        instrument = instrument_by_symbol(session, symbol)
        if instrument.id is None or not reported(session, instrument.id):
            raise BackingError(
                f"no custody statement names {instrument.symbol}",
                hint="corpactions reserves ingest FILE",
            )
        excluded = excluded_wallets(session, instrument)
        session.expunge(instrument)

    async def read() -> ChainSupply:
        async with Rpc(settings=settings) as rpc:
            return (await read_chain_supply(rpc, instrument, excluded, settings))[0]

    chain = asyncio.run(read())
    cutoff = now or datetime.now(UTC)
    with session_factory() as session:
        stored = session.get(Instrument, instrument.id)
        assert stored is not None
        check = record_check(
            session,
            instrument=stored,
            chain=chain,
            cutoff=cutoff,
            trigger=trigger,
            settings=settings,
        )
        session.expunge(check)
        return check


def check_all(
    *, session_factory: SessionFactory, trigger: str = "scheduled", settings: Settings | None = None
) -> dict[str, Any]:
    """Check every active instrument a custody statement names; one failure does not stop
    the others (it is reported)."""
    with session_factory() as session:
        symbols = [
            i.symbol
            for i in session.exec(select(Instrument).where(col(Instrument.active).is_(True)))
            if i.id is not None and reported(session, i.id)
        ]
    checked: dict[str, str] = {}
    failed: dict[str, str] = {}
    for symbol in symbols:
        try:
            check = check_instrument(
                session_factory=session_factory, symbol=symbol, trigger=trigger, settings=settings
            )
            checked[symbol] = check.verdict
        except Exception as exc:  # reported per instrument; the others still run
            failed[symbol] = str(exc)
            log.exception("backing check failed", symbol=symbol)
    return {"checked": checked, "failed": failed}


def check_of_plan(session: Session, plan: PayoutPlan) -> BackingCheck | None:
    return session.exec(
        select(BackingCheck)
        .where(BackingCheck.snapshot_id == plan.snapshot_id)
        .order_by(col(BackingCheck.id).desc())
    ).first()


def funding_difference(
    session: Session, plan: PayoutPlan, settings: Settings | None = None
) -> dict[str, Any] | None:
    """For a cash plan whose snapshot was checked: what the custodian receives for its shares
    (rate x custodian shares, rounded down to a base unit) against what the plan pays out (its
    pool: the lines' gross and the rounding left undistributed), in payout base units;
    negative: the custodian's dividend is short of the plan."""
    settings = settings or get_settings()
    check = check_of_plan(session, plan)
    if check is None:
        return None
    out: dict[str, Any] = {
        "check_id": check.id,
        "verdict": check.verdict,
        "slot": check.slot,
        "tokens_outstanding": shares_text(check.outstanding),
        "custodian_shares": shares_text(check.custodian_shares),
        "difference_shares": shares_text(check.difference),
        "statement_id": check.statement_id,
        "statement_sha256": check.statement_sha256,
    }
    if plan.asset == "usdc" and plan.kind == "cash_dividend" and check.custodian_shares is not None:
        received = Fraction(plan.rate_per_share) * Fraction(check.custodian_shares)
        received_units = int(received * 10**settings.payout_decimals)  # rounded down (>= 0)
        out["custodian_receives"] = str(received_units)
        pays = plan.gross_pool + plan.undistributed
        out["plan_pays"] = str(pays)
        out["funding_difference"] = str(received_units - pays)
    return out


def backing_acknowledgement_required(session: Session, plan: PayoutPlan) -> str | None:
    """The text an approver must explicitly acknowledge to approve ``plan``: the failed check
    of its snapshot's backing; None when the snapshot was backed (or not checked)."""
    return acknowledgement_of(session, check_of_plan(session, plan))


def multiplier_acknowledgement_required(
    session: Session, instrument_id: int, snapshot_id: int | None
) -> str | None:
    """The same for a multiplier plan: the check of its snapshot when it has one, else the
    instrument's latest check (a reinvestment scales whatever the token's backing is now)."""
    query = select(BackingCheck).order_by(col(BackingCheck.id).desc())
    if snapshot_id is not None:
        found = session.exec(query.where(BackingCheck.snapshot_id == snapshot_id)).first()
        if found is not None:
            return acknowledgement_of(session, found)
    return acknowledgement_of(
        session, session.exec(query.where(BackingCheck.instrument_id == instrument_id)).first()
    )


def verdict_from_inputs(session: Session, check: BackingCheck) -> str:
    """The verdict recomputed from the check's recorded inputs (chain supply, excluded units,
    multiplier, the statement's shares as stored with the statement), not its verdict column:
    an edit of that one column, or of the figures copied into the check, changes nothing."""
    outstanding = outstanding_shares(
        check.supply, check.excluded_total, check.multiplier, check.decimals
    )
    statement = (
        session.get(CustodyStatement, check.statement_row_id)
        if check.statement_row_id is not None
        else None
    )
    if statement is None:
        return verdict_of(None, check.tolerance)
    with localcontext() as ctx:
        ctx.prec = PRECISION
        return verdict_of(outstanding - statement.shares, check.tolerance)


def acknowledgement_of(session: Session, check: BackingCheck | None) -> str | None:
    if check is None:
        return None
    verdict = verdict_from_inputs(session, check)
    if check.backed and verdict == BACKED:
        return None
    instrument = session.get(Instrument, check.instrument_id)
    symbol = instrument.symbol if instrument else str(check.instrument_id)
    if check.custodian_shares is None:
        return (
            f"acknowledged: {symbol} at slot {check.slot} has no custody statement as of "
            f"{check.cutoff.isoformat()} (backing check {check.id}); the plan pays "
            f"{shares_text(check.outstanding)} tokens outstanding unverified"
        )
    return (
        f"acknowledged: {symbol} at slot {check.slot} is {verdict.replace('_', '-')}: "
        f"{shares_text(check.outstanding)} tokens outstanding against "
        f"{shares_text(check.custodian_shares)} shares in custody (statement "
        f"{check.statement_id} sha256 {check.statement_sha256}), difference "
        f"{shares_text(check.difference)} shares beyond the tolerance "
        f"{shares_text(check.tolerance)} (backing check {check.id})"
    )


def split_peg_problem(
    session: Session,
    *,
    instrument: Instrument,
    snapshot: Snapshot,
    ratio: Fraction,
    cutoff: datetime,
    settings: Settings | None = None,
) -> str | None:
    """Why a split of ``ratio`` on ``snapshot`` would leave tokens outstanding that differ from
    the custodian's shares x ratio beyond the tolerance; None when it would not (or the
    instrument is not reported). The tokens after the split are the outstanding tokens x ratio
    (the plan issues that, less the fractions it rounds away or pays in cash, which the
    custodian's fractional entitlement mirrors)."""
    settings = settings or get_settings()
    if instrument.id is None or not reported(session, instrument.id):
        return None
    statement = statement_at(session, instrument.id, cutoff)
    if statement is None:
        return (
            f"no custody statement of {instrument.symbol} as of {cutoff.isoformat()}: "
            "the split's peg cannot be checked"
        )
    before = Fraction(snapshot.supply - snapshot.excluded_total, 10**instrument.decimals)
    if snapshot.multiplier is not None:
        before *= Fraction(Decimal(snapshot.multiplier))
    after = before * ratio
    custody_after = Fraction(statement.shares) * ratio
    gap = after - custody_after
    if abs(gap) <= Fraction(settings.peg_tolerance_shares):
        return None
    return (
        f"after the split {instrument.symbol} would have {_shares(after)} tokens outstanding "
        f"but the custodian {_shares(custody_after)} shares (statement {statement.statement_id}: "
        f"{statement.shares} x {ratio.numerator}/{ratio.denominator}); difference "
        f"{_shares(gap)} beyond the tolerance {settings.peg_tolerance_shares}"
    )


def refuse_peg_breaking_split(
    session: Session,
    *,
    action_id: int,
    instrument: Instrument,
    snapshot: Snapshot,
    ratio: Fraction,
    cutoff: datetime,
    settings: Settings | None = None,
) -> None:
    """Raise ``PlanError`` when a split of ``ratio`` would break the peg (see above)."""
    broken = split_peg_problem(
        session,
        instrument=instrument,
        snapshot=snapshot,
        ratio=ratio,
        cutoff=cutoff,
        settings=settings,
    )
    if broken:
        raise PlanError(
            f"split of action {action_id} refused: {broken}",
            hint="reconcile the supply with the custodian (or ingest its current statement) "
            "before splitting",
        )


def _shares(value: Fraction) -> str:
    with localcontext() as ctx:
        ctx.prec = PRECISION
        return format((Decimal(value.numerator) / Decimal(value.denominator)).normalize(), "f")


def shares_text(value: Decimal | None) -> str | None:
    """A number of shares as plain decimal text without trailing zeros ('10', '0.5')."""
    if value is None:
        return None
    with localcontext() as ctx:
        ctx.prec = PRECISION
        return format(value.normalize(), "f")


def latest_checks(session: Session) -> list[tuple[Instrument, BackingCheck]]:
    """Each instrument's latest check."""
    out = []
    for instrument in session.exec(select(Instrument).order_by(col(Instrument.symbol))):
        check = session.exec(
            select(BackingCheck)
            .where(BackingCheck.instrument_id == instrument.id)
            .order_by(col(BackingCheck.id).desc())
        ).first()
        if check is not None:
            out.append((instrument, check))
    return out


def failing_instruments(session: Session) -> list[dict[str, Any]]:
    """Instruments whose latest check is not backed, for ``status``."""
    return [
        {
            "symbol": instrument.symbol,
            "check_id": check.id,
            "verdict": check.verdict,
            "slot": check.slot,
            "difference_shares": shares_text(check.difference),
            "checked_at": check.created_at,
        }
        for instrument, check in latest_checks(session)
        if not check.backed
    ]


def history(session: Session, instrument_id: int, limit: int = 100) -> list[BackingCheck]:
    return list(
        session.exec(
            select(BackingCheck)
            .where(BackingCheck.instrument_id == instrument_id)
            .order_by(col(BackingCheck.id).desc())
            .limit(limit)
        )
    )


def check_as_dict(check: BackingCheck) -> dict[str, Any]:
    return {
        "id": check.id,
        "trigger": check.trigger,
        "snapshot_id": check.snapshot_id,
        "slot": check.slot,
        "cutoff": check.cutoff,
        "supply": str(check.supply),
        "decimals": check.decimals,
        "multiplier": check.multiplier,
        "excluded_total": str(check.excluded_total),
        "tokens_outstanding": shares_text(check.outstanding),
        "statement_id": check.statement_id,
        "statement_sha256": check.statement_sha256,
        "custodian_shares": shares_text(check.custodian_shares),
        "difference_shares": shares_text(check.difference),
        "tolerance_shares": shares_text(check.tolerance),
        "verdict": check.verdict,
        "checked_at": check.created_at,
        "memo_signature": check.attestation_signature if check.attested_at else None,
        "memo_published_at": check.attested_at,
    }

"""Take, record and supersede holder snapshots (the plain functions the CLI and tasks call)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
from solders.pubkey import Pubkey
from sqlmodel import Session, col, select

from corpactions.actions import current_version, entitlement_date, record_reason
from corpactions.chain import layout
from corpactions.chain.rpc import Rpc
from corpactions.config import Settings, get_settings
from corpactions.errors import AlreadyExists, NotFound, SnapshotError
from corpactions.logs import get_logger
from corpactions.models import (
    TERMINAL_ACTION_STATUSES,
    ActionStatus,
    CorporateAction,
    Instrument,
    PayoutPlan,
    PlanStatus,
    Snapshot,
    TokenProgram,
)
from corpactions.reserves.backing import check_snapshot, excluded_wallets
from snapshots.fetch import Stage, read_mint, read_token_accounts
from snapshots.parse import aggregate_holders
from snapshots.store import read_holdings, write_holdings

log = get_logger(__name__)


@dataclass(frozen=True)
class SnapshotSummary:
    snapshot: Snapshot
    holders: pl.DataFrame
    attempts: int
    pages: int
    paginated: bool


def _multiplier_in_force(
    multiplier: float | None, new: float | None, new_at: int | None, at: int | None
) -> tuple[str | None, str | None, datetime | None]:
    if multiplier is None:
        return None, None, None
    if new_at and new is not None and at is not None and new_at <= at:
        return repr(new), None, None
    if new_at and new is not None and new != multiplier:
        return repr(multiplier), repr(new), datetime.fromtimestamp(new_at, UTC)
    return repr(multiplier), None, None


def current_snapshot(session: Session, action_id: int) -> Snapshot | None:
    return session.exec(
        select(Snapshot)
        .where(
            Snapshot.action_id == action_id,
            Snapshot.superseded_by == None,  # noqa: E711
            Snapshot.stale_reason == None,  # noqa: E711
        )
        .order_by(Snapshot.id.desc())  # type: ignore[union-attr]
    ).first()


def take_snapshot(
    *,
    session: Session,
    instrument: Instrument,
    action: CorporateAction | None = None,
    rpc_url: str | None = None,
    out_dir: Path | None = None,
    supersede: bool = False,
    stage: Stage | None = None,
    settings: Settings | None = None,
) -> SnapshotSummary:
    """Read the holders of ``instrument`` now, store the file and the ``Snapshot`` row."""
    settings = settings or get_settings()
    previous = current_snapshot(session, action.id) if action is not None and action.id else None
    if previous is not None and not supersede:
        raise AlreadyExists(
            f"action {action.id if action else ''} already has snapshot {previous.id}",
            hint="pass --supersede to replace it (plans built on it become stale)",
        )
    mint = Pubkey.from_string(instrument.mint)
    token_2022 = instrument.token_program == TokenProgram.token2022

    async def read() -> tuple[Any, Any, int | None]:
        async with Rpc(rpc_url, settings=settings) as rpc:
            state = await read_mint(rpc, mint)
            expected = layout.TOKEN_2022_PROGRAM_ID if token_2022 else layout.TOKEN_PROGRAM_ID
            if state.program != expected:
                raise SnapshotError(
                    f"{instrument.symbol}'s mint is owned by {state.program}, "
                    f"but the instrument says {instrument.token_program}",
                    hint="fix the instrument's --program",
                )
            chain = await read_token_accounts(
                rpc,
                mint,
                token_2022=token_2022,
                settings=settings,
                stage=stage,
            )
            try:
                block_time = int(await rpc.call_json("getBlockTime", [chain.slot]))
            except Exception:  # block time is informative; many nodes prune it
                block_time = None
            return state, chain, block_time

    state, chain, block_time = asyncio.run(read())
    excluded = excluded_wallets(session, instrument)
    holders = aggregate_holders(chain.accounts.lazy(), excluded=excluded)
    directory = out_dir or settings.ensure_data_dir() / "snapshots" / instrument.symbol
    path, digest = write_holdings(holders, directory, name=f"{instrument.symbol}-slot{chain.slot}")
    multiplier, pending, pending_at = _multiplier_in_force(
        state.multiplier, state.new_multiplier, state.new_multiplier_at, block_time
    )
    excluded_total = int(holders.filter(pl.col("excluded"))["amount"].sum() or 0)
    snapshot = Snapshot(
        instrument_id=instrument.id or 0,
        action_id=action.id if action else None,
        slot=chain.slot,
        block_time=datetime.fromtimestamp(block_time, UTC) if block_time else None,
        supply=chain.supply,
        account_count=chain.accounts.height,
        owner_count=holders.height,
        excluded_total=excluded_total,
        multiplier=multiplier,
        pending_multiplier=pending,
        pending_multiplier_at=pending_at,
        path=str(path.resolve()),
        sha256=digest,
    )
    session.add(snapshot)
    session.flush()
    if previous is not None:
        previous.superseded_by = snapshot.id
        session.add(previous)
        for plan in session.exec(select(PayoutPlan).where(PayoutPlan.snapshot_id == previous.id)):
            if plan.status in (PlanStatus.draft, PlanStatus.approved):
                plan.status = PlanStatus.stale
                plan.stale_reason = f"snapshot {previous.id} superseded by {snapshot.id}"
                session.add(plan)
    if action is not None:  # the record-date check of backing, against custody
        version = current_version(session, action)
        day = entitlement_date(version) if version else None
        cutoff = (
            record_date_cutoff(day, settings) if day else snapshot.block_time or datetime.now(UTC)
        )
        check_snapshot(
            session, snapshot=snapshot, instrument=instrument, cutoff=cutoff, settings=settings
        )
    if action is not None and action.status in (ActionStatus.announced, ActionStatus.confirmed):
        action.status = ActionStatus.snapshotted
        action.updated_at = datetime.now(UTC)
        session.add(action)
    log.info(
        "snapshot taken",
        symbol=instrument.symbol,
        slot=chain.slot,
        owners=holders.height,
        accounts=chain.accounts.height,
        supply=chain.supply,
        attempts=chain.attempts,
        file=str(path),
    )
    return SnapshotSummary(snapshot, holders, chain.attempts, chain.pages, chain.paginated)


def load_holders(snapshot: Snapshot) -> pl.DataFrame:
    return read_holdings(Path(snapshot.path), snapshot.sha256)


def get_snapshot(session: Session, snapshot_id: int) -> Snapshot:
    snapshot = session.get(Snapshot, snapshot_id)
    if snapshot is None:
        raise NotFound(f"no snapshot {snapshot_id}", hint="see 'corpactions snapshot take'")
    return snapshot


def record_date_cutoff(record_date: date, settings: Settings) -> datetime:
    zone = ZoneInfo(settings.record_date_timezone)
    return datetime.combine(record_date, settings.record_date_cutoff, zone)


def due_actions(
    session: Session, now: datetime, settings: Settings | None = None
) -> list[CorporateAction]:
    """Live actions whose record-date cutoff has passed and that have no snapshot yet."""
    settings = settings or get_settings()
    due = []
    candidates = session.exec(
        select(CorporateAction).where(
            col(CorporateAction.status).in_([ActionStatus.announced, ActionStatus.confirmed])
        )
    )
    for action in candidates:
        if action.status in TERMINAL_ACTION_STATUSES or action.id is None:
            continue
        version = current_version(session, action)
        cutoff_date = entitlement_date(version) if version else None
        if cutoff_date is None:
            continue
        if (
            now >= record_date_cutoff(cutoff_date, settings)
            and current_snapshot(session, action.id) is None
        ):
            due.append(action)
    return due


def take_due_snapshots(
    *, session_factory: Callable[[], Any], now: datetime | None = None, rpc_url: str | None = None
) -> dict[str, list[int]]:
    """Snapshot every due action, each in its own transaction; failures are recorded, not fatal."""
    moment = now or datetime.now(UTC)
    with session_factory() as session:
        due = [a.id for a in due_actions(session, moment) if a.id is not None]
    taken: list[int] = []
    failed: list[int] = []
    for action_id in due:
        try:
            with session_factory() as session:
                action = session.get(CorporateAction, action_id)
                instrument = session.get(Instrument, action.instrument_id) if action else None
                if action is None or instrument is None:
                    continue
                take_snapshot(
                    session=session, instrument=instrument, action=action, rpc_url=rpc_url
                )
                action.status_reason = None
            taken.append(action_id)
        except (SnapshotError, AlreadyExists) as exc:
            failed.append(action_id)
            log.warning("due snapshot failed", action=action_id, error=str(exc))
            record_reason(session_factory, action_id, f"snapshot failed: {exc}")
    return {"taken": taken, "failed": failed}

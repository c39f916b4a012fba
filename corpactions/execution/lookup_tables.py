"""Address lookup tables of recipients' token accounts, made ahead of a run for v0 batches.

A v0 transaction names an address kept in a lookup table by one byte instead of 32, so a batch
whose recipients sit in tables is bounded by the 64 account locks, not the 1232 bytes.

- ``prepare_tables`` makes every given address an entry of a usable table of the authority:
  it extends tables with room, creates new ones (up to 256 entries each; tables made at once
  take distinct recent slots from the SlotHashes sysvar, since a table's address derives from
  its authority and recent slot), and waits until the chain is past the last extension's slot
  (a table is usable one slot after it was extended).
- ``retire_idle_tables`` deactivates tables unused for ``alt_idle_days`` and closes them once
  the deactivation slot has left SlotHashes, returning their rent to the authority.

Every write is one attempt recorded on the table's row before it is sent (``write_once``); an
attempt already recorded is resolved by asking the chain (``fate``) before anything is signed
again, and its effect (entries, status) is read from the finalized table account, never assumed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from solders import sysvar
from solders.address_lookup_table_account import (
    LOOKUP_TABLE_MAX_ADDRESSES,
    AddressLookupTable,
    AddressLookupTableAccount,
    SlotHashes,
)
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.transaction import Transaction, VersionedTransaction
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from corpactions.chain import layout, tokens
from corpactions.chain.rpc import Rpc, TransactionRejected
from corpactions.config import Settings
from corpactions.db import SessionFactory
from corpactions.execution.batching import PACKET_LIMIT
from corpactions.execution.crashpoints import crash_point
from corpactions.execution.sendonce import Attempt, fate, fates, write_once
from corpactions.logs import get_logger
from corpactions.models import LookupTable, TableStatus
from corpactions.models.types import utcnow

log = get_logger(__name__)
TABLES = LookupTable.__table__  # type: ignore[attr-defined]
CONCURRENT_TABLES = 16
SETTLE_SECONDS = 60.0


def _extend_chunk() -> int:
    """Most addresses one extension carries in a legacy transaction under the packet limit
    (measured on the real serialized transaction)."""
    payer = Pubkey.new_unique()
    table = Pubkey.new_unique()
    count = 1
    while True:
        ix = tokens.extend_lookup_table(
            table, payer, payer, [Pubkey.new_unique() for _ in range(count + 1)]
        )
        message = Message.new_with_blockhash([ix], payer, Hash.default())
        if 1 + 64 + len(bytes(message)) > PACKET_LIMIT:
            return count
        count += 1


EXTEND_CHUNK = _extend_chunk()


@dataclass(frozen=True)
class TableView:
    """A usable table: its address and its entries as the chain holds them."""

    address: Pubkey
    addresses: list[Pubkey]

    def account(self) -> AddressLookupTableAccount:
        return AddressLookupTableAccount(self.address, self.addresses)


# ----- reading the chain -------------------------------------------------------------------------


async def recent_slots(rpc: Rpc) -> list[int]:
    """The slots of the SlotHashes sysvar, newest first (valid ``recent_slot`` values)."""
    account = await rpc.account(sysvar.SLOT_HASHES)
    if account is None:
        return []
    return [slot for slot, _ in SlotHashes.from_bytes(bytes(account.data)).slot_hashes]


async def read_table(rpc: Rpc, address: Pubkey) -> tuple[AddressLookupTable, int] | None:
    """The table account decoded by solders, and its lamports; None if there is none."""
    account = await rpc.account(address)
    if account is None or account.owner != layout.ADDRESS_LOOKUP_TABLE_PROGRAM_ID:
        return None
    return AddressLookupTable.deserialize(bytes(account.data)), int(account.lamports)


# ----- one recorded attempt ----------------------------------------------------------------------


def _row(session_factory: SessionFactory, table_id: int) -> LookupTable:
    with session_factory() as session:
        row = session.get(LookupTable, table_id)
        assert row is not None
        session.expunge(row)
        return row


def _rows(session_factory: SessionFactory, table_ids: Sequence[int]) -> list[LookupTable]:
    """The rows, read in one query, in the order of ``table_ids``."""
    with session_factory() as session:
        found = {
            row.id: row
            for row in session.exec(
                select(LookupTable).where(col(LookupTable.id).in_(list(table_ids)))
            )
        }
        for row in found.values():
            session.expunge(row)
    return [found[i] for i in table_ids if i in found]


def _cas(session: Any, table_id: int, signature: str | None, values: dict[str, Any]) -> bool:
    current = TABLES.c.attempt_signature
    unchanged = current.is_(None) if signature is None else current == signature
    result = session.connection().execute(
        sa.update(TABLES)
        .where(TABLES.c.id == table_id, unchanged)
        .values(**values, updated_at=utcnow())
    )
    return bool(result.rowcount == 1)


def _update(
    session_factory: SessionFactory, table_id: int, signature: str | None, **values: Any
) -> bool:
    """Compare-and-set on the row's recorded attempt (None: no attempt recorded)."""
    with session_factory() as session:
        return _cas(session, table_id, signature, values)


_CLEARED: dict[str, Any] = {
    "attempt_kind": None,
    "attempt_tx": None,
    "attempt_signature": None,
    "attempt_last_valid": None,
    "attempt_addresses": [],
}


async def resolve(rpc: Rpc, session_factory: SessionFactory, table_id: int) -> bool:
    """Settle the row's recorded attempt, if any, from the chain. True when the row is free for
    a new write; False while the attempt may still land."""
    row = _row(session_factory, table_id)
    if row.attempt_signature is None:
        return True
    signature = row.attempt_signature
    found = await fate(rpc, Attempt(signature, row.attempt_last_valid or 0, row.attempt_tx))
    if found.state == "pending":
        return False
    if not found.succeeded:
        log.warning(
            "lookup table write did not land; a new attempt may be made",
            table=row.address,
            kind=row.attempt_kind,
            signature=signature,
            fate=found.state,
            err=found.err,
        )
        _update(session_factory, table_id, signature, **_CLEARED)
        return True
    crash_point("table_after_confirm")
    await _apply(rpc, session_factory, row, found.slot)
    return True


async def _apply(rpc: Rpc, session_factory: SessionFactory, row: LookupTable, slot: int) -> None:
    """Enter a finalized write's effect, read from the table account itself."""
    kind = row.attempt_kind
    values: dict[str, Any] = dict(_CLEARED)
    read = await read_table(rpc, Pubkey.from_string(row.address))
    if kind in ("create", "extend"):
        assert read is not None, f"table {row.address} missing after a finalized {kind}"
        table, lamports = read
        values |= {
            "status": TableStatus.active.value,
            "addresses": [str(a) for a in table.addresses],
            "rent_lamports": lamports,
            "last_extended_slot": max(int(table.meta.last_extended_slot), slot),
        }
        if kind == "create":
            values["create_signature"] = row.attempt_signature
        else:
            values["extend_signatures"] = [*row.extend_signatures, row.attempt_signature]
    elif kind == "deactivate":
        values |= {
            "status": TableStatus.deactivating.value,
            "deactivate_signature": row.attempt_signature,
            "deactivation_slot": int(read[0].meta.deactivation_slot) if read else slot,
        }
    elif kind == "close":
        values |= {
            "status": TableStatus.closed.value,
            "close_signature": row.attempt_signature,
            "reclaimed_lamports": row.rent_lamports,
        }
    _update(session_factory, row.id or 0, row.attempt_signature, **values)
    log.info("lookup table write finalized", table=row.address, kind=kind, slot=slot)


async def _signed(
    rpc: Rpc, signers: Sequence[Keypair], payer: Keypair, ixs: list[Instruction]
) -> tuple[VersionedTransaction, int]:
    blockhash = await rpc.latest_blockhash()
    tx = Transaction(list(signers), Message(ixs, payer.pubkey()), blockhash.blockhash)
    return VersionedTransaction.from_legacy(tx), blockhash.last_valid_block_height


async def _write(
    rpc: Rpc,
    session_factory: SessionFactory,
    table_id: int,
    kind: str,
    ixs: list[Instruction],
    *,
    authority: Keypair,
    payer: Keypair,
    extra: dict[str, Any] | None = None,
) -> None:
    """Record, send and settle one write of the row (which has no attempt recorded)."""
    tx, last_valid = await _signed(rpc, _signers(authority, payer), payer, ixs)

    def record(signed: bytes, signature: str, last: int) -> bool:
        return _update(
            session_factory,
            table_id,
            None,
            attempt_kind=kind,
            attempt_tx=signed,
            attempt_signature=signature,
            attempt_last_valid=last,
            **(extra or {}),
        )

    landed = await write_once(
        rpc, tx, last_valid, record=record, crash_prefix="table", timeout=SETTLE_SECONDS
    )
    if landed is not None:
        await resolve(rpc, session_factory, table_id)


def _signers(authority: Keypair, payer: Keypair) -> list[Keypair]:
    return [payer] if payer.pubkey() == authority.pubkey() else [payer, authority]


# ----- making tables -----------------------------------------------------------------------------


def _live_rows(session_factory: SessionFactory, authority: Pubkey) -> list[LookupTable]:
    with session_factory() as session:
        rows = list(
            session.exec(
                select(LookupTable)
                .where(
                    LookupTable.authority == str(authority),
                    col(LookupTable.status).in_(
                        [TableStatus.creating.value, TableStatus.active.value]
                    ),
                )
                .order_by(col(LookupTable.id))
            )
        )
        for row in rows:
            session.expunge(row)
        return rows


def _record_create(
    session_factory: SessionFactory,
    tx: VersionedTransaction,
    last_valid: int,
    *,
    authority: Pubkey,
    address: Pubkey,
    recent_slot: int,
    table_id: int | None,
) -> int | None:
    """Record a CreateLookupTable attempt: a new row, or a new attempt of a row whose earlier
    create never landed. Returns the row id, None when another executor took it first."""
    attempt = {
        "attempt_kind": "create",
        "attempt_tx": bytes(tx),
        "attempt_signature": str(tx.signatures[0]),
        "attempt_last_valid": last_valid,
        "address": str(address),
        "recent_slot": recent_slot,
    }
    if table_id is not None:
        return table_id if _update(session_factory, table_id, None, **attempt) else None
    try:
        with session_factory() as session:
            return int(
                session.execute(
                    sa.insert(TABLES)
                    .values(
                        authority=str(authority),
                        status=TableStatus.creating.value,
                        addresses=[],
                        extend_signatures=[],
                        attempt_addresses=[],
                        rent_lamports=0,
                        reclaimed_lamports=0,
                        last_used_at=utcnow(),
                        created_at=utcnow(),
                        updated_at=utcnow(),
                        **attempt,
                    )
                    .returning(TABLES.c.id)
                ).scalar_one()
            )
    except IntegrityError:
        return None  # that address is taken (another executor used the same slot)


async def _send_all(rpc: Rpc, txs: Sequence[VersionedTransaction]) -> None:
    gate = asyncio.Semaphore(CONCURRENT_TABLES)

    async def one(tx: VersionedTransaction) -> None:
        async with gate:
            with contextlib.suppress(TransactionRejected):
                await rpc.send_raw(bytes(tx), skip_preflight=True)

    await asyncio.gather(*(one(tx) for tx in txs))


async def settle_rows(
    rpc: Rpc, session_factory: SessionFactory, table_ids: Sequence[int], *, timeout: float
) -> bool:
    """Resolve the recorded attempts of these rows together (statuses asked in one call per
    pass), applying each finalized write; True when none is left pending."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        rows = [r for r in _rows(session_factory, table_ids) if r.attempt_signature]
        if not rows:
            return True
        found = await fates(
            rpc,
            [
                Attempt(r.attempt_signature or "", r.attempt_last_valid or 0, r.attempt_tx)
                for r in rows
            ],
        )
        for row, result in zip(rows, found, strict=True):
            if result.state == "pending":
                continue
            if result.succeeded:
                crash_point("table_after_confirm")
                await _apply(rpc, session_factory, row, result.slot)
            else:
                log.warning(
                    "lookup table write did not land; a new attempt may be made",
                    table=row.address,
                    kind=row.attempt_kind,
                    fate=result.state,
                    err=result.err,
                )
                _update(session_factory, row.id or 0, row.attempt_signature, **_CLEARED)
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.3)


async def _create_round(
    rpc: Rpc,
    session_factory: SessionFactory,
    authority: Keypair,
    payer: Keypair,
    targets: Sequence[tuple[int, int | None]],
) -> list[int]:
    """Create tables at the given (recent slot, stalled row or None), all recorded before any is
    sent, then settled together. Returns the rows now active."""
    blockhash = await rpc.latest_blockhash()
    recorded: list[tuple[int, VersionedTransaction]] = []
    for recent_slot, table_id in targets:
        ix, address = tokens.create_lookup_table(authority.pubkey(), payer.pubkey(), recent_slot)
        tx = VersionedTransaction.from_legacy(
            Transaction(
                _signers(authority, payer), Message([ix], payer.pubkey()), blockhash.blockhash
            )
        )
        crash_point("table_after_sign")
        row_id = _record_create(
            session_factory,
            tx,
            blockhash.last_valid_block_height,
            authority=authority.pubkey(),
            address=address,
            recent_slot=recent_slot,
            table_id=table_id,
        )
        if row_id is not None:
            recorded.append((row_id, tx))
    crash_point("table_after_persist")
    await _send_all(rpc, [tx for _, tx in recorded])
    crash_point("table_after_send")
    ids = [row_id for row_id, _ in recorded]
    await settle_rows(rpc, session_factory, ids, timeout=SETTLE_SECONDS)
    return [i for i in ids if _row(session_factory, i).status == TableStatus.active]


async def _extend_rounds(
    rpc: Rpc,
    session_factory: SessionFactory,
    authority: Keypair,
    payer: Keypair,
    plan: Sequence[tuple[int, list[str]]],
) -> None:
    """Extend every planned table with what it lacks, one chunk per table per round: each
    round's extensions are recorded before any is sent, then settled together."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE_SECONDS * 4
    while loop.time() < deadline:
        blockhash = await rpc.latest_blockhash()
        signed: list[tuple[int, VersionedTransaction, list[str]]] = []
        rows = {row.id: row for row in _rows(session_factory, [i for i, _ in plan])}
        for table_id, wanted in plan:
            row = rows.get(table_id)
            if row is None or row.status != TableStatus.active or row.attempt_signature:
                continue
            have = set(row.addresses)
            todo = [a for a in wanted if a not in have]
            chunk = todo[: min(EXTEND_CHUNK, LOOKUP_TABLE_MAX_ADDRESSES - len(row.addresses))]
            if not chunk:
                continue
            ix = tokens.extend_lookup_table(
                Pubkey.from_string(row.address),
                authority.pubkey(),
                payer.pubkey(),
                [Pubkey.from_string(a) for a in chunk],
            )
            tx = VersionedTransaction.from_legacy(
                Transaction(
                    _signers(authority, payer), Message([ix], payer.pubkey()), blockhash.blockhash
                )
            )
            signed.append((table_id, tx, chunk))
        crash_point("table_after_sign")
        recorded: list[tuple[int, VersionedTransaction]] = []
        with session_factory() as session:  # every attempt of the round committed together
            for table_id, tx, chunk in signed:
                values = {
                    "attempt_kind": "extend",
                    "attempt_tx": bytes(tx),
                    "attempt_signature": str(tx.signatures[0]),
                    "attempt_last_valid": blockhash.last_valid_block_height,
                    "attempt_addresses": chunk,
                }
                if _cas(session, table_id, None, values):
                    recorded.append((table_id, tx))
        if not recorded:
            return
        crash_point("table_after_persist")
        await _send_all(rpc, [tx for _, tx in recorded])
        crash_point("table_after_send")
        await settle_rows(rpc, session_factory, [i for i, _ in recorded], timeout=SETTLE_SECONDS)


async def prepare_tables(
    rpc: Rpc,
    session_factory: SessionFactory,
    authority: Keypair,
    addresses: Sequence[Pubkey],
    *,
    payer: Keypair | None = None,
) -> list[TableView]:
    """Make the addresses entries of usable tables of ``authority`` (``payer`` pays the rent and
    fees; the authority by default) and return the usable tables that hold any of them. Best
    effort: an address whose table is not ready (a write still pending) is left out, and its
    line is paid from a static key instead."""
    payer = payer or authority
    wanted = list(dict.fromkeys(str(a) for a in addresses))
    rows = _live_rows(session_factory, authority.pubkey())
    settled = await settle_rows(
        rpc, session_factory, [r.id or 0 for r in rows], timeout=SETTLE_SECONDS
    )
    rows = _live_rows(session_factory, authority.pubkey())
    covered = {a for row in rows for a in row.addresses}
    missing = [a for a in wanted if a not in covered]
    plan: list[tuple[int, list[str]]] = []
    for row in rows:
        if not missing:
            break
        if row.status == TableStatus.active and row.attempt_signature is None:
            room = LOOKUP_TABLE_MAX_ADDRESSES - len(row.addresses)
            if room > 0:
                plan.append((row.id or 0, missing[:room]))
                missing = missing[room:]
    if missing and not settled:
        # a write recorded earlier may still land (a create among them would hold these
        # addresses' room): make no new table until it is settled; this run pays them unlooked-up
        log.warning("lookup table writes still pending; no new table this run")
        missing = []
    if missing:
        stalled = [
            row.id or 0
            for row in rows
            if row.status == TableStatus.creating and row.attempt_signature is None
        ]
        needed = -(-len(missing) // LOOKUP_TABLE_MAX_ADDRESSES)
        used = {row.recent_slot for row in rows}
        slots = [s for s in await recent_slots(rpc) if s not in used]
        targets: list[int | None] = [*stalled[:needed]]
        targets += [None] * (needed - len(targets))
        made = await _create_round(
            rpc, session_factory, authority, payer, list(zip(slots, targets, strict=False))
        )
        for table_id in made:
            if missing:
                plan.append((table_id, missing[:LOOKUP_TABLE_MAX_ADDRESSES]))
                missing = missing[LOOKUP_TABLE_MAX_ADDRESSES:]
    await _extend_rounds(rpc, session_factory, authority, payer, plan)
    return await usable_tables(rpc, session_factory, authority.pubkey(), wanted)


async def usable_tables(
    rpc: Rpc, session_factory: SessionFactory, authority: Pubkey, wanted: Sequence[str]
) -> list[TableView]:
    """The authority's active tables holding any of ``wanted``, once the chain is past their
    last extension's slot; marks them used now."""
    want = set(wanted)
    rows = [
        row
        for row in _live_rows(session_factory, authority)
        if row.status == TableStatus.active and want.intersection(row.addresses)
    ]
    if not rows:
        return []
    newest = max(row.last_extended_slot or 0 for row in rows)
    for _ in range(200):
        if await rpc.slot() > newest:
            break
        await asyncio.sleep(0.1)
    with session_factory() as session:
        session.connection().execute(
            sa.update(TABLES)
            .where(TABLES.c.id.in_([row.id for row in rows]))
            .values(last_used_at=utcnow())
        )
    return [
        TableView(Pubkey.from_string(row.address), [Pubkey.from_string(a) for a in row.addresses])
        for row in rows
    ]


def table_entries(
    session_factory: SessionFactory, addresses: Sequence[str]
) -> dict[Pubkey, list[Pubkey]]:
    """Entries of the named tables as the ledger recorded them from the chain."""
    if not addresses:
        return {}
    with session_factory() as session:
        rows = session.exec(
            select(LookupTable.address, LookupTable.addresses).where(
                col(LookupTable.address).in_(list(addresses))
            )
        ).all()
    return {Pubkey.from_string(a): [Pubkey.from_string(x) for x in entries] for a, entries in rows}


# ----- retiring idle tables ----------------------------------------------------------------------


@dataclass
class Retired:
    deactivated: int = 0
    closed: int = 0
    reclaimed_lamports: int = 0


async def retire_idle_tables(
    rpc: Rpc,
    session_factory: SessionFactory,
    authority: Keypair,
    *,
    idle_days: int,
    now: datetime | None = None,
) -> Retired:
    """Deactivate the authority's tables unused for ``idle_days``; close those whose
    deactivation slot has left SlotHashes (the program's rule), rent back to the authority.
    Each write exactly once; run it as often as you like."""
    now = now or utcnow()
    with session_factory() as session:
        rows = list(
            session.exec(
                select(LookupTable).where(
                    LookupTable.authority == str(authority.pubkey()),
                    col(LookupTable.status).in_(
                        [TableStatus.active.value, TableStatus.deactivating.value]
                    ),
                )
            )
        )
        for row in rows:
            session.expunge(row)
    report = Retired()
    hashes = set(await recent_slots(rpc))
    current = await rpc.slot()
    cutoff = now - timedelta(days=idle_days)
    for listed in rows:
        table_id = listed.id or 0
        if not await resolve(rpc, session_factory, table_id):
            continue
        row = _row(session_factory, table_id)
        address = Pubkey.from_string(row.address)
        if row.status == TableStatus.active and row.last_used_at < cutoff:
            ix = tokens.deactivate_lookup_table(address, authority.pubkey())
            await _write(
                rpc,
                session_factory,
                table_id,
                "deactivate",
                [ix],
                authority=authority,
                payer=authority,
            )
            report.deactivated += int(_row(session_factory, table_id).status != TableStatus.active)
        elif (
            row.status == TableStatus.deactivating
            and row.deactivation_slot is not None
            and row.deactivation_slot not in hashes
            and current > row.deactivation_slot
        ):
            ix = tokens.close_lookup_table(address, authority.pubkey(), authority.pubkey())
            await _write(
                rpc, session_factory, table_id, "close", [ix], authority=authority, payer=authority
            )
            closed = _row(session_factory, table_id)
            if closed.status == TableStatus.closed:
                report.closed += 1
                report.reclaimed_lamports += closed.reclaimed_lamports
    return report


def table_rows(session_factory: SessionFactory) -> list[dict[str, Any]]:
    """Every recorded table, newest first, as the CLI and status show them."""
    with session_factory() as session:
        rows = session.exec(select(LookupTable).order_by(col(LookupTable.id).desc())).all()
        return [
            {
                "address": row.address,
                "status": str(row.status),
                "entries": len(row.addresses),
                "rent_lamports": row.rent_lamports,
                "reclaimed_lamports": row.reclaimed_lamports,
                "create_signature": row.create_signature,
                "extend_signatures": len(row.extend_signatures),
                "deactivate_signature": row.deactivate_signature,
                "close_signature": row.close_signature,
                "pending": row.attempt_kind,
                "last_used_at": row.last_used_at.isoformat(),
            }
            for row in rows
        ]


async def retire_for_settings(session_factory: SessionFactory, settings: Settings) -> Retired:
    """``retire_idle_tables`` for the configured payout authority and idle days."""
    from corpactions.chain.keys import load_keypair

    authority = load_keypair(settings.authority_keypair_path)
    async with Rpc(settings=settings) as rpc:
        return await retire_idle_tables(
            rpc, session_factory, authority, idle_days=settings.alt_idle_days
        )

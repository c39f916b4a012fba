"""Which lookup tables a plan's batches use, and what a stored v0 transaction loads.

- ``plan_tables``: ahead of batching, the recipients' token accounts that go into tables (by
  ``CORPACTIONS_LOOKUP_TABLES``: holders paid in an earlier plan, every existing account, or
  none) are made entries of usable tables (``prepare_tables``); fewer than a legacy batch's
  worth only use tables that exist already.
- ``batch_tables``: at signing, the tables holding a batch's destinations, read from the chain
  (the ledger only says where to look).
- ``stored_lookups``: the entries of the tables a stored transaction reads, as the ledger
  recorded them, for the check before a stored transaction is broadcast.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from solders.address_lookup_table_account import AddressLookupTable, AddressLookupTableAccount
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction
from sqlmodel import col, select

from corpactions.chain import layout
from corpactions.chain.rpc import Rpc
from corpactions.config import Settings
from corpactions.db import SessionFactory
from corpactions.execution.batching import LineSpec
from corpactions.execution.lookup_tables import (
    TableView,
    prepare_tables,
    table_entries,
    usable_tables,
)
from corpactions.logs import get_logger
from corpactions.models import LineStatus, LookupTable, PayoutLine, TableStatus

log = get_logger(__name__)
MIN_NEW_TABLE_LINES = 20
"""Below this many candidates (about one legacy batch) no table is made for them."""


def recurring_owners(session_factory: SessionFactory, plan_id: int) -> set[str]:
    """Owners of this plan's lines who were paid in an earlier plan."""
    earlier = sa.select(PayoutLine.owner).where(  # type: ignore[call-overload]
        col(PayoutLine.plan_id) < plan_id, col(PayoutLine.status) == LineStatus.paid.value
    )
    with session_factory() as session:
        return set(
            session.exec(
                select(PayoutLine.owner)
                .where(PayoutLine.plan_id == plan_id, col(PayoutLine.owner).in_(earlier))
                .distinct()
            )
        )


async def plan_tables(
    rpc: Rpc,
    session_factory: SessionFactory,
    plan_id: int,
    specs: Sequence[LineSpec],
    *,
    settings: Settings,
    authority: Keypair,
    payer: Keypair | None = None,
) -> list[AddressLookupTableAccount]:
    """The usable tables holding the plan's chosen recipients' accounts (see the docstring)."""
    if settings.lookup_tables == "off":
        return []
    candidates = [s for s in specs if not s.create and s.destination is not None]
    if settings.lookup_tables == "recurring":
        recurring = recurring_owners(session_factory, plan_id)
        candidates = [s for s in candidates if s.owner in recurring]
    if not candidates:
        return []
    addresses = [s.destination for s in candidates if s.destination is not None]
    views: list[TableView]
    if len(addresses) < MIN_NEW_TABLE_LINES:
        views = await usable_tables(
            rpc, session_factory, authority.pubkey(), [str(a) for a in addresses]
        )
    else:
        views = await prepare_tables(rpc, session_factory, authority, addresses, payer=payer)
    log.info("lookup tables ready", plan=plan_id, tables=len(views), candidates=len(addresses))
    return [view.account() for view in views]


def _index(session_factory: SessionFactory, authority: Pubkey) -> dict[Pubkey, Pubkey]:
    """Destination -> the address of the authority's active table holding it (ledger)."""
    with session_factory() as session:
        rows = session.exec(
            select(LookupTable.address, LookupTable.addresses)
            .where(
                LookupTable.authority == str(authority),
                LookupTable.status == TableStatus.active.value,
            )
            .order_by(col(LookupTable.id))
        ).all()
    index: dict[Pubkey, Pubkey] = {}
    for address, entries in rows:
        table = Pubkey.from_string(address)
        for entry in entries:
            index.setdefault(Pubkey.from_string(entry), table)
    return index


async def batch_tables(
    rpc: Rpc,
    session_factory: SessionFactory,
    authority: Pubkey,
    specs: Sequence[LineSpec],
    cache: dict[str, dict[Pubkey, Pubkey]],
) -> list[AddressLookupTableAccount]:
    """The tables holding the batch's destinations, with their entries read from the chain.
    ``cache`` keeps the ledger's index for the executor's lifetime."""
    if "index" not in cache:
        cache["index"] = _index(session_factory, authority)
    index = cache["index"]
    wanted = list(
        dict.fromkeys(
            index[s.destination]
            for s in specs
            if not s.create and s.destination is not None and s.destination in index
        )
    )
    if not wanted:
        return []
    out = []
    for key, account in zip(wanted, await rpc.accounts(wanted), strict=True):
        if account is None or account.owner != layout.ADDRESS_LOOKUP_TABLE_PROGRAM_ID:
            continue
        table = AddressLookupTable.deserialize(bytes(account.data))
        out.append(AddressLookupTableAccount(key, list(table.addresses)))
    return out


def stored_lookups(session_factory: SessionFactory, signed: bytes) -> dict[Pubkey, list[Pubkey]]:
    """Entries of the tables a stored transaction reads, as the ledger recorded them."""
    try:
        message = VersionedTransaction.from_bytes(signed).message
    except ValueError:
        return {}
    if not isinstance(message, MessageV0):
        return {}
    return table_entries(
        session_factory, [str(lookup.account_key) for lookup in message.address_table_lookups]
    )

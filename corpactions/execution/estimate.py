"""What a plan's remaining lines would cost to send: transactions and fees, nothing sent.

The lines are checked and packed exactly as the executor would (recipients read from the chain;
those the lookup-table setting picks counted in v0 batches as if their tables existed). The
compute-unit price is the market's (``fees.unit_price`` over the payer's and source's writable
accounts); compute units per transaction come from simulating one- and two-line transactions
of each kind (transfer, create-and-transfer) and extending linearly, with the executor's margin.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from solders.address_lookup_table_account import (
    LOOKUP_TABLE_MAX_ADDRESSES,
    AddressLookupTableAccount,
)
from solders.message import Message
from solders.pubkey import Pubkey
from solders.transaction import Transaction
from sqlmodel import col, select

from corpactions.chain.rpc import Rpc
from corpactions.db import SessionFactory
from corpactions.execution.batching import (
    MAX_COMPUTE_UNITS,
    LineSpec,
    inspect_recipients,
    instructions,
    lookup_index,
    pack,
    tables_for,
)
from corpactions.execution.fees import fee_lamports, unit_price
from corpactions.execution.v0 import recurring_owners
from corpactions.models import LineStatus, PayoutLine

FALLBACK_UNITS = {False: 6_201, True: 31_201}
"""Per line when a simulation cannot be made: transferChecked; with create-ATA-idempotent."""


def _would_be_tables(specs: Sequence[LineSpec]) -> list[AddressLookupTableAccount]:
    addresses = [s.destination for s in specs if s.destination is not None]
    return [
        AddressLookupTableAccount(
            Pubkey.new_unique(), addresses[start : start + LOOKUP_TABLE_MAX_ADDRESSES]
        )
        for start in range(0, len(addresses), LOOKUP_TABLE_MAX_ADDRESSES)
    ]


async def _units(rpc: Rpc, ctx: Any, specs: Sequence[LineSpec]) -> tuple[int, int]:
    """(fixed, per line) compute units of a transaction of these lines' kind."""
    payer = ctx.authority.pubkey()
    measured = []
    for count in (1, 2):
        ixs = instructions(
            list(specs[:count]),
            payer=payer,
            treasury=ctx.treasury,
            mint=ctx.mint,
            decimals=ctx.decimals,
            memo="corpactions estimate",
            unit_limit=MAX_COMPUTE_UNITS,
            unit_price=0,
        )
        blockhash = (await rpc.latest_blockhash()).blockhash
        tx = Transaction([ctx.authority], Message(ixs, payer), blockhash)
        value = (
            await rpc.call_json(
                "simulateTransaction",
                [
                    base64.b64encode(bytes(tx)).decode(),
                    {"encoding": "base64", "sigVerify": False, "replaceRecentBlockhash": True},
                ],
            )
        )["value"]
        if value.get("err") is not None:
            raise ValueError(str(value["err"]))
        measured.append(int(value.get("unitsConsumed") or 0))
    per_line = max(0, measured[1] - measured[0])
    return measured[0] - per_line, per_line


async def estimate_fees(
    rpc: Rpc, session_factory: SessionFactory, plan_id: int, ctx: Any
) -> dict[str, Any]:
    with session_factory() as session:
        rows = session.exec(
            select(PayoutLine.id, PayoutLine.owner, PayoutLine.amount_due)
            .where(
                PayoutLine.plan_id == plan_id,
                col(PayoutLine.status).in_([LineStatus.pending.value, LineStatus.batched.value]),
            )
            .order_by(col(PayoutLine.owner))
        ).all()
    recipients = await inspect_recipients(rpc, [owner for _, owner, _ in rows], ctx.mint)
    specs = [
        LineSpec(
            line_id or 0, owner, amount, not recipients[owner].exists, recipients[owner].account
        )
        for line_id, owner, amount in rows
        if not recipients[owner].problem
        and (recipients[owner].exists or ctx.settings.missing_account_policy == "create")
    ]
    policy = ctx.settings.lookup_tables
    candidates = [s for s in specs if not s.create] if policy != "off" else []
    if policy == "recurring":
        recurring = recurring_owners(session_factory, plan_id)
        candidates = [s for s in candidates if s.owner in recurring]
    tables = _would_be_tables(candidates)
    payer = ctx.authority.pubkey()
    groups = pack(
        specs,
        payer=payer,
        treasury=ctx.treasury,
        mint=ctx.mint,
        decimals=ctx.decimals,
        tables=tables,
    )
    writable = [payer] + ([ctx.treasury] if ctx.treasury is not None else [])
    price = await unit_price(
        rpc, writable, pct=ctx.settings.priority_percentile, cap=ctx.settings.priority_cap
    )
    model: dict[bool, tuple[int, int]] = {}
    for create in (False, True):
        kind = [s for s in specs if s.create == create]
        if kind:
            try:
                model[create] = await _units(rpc, ctx, kind[:2] if len(kind) > 1 else kind * 2)
            except ValueError:
                model[create] = (1_000, FALLBACK_UNITS[create])
    index = lookup_index(tables)
    base = priority = 0
    v0 = 0
    for group in groups:
        units = 0
        for create in (False, True):
            count = sum(1 for s in group if s.create == create)
            if count:
                fixed, per_line = model[create]
                units = max(units, fixed) + per_line * count
        limit = min(MAX_COMPUTE_UNITS, units * 11 // 10 + 1_000)
        base += fee_lamports(1, limit, 0)
        priority += fee_lamports(1, limit, price) - fee_lamports(1, limit, 0)
        v0 += bool(tables_for(group, index))
    transfers = len(specs)
    return {
        "transactions": len(groups),
        "v0_transactions": v0,
        "legacy_transactions": len(groups) - v0,
        "lookup_table_entries": len(candidates),
        "unit_price_microlamports": price,
        "base_fee_lamports": base,
        "priority_fee_lamports": priority,
        "fee_lamports": base + priority,
        "fee_per_transfer_lamports": (base + priority) // transfers if transfers else 0,
    }

"""Alpaca market data ``GET /v1/corporate-actions``: ``{"corporate_actions": {"<type>s": [...]},
"next_page_token": ...}``, one list per event type, each record keyed by its ``id``.

Read: ``forward_splits`` and ``reverse_splits`` (``new_rate``/``old_rate``, ``ex_date``,
``record_date``, ``payable_date``, ``due_bill_redemption_date``), ``stock_dividends`` (``rate``:
additional shares per share held), ``cash_dividends`` (``rate``, ``special``, ``foreign``,
``due_bill_on_date``/``due_bill_off_date``: the provider's own word that the ex-date is deferred),
``name_changes`` (``old_symbol`` -> ``new_symbol``: a ticker change, carried out from
``process_date``). Recognised and kept for an operator: ``spin_offs``, ``cash_mergers``,
``stock_mergers``, ``stock_and_cash_mergers``, ``redemptions``, ``worthless_removals``,
``rights_distributions``, ``unit_splits``; any other list is kept as ``other``.

The stored raw record carries the list it came in as ``corporate_action_type`` (as alpaca-py
names it), so a quarantined record can be read again alone. The endpoint has no version
sequence: a changed record with the same ``id`` is a new version, the one received last current.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from corpactions.errors import InvalidRecord
from corpactions.feeds.normalized import (
    MalformedPayload,
    NormalizedAction,
    Rejected,
    canonical_json,
    each_record,
    load_json,
    parse_date,
    parse_decimal,
    parse_symbol,
)
from corpactions.models import ActionKind

SOURCE = "alpaca-data"
TYPE = "corporate_action_type"
_OPERATOR = {
    "spin_offs": (ActionKind.spin_off, "source_symbol"),
    "cash_mergers": (ActionKind.merger, "acquiree_symbol"),
    "stock_mergers": (ActionKind.merger, "acquiree_symbol"),
    "stock_and_cash_mergers": (ActionKind.merger, "acquiree_symbol"),
    "redemptions": (ActionKind.redemption, "symbol"),
    "worthless_removals": (ActionKind.delisting, "symbol"),
    "rights_distributions": (ActionKind.rights, "source_symbol"),
    "unit_splits": (ActionKind.other, "old_symbol"),
}
_DETAILS = (
    "process_date",
    "due_bill_on_date",
    "due_bill_off_date",
    "due_bill_redemption_date",
    "special",
    "foreign",
    "cusip",
    "new_symbol",
    "acquirer_symbol",
    "expiration_date",
)


def record(item: dict[str, Any]) -> NormalizedAction:
    kind_name = str(item.get(TYPE) or "")
    if not item.get("id"):
        raise InvalidRecord("id is missing")
    details = {k: item[k] for k in _DETAILS if item.get(k) is not None}
    details["event_type"] = kind_name
    common: dict[str, Any] = {
        "source": SOURCE,
        "source_ref": str(item["id"]),
        "raw": canonical_json(item),
        "ex_date": parse_date(item.get("ex_date"), "ex_date"),
        "record_date": parse_date(item.get("record_date"), "record_date"),
        "pay_date": parse_date(item.get("payable_date"), "payable_date"),
        "details": details,
    }
    if kind_name in ("forward_splits", "reverse_splits"):
        new, old = (
            parse_decimal(item.get("new_rate"), "new_rate"),
            parse_decimal(item.get("old_rate"), "old_rate"),
        )
        return NormalizedAction(
            symbol=parse_symbol(item.get("symbol")),
            kind=ActionKind.forward_split
            if kind_name == "forward_splits"
            else ActionKind.reverse_split,
            ratio_new=new,
            ratio_old=old,
            effective_date=common["ex_date"],
            **common,
        )
    if kind_name == "stock_dividends":
        rate = parse_decimal(item.get("rate"), "rate")
        return NormalizedAction(
            symbol=parse_symbol(item.get("symbol")),
            kind=ActionKind.stock_dividend,
            ratio_new=Decimal(1) + rate if rate is not None else None,
            ratio_old=Decimal(1),
            **common,
        )
    if kind_name == "cash_dividends":
        return NormalizedAction(
            symbol=parse_symbol(item.get("symbol")),
            kind=ActionKind.cash_dividend,
            currency="USD",
            gross_rate=parse_decimal(item.get("rate"), "rate"),
            **{**common, "details": {**details, "special": bool(item.get("special"))}},
        )
    if kind_name == "name_changes":
        old_symbol = parse_symbol(item.get("old_symbol"))
        new_symbol = parse_symbol(item.get("new_symbol"))
        process = parse_date(item.get("process_date"), "process_date", required=True)
        changed = old_symbol != new_symbol
        return NormalizedAction(
            symbol=old_symbol,
            kind=ActionKind.ticker_change if changed else ActionKind.name_change,
            effective_date=process,
            **{**common, "details": {**details, "new_symbol": new_symbol}},
        )
    kind, symbol_field = _OPERATOR.get(kind_name, (ActionKind.other, "symbol"))
    return NormalizedAction(
        symbol=parse_symbol(item.get(symbol_field) or item.get("symbol")),
        kind=kind,
        effective_date=parse_date(item.get("effective_date"), "effective_date"),
        **common,
    )


def parse(payload: bytes) -> list[NormalizedAction | Rejected]:
    document = load_json(payload, "Alpaca corporate actions response")
    lists = document.get("corporate_actions") if isinstance(document, dict) else None
    if not isinstance(lists, dict):
        raise MalformedPayload(
            'Alpaca corporate actions response has no "corporate_actions" object'
        )
    items: list[Any] = []
    positions: list[str] = []
    for name, entries in lists.items():
        if not isinstance(entries, list):
            items.append({TYPE: str(name)[:40], "value": entries})
            positions.append(f"{str(name)[:40]}")
            continue
        for number, entry in enumerate(entries, start=1):
            items.append({**entry, TYPE: name} if isinstance(entry, dict) else entry)
            positions.append(f"{str(name)[:40]} {number}")
    return parse_items(items, positions)


def parse_items(
    items: list[Any], positions: list[str] | None = None
) -> list[NormalizedAction | Rejected]:
    return each_record(
        items,
        source=SOURCE,
        parse=record,
        reference=lambda item: str(item["id"]) if item.get("id") else None,
        positions=positions,
    )

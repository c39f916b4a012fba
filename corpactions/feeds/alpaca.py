"""Alpaca ``/v2/corporate_actions/announcements``: keyed by the stable ``corporate_action_id``;
new terms arrive as a new announcement (a new ``id``) for the same corporate action.

``ca_type`` dividend / split / merger / spinoff; ``ca_sub_type`` cash, stock, stock_split,
reverse_split, ... ``old_rate``/``new_rate`` give split ratios; ``cash`` the dividend per share.
Mergers, spin-offs and the other types are recognised and become actions that need an operator
(``corpactions.feeds.events``), never quarantine entries.
"""

from __future__ import annotations

from typing import Any

from corpactions.errors import InvalidRecord
from corpactions.feeds.events import ALPACA_TYPES
from corpactions.feeds.normalized import (
    MalformedPayload,
    NormalizedAction,
    Rejected,
    canonical_json,
    each_record,
    load_json,
    parse_date,
    parse_decimal,
    parse_sequence,
    parse_symbol,
)
from corpactions.models import ActionKind

SOURCE = "alpaca"


def announcement(record: dict[str, Any]) -> NormalizedAction:
    raw = canonical_json(record)
    ca_type, sub_type = record.get("ca_type"), record.get("ca_sub_type")
    ref = record.get("corporate_action_id")
    if not ref:
        raise InvalidRecord("corporate_action_id is missing")
    common: dict[str, Any] = {
        "source": SOURCE,
        "source_ref": str(ref),
        "symbol": parse_symbol(record.get("initiating_symbol") or record.get("target_symbol")),
        "raw": raw,
        "ex_date": parse_date(record.get("ex_date"), "ex_date"),
        "record_date": parse_date(record.get("record_date"), "record_date"),
        "pay_date": parse_date(record.get("payable_date"), "payable_date"),
        "sequence": parse_sequence(record.get("updated_at"), "updated_at"),
        "details": {"announcement_id": record.get("id"), "ca_sub_type": sub_type},
    }
    if ca_type == "dividend" and sub_type in (None, "cash"):
        return NormalizedAction(
            kind=ActionKind.cash_dividend,
            currency="USD",
            gross_rate=parse_decimal(record.get("cash"), "cash"),
            **common,
        )
    if ca_type == "dividend" and sub_type == "stock":
        return NormalizedAction(
            kind=ActionKind.stock_dividend,
            ratio_new=parse_decimal(record.get("new_rate"), "new_rate"),
            ratio_old=parse_decimal(record.get("old_rate"), "old_rate"),
            **common,
        )
    if ca_type == "split":
        new_rate = parse_decimal(record.get("new_rate"), "new_rate")
        old_rate = parse_decimal(record.get("old_rate"), "old_rate")
        if new_rate is None or old_rate is None:
            raise InvalidRecord("split needs old_rate and new_rate")
        reverse = sub_type == "reverse_split" or new_rate < old_rate
        return NormalizedAction(
            kind=ActionKind.reverse_split if reverse else ActionKind.forward_split,
            ratio_new=new_rate,
            ratio_old=old_rate,
            effective_date=common["ex_date"],
            **common,
        )
    # every other type is recognised and kept for an operator (see corpactions.feeds.events)
    kind = ALPACA_TYPES.get(str(ca_type or "").lower(), ActionKind.other)
    common["details"] = {**common["details"], "ca_type": ca_type}
    if kind == ActionKind.ticker_change:
        common["details"]["new_symbol"] = parse_symbol(record.get("target_symbol"))
        return NormalizedAction(kind=kind, effective_date=common["ex_date"], **common)
    return NormalizedAction(kind=kind, currency="USD" if record.get("cash") else None, **common)


def parse_announcements(payload: bytes) -> list[NormalizedAction | Rejected]:
    document = load_json(payload, "Alpaca response")
    items = document.get("announcements", document) if isinstance(document, dict) else document
    if not isinstance(items, list):
        raise MalformedPayload("Alpaca response is not a list of announcements")
    return each_record(
        items,
        source=SOURCE,
        parse=announcement,
        reference=lambda item: (
            str(item["corporate_action_id"]) if item.get("corporate_action_id") else None
        ),
    )

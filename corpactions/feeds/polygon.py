"""Polygon reference data: ``/v3/reference/dividends`` and ``/v3/reference/splits`` (legacy, paged
by ``next_url``) and ``/stocks/v1/dividends`` and ``/stocks/v1/splits`` (2026).

Dividends: ``dividend_type`` CD (regular) / SC (special) / LT, ST (capital gains, treated as cash);
``distribution_type`` recurring / special / supplemental / irregular / unknown. Splits:
``split_from`` old shares become ``split_to`` new ones; ``adjustment_type`` names the kind in v1.
Polygon has no amendment sequence of its own and sends its current state: a changed record with
the same ``id`` becomes a new version, and the one received last is current.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from corpactions.errors import InvalidRecord
from corpactions.feeds.normalized import (
    MalformedPayload,
    NormalizedAction,
    Rejected,
    canonical_json,
    each_record,
    load_json,
    parse_currency,
    parse_date,
    parse_decimal,
    parse_symbol,
)
from corpactions.models import ActionKind

SOURCE = "polygon"
DIVIDEND_PATHS = ("/v3/reference/dividends", "/stocks/v1/dividends")
SPLIT_PATHS = ("/v3/reference/splits", "/stocks/v1/splits")


@dataclass(frozen=True)
class Page:
    records: list[NormalizedAction | Rejected]
    next_url: str | None


def _ref(record: dict[str, Any], *fallback: str) -> str:
    if record.get("id"):
        return str(record["id"])
    return ":".join(str(record.get(name) or "") for name in fallback)


def dividend(record: dict[str, Any]) -> NormalizedAction:
    raw = canonical_json(record)
    special = record.get("dividend_type") == "SC" or record.get("distribution_type") in {
        "special",
        "supplemental",
    }
    return NormalizedAction(
        source=SOURCE,
        source_ref=_ref(record, "ticker", "ex_dividend_date", "dividend_type"),
        symbol=parse_symbol(record.get("ticker")),
        kind=ActionKind.cash_dividend,
        raw=raw,
        ex_date=parse_date(record.get("ex_dividend_date"), "ex_dividend_date"),
        record_date=parse_date(record.get("record_date"), "record_date"),
        pay_date=parse_date(record.get("pay_date"), "pay_date"),
        currency=parse_currency(record.get("currency")),
        gross_rate=parse_decimal(record.get("cash_amount"), "cash_amount"),
        details={
            "special": special,
            "dividend_type": record.get("dividend_type") or record.get("distribution_type"),
            "frequency": record.get("frequency"),
            "declaration_date": record.get("declaration_date"),
        },
    )


def split(record: dict[str, Any]) -> NormalizedAction:
    raw = canonical_json(record)
    split_from = parse_decimal(record.get("split_from"), "split_from")
    split_to = parse_decimal(record.get("split_to"), "split_to")
    if split_from is None or split_to is None:
        raise InvalidRecord("split_from and split_to are both required")
    adjustment = record.get("adjustment_type")
    if adjustment == "reverse_split" or (adjustment is None and split_to < split_from):
        kind = ActionKind.reverse_split
    elif adjustment == "stock_dividend":
        kind = ActionKind.stock_dividend
    else:
        kind = ActionKind.forward_split
    effective = parse_date(record.get("execution_date"), "execution_date", required=True)
    return NormalizedAction(
        source=SOURCE,
        source_ref=_ref(record, "ticker", "execution_date"),
        symbol=parse_symbol(record.get("ticker")),
        kind=kind,
        raw=raw,
        ex_date=effective,
        effective_date=effective,
        ratio_new=split_to,
        ratio_old=split_from,
        details={"adjustment_type": adjustment},
    )


def result(item: dict[str, Any]) -> NormalizedAction:
    """One record of a listing: a split or a dividend, told apart by their fields."""
    return split(item) if "split_from" in item or "split_to" in item else dividend(item)


def parse_page(payload: bytes) -> Page:
    """One page of a Polygon listing (dividends or splits, told apart by their fields);
    bad records become ``Rejected``, never lost."""
    document = load_json(payload, "Polygon response")
    if not isinstance(document, dict) or not isinstance(document.get("results", []), list):
        raise MalformedPayload("Polygon response has no results list")
    records = each_record(
        document.get("results") or [],
        source=SOURCE,
        parse=result,
        reference=lambda item: _ref(item, "ticker"),
    )
    next_url = document.get("next_url")
    return Page(records, next_url if isinstance(next_url, str) and next_url else None)

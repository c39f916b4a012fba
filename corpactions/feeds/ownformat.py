"""The project's own feed format, for issuers without a data vendor: CSV or JSON.

One record per row (CSV) or object (JSON array, or ``{"actions": [...]}``). Columns/keys:

| key | meaning |
| --- | --- |
| ``reference`` | the issuer's stable id of the action (required) |
| ``symbol`` | ticker of a registered instrument (required) |
| ``kind`` | cash_dividend, stock_dividend, forward_split, reverse_split, meeting |
| ``function`` | NEWM (default), REPL (amendment), CANC (cancelled), WITH (withdrawn) |
| ``sequence`` | the version's number or timestamp; a greater one replaces a lesser |
| ``status`` | PREU, PREC or COMP (processing status) |
| ``ex_date``, ``record_date``, ``pay_date``, ``effective_date`` | YYYY-MM-DD |
| ``currency`` | USD |
| ``gross_rate``, ``net_rate`` | cash per share, decimal text (e.g. 0.24) |
| ``withholding_rate`` | fraction (0.30 for 30 %) |
| ``ratio_new``, ``ratio_old`` | split ratio: ratio_new shares for every ratio_old |
| ``fraction_disposition`` | CINL (cash in lieu), RDDN (round down), ... |
| ``special`` | true for a special dividend |
| ``reinvestment_price`` | price per share for dividend reinvestment |
| ``price`` | the share's price, to size a cash dividend (25 % or more defers its ex-date) |
| ``cash_in_lieu_price`` | price per share paid for a split's fractions (disposition CINL) |
| ``meeting_date``, ``vote_deadline`` | for meetings; ``agenda`` a JSON list of items |
| ``new_symbol`` | for ``ticker_change``: the ticker from ``effective_date`` on |
| ``event_type`` | the source's own name of the event (kept; shown for ``other``) |

``kind`` may also name an event corpactions recognises but does not carry out (merger,
spin_off, rights, name_change, delisting, return_of_capital, liquidation, tender_offer,
redemption, other): it becomes an action that needs an operator.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from corpactions.errors import InvalidRecord
from corpactions.feeds.normalized import (
    FUNCTIONS,
    MalformedPayload,
    NormalizedAction,
    Rejected,
    canonical_json,
    each_record,
    escape_controls,
    inspect_record,
    load_json,
    parse_currency,
    parse_date,
    parse_decimal,
    parse_sequence,
    parse_symbol,
)
from corpactions.models import ActionKind

SOURCE = "file"


def _blank(value: Any) -> Any:
    return None if value is None or (isinstance(value, str) and not value.strip()) else value


def record(item: dict[str, Any]) -> NormalizedAction:
    item = {k.strip(): _blank(v) for k, v in item.items() if isinstance(k, str)}
    reference = item.get("reference")
    if not reference:
        raise InvalidRecord("reference is missing")
    try:
        kind = ActionKind(str(item.get("kind") or "").strip())
    except ValueError as exc:
        raise InvalidRecord(
            f"kind {item.get('kind')!r} is not one of {', '.join(k.value for k in ActionKind)}"
        ) from exc
    function = str(item.get("function") or "NEWM").strip().upper()
    if function not in FUNCTIONS:
        raise InvalidRecord(f"function {function!r} is not one of {', '.join(FUNCTIONS)}")
    agenda = item.get("agenda")
    if isinstance(agenda, str):
        try:
            agenda = load_json(agenda, "agenda")
        except MalformedPayload as exc:
            raise InvalidRecord(exc.message) from exc
    special = str(item.get("special") or "").strip().lower() in {"1", "true", "yes"}
    return NormalizedAction(
        source=SOURCE,
        source_ref=str(reference).strip(),
        symbol=parse_symbol(item.get("symbol")),
        kind=kind,
        raw=canonical_json(item),
        function=function,
        processing_status=(str(item["status"]).strip().upper() if item.get("status") else None),
        ex_date=parse_date(item.get("ex_date"), "ex_date"),
        record_date=parse_date(item.get("record_date"), "record_date"),
        pay_date=parse_date(item.get("pay_date"), "pay_date"),
        effective_date=parse_date(item.get("effective_date"), "effective_date"),
        currency=parse_currency(item.get("currency")),
        gross_rate=parse_decimal(item.get("gross_rate"), "gross_rate"),
        net_rate=parse_decimal(item.get("net_rate"), "net_rate"),
        withholding_rate=parse_decimal(item.get("withholding_rate"), "withholding_rate"),
        ratio_new=parse_decimal(item.get("ratio_new"), "ratio_new"),
        ratio_old=parse_decimal(item.get("ratio_old"), "ratio_old"),
        fraction_disposition=(
            str(item["fraction_disposition"]).strip().upper()
            if item.get("fraction_disposition")
            else None
        ),
        sequence=parse_sequence(item.get("sequence")),
        details={
            k: v
            for k, v in {
                "special": special,
                "reinvestment_price": item.get("reinvestment_price"),
                "price": item.get("price"),
                "cash_in_lieu_price": item.get("cash_in_lieu_price"),
                "meeting_date": item.get("meeting_date"),
                "vote_deadline": item.get("vote_deadline"),
                "agenda": agenda,
                "new_symbol": parse_symbol(item["new_symbol"]) if item.get("new_symbol") else None,
                "event_type": item.get("event_type"),
            }.items()
            if v not in (None, False)
        },
    )


def _records(
    items: list[Any], positions: Iterable[str] | None = None
) -> list[NormalizedAction | Rejected]:
    return each_record(
        items,
        source=SOURCE,
        parse=record,
        reference=lambda item: str(item["reference"]) if item.get("reference") else None,
        positions=positions,
    )


def parse_json(payload: bytes) -> list[NormalizedAction | Rejected]:
    document = load_json(payload, "feed file")
    items = document.get("actions") if isinstance(document, dict) else document
    if not isinstance(items, list):
        raise MalformedPayload('a JSON feed file is a list of actions or {"actions": [...]}')
    return _records(items)


def parse_csv(payload: bytes) -> list[NormalizedAction | Rejected]:
    try:
        text = payload.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MalformedPayload(f"CSV feed file is not UTF-8: {exc}") from exc
    reader = csv.DictReader(io.StringIO(text))
    try:
        fieldnames = reader.fieldnames
    except csv.Error as exc:
        raise MalformedPayload(f"CSV feed file has no readable header row: {exc}") from exc
    if not fieldnames or "reference" not in fieldnames:
        raise MalformedPayload(
            "CSV feed file needs a header row with at least reference, symbol, kind"
        )
    records: list[NormalizedAction | Rejected] = []
    rows = iter(reader)
    while True:
        try:
            row = next(rows)
        except StopIteration:
            break
        except csv.Error as exc:  # e.g. a cell past the csv module's field limit
            # the reader cannot go on past a broken line: what was read is kept, the rest is one
            # quarantine entry naming the line
            rest = text.splitlines()[reader.line_num - 1 :]
            records.append(
                Rejected.of(
                    SOURCE,
                    f"line {reader.line_num} cannot be read as CSV ({exc}); "
                    "this line and the rest of the file were not read",
                    escape_controls("\n".join(rest)),
                    position=f"line {reader.line_num}",
                )
            )
            break
        position = f"line {reader.line_num}"
        extra = row.pop(None, None)  # type: ignore[call-overload,unused-ignore]
        if extra is not None:
            clean, _ = inspect_record({**row, "_extra_cells": extra})
            raw = canonical_json(clean)
            reason = f"line {reader.line_num} has {len(extra)} more cells than the header"
            reference = clean.get("reference") or None
            records.append(Rejected.of(SOURCE, reason, raw, reference, position))
            continue
        records.extend(_records([row], [position]))
    return records

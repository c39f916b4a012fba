"""The one shape every feed adapter produces, and the strict field parsers they share.

An adapter turns a provider payload into a sequence of ``NormalizedAction`` (a record that
parsed) or ``Rejected`` (a record that did not, with the reason and its raw text). Money rates
are ``Decimal`` exactly as written by the provider; floats never appear.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import cached_property
from typing import Any

import orjson

from corpactions.errors import FeedError, InvalidRecord
from corpactions.models import ActionKind

FUNCTIONS = ("NEWM", "REPL", "RMDR", "CANC", "WITH")
TERMINAL_FUNCTIONS = {"CANC": "cancelled", "WITH": "withdrawn"}
_FUNCTION_RANK = {"NEWM": 0, "RMDR": 0, "REPL": 1, "CANC": 2, "WITH": 2}


@dataclass(frozen=True)
class NormalizedAction:
    source: str
    source_ref: str
    symbol: str
    kind: ActionKind
    raw: str
    function: str = "NEWM"
    processing_status: str | None = None
    ex_date: date | None = None
    record_date: date | None = None
    pay_date: date | None = None
    effective_date: date | None = None
    currency: str | None = None
    gross_rate: Decimal | None = None
    net_rate: Decimal | None = None
    withholding_rate: Decimal | None = None
    ratio_new: Decimal | None = None
    ratio_old: Decimal | None = None
    fraction_disposition: str | None = None
    sequence: str = ""
    """The source's own ordering of versions (a timestamp or number), '' when it has none."""
    details: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def payload_sha256(self) -> str:
        return sha256_text(self.raw)

    @cached_property
    def sequence_key(self) -> str:
        rank = _FUNCTION_RANK.get(self.function, 0)
        return f"{self.sequence:>40}|{rank}|{self.payload_sha256}"


@dataclass(frozen=True)
class Rejected:
    source: str
    reason: str
    raw: str
    source_ref: str | None = None

    @property
    def payload_sha256(self) -> str:
        return sha256_text(self.raw)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def canonical_json(record: Any) -> str:
    """A record's raw text for hashing: sorted keys, so key order never makes a new version."""
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS, default=_exact_number).decode()


def _exact_number(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    raise TypeError(f"cannot serialize {type(value).__name__}")


def load_json(payload: bytes | str, what: str) -> Any:
    """Provider JSON with numbers kept exact (``Decimal``), or a FeedError naming the problem."""
    try:
        return json.loads(payload, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedPayload(f"{what} is not valid JSON: {exc}") from exc


class MalformedPayload(FeedError):
    """A whole payload could not be read (not JSON/XML/CSV); it is quarantined as one record."""


def each_record(
    items: Iterable[Any],
    *,
    source: str,
    parse: Callable[[dict[str, Any]], NormalizedAction],
    reference: Callable[[dict[str, Any]], str | None],
) -> list[NormalizedAction | Rejected]:
    """Parse every JSON record on its own: one that is not an object or fails to parse becomes a
    ``Rejected`` with its raw text and reason, and never stops the others."""
    records: list[NormalizedAction | Rejected] = []
    for item in items:
        raw = canonical_json(item)
        if not isinstance(item, dict):
            records.append(Rejected(source, "record is not an object", raw))
            continue
        try:
            records.append(parse(item))
        except InvalidRecord as exc:
            records.append(Rejected(source, exc.message, raw, reference(item)))
    return records


def parse_date(value: Any, name: str, *, required: bool = False) -> date | None:
    if value is None or value == "":
        if required:
            raise InvalidRecord(f"{name} is missing")
        return None
    if not isinstance(value, str):
        raise InvalidRecord(f"{name} {value!r} is not a date (YYYY-MM-DD)")
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError as exc:
        raise InvalidRecord(f"{name} {value!r} is not a date (YYYY-MM-DD)") from exc


def parse_decimal(value: Any, name: str) -> Decimal | None:
    """A rate exactly as written: '0.24', 0.24 (JSON number text), '0,24' (ISO 15022 style)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InvalidRecord(f"{name} {value!r} is not a number")
    if isinstance(value, Decimal | int):
        number = Decimal(value)
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip().replace(",", "."))
        except InvalidOperation as exc:
            raise InvalidRecord(f"{name} {value!r} is not a number") from exc
    else:
        raise InvalidRecord(f"{name} {value!r} is not a number")
    if not number.is_finite():
        raise InvalidRecord(f"{name} {value!r} is not a finite number")
    return number


def parse_symbol(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidRecord("ticker symbol is missing")
    return value.strip().upper()

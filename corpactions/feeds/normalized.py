"""The one shape every feed adapter produces, and the strict field parsers they share.

An adapter turns a provider payload into a sequence of ``NormalizedAction`` (a record that
parsed) or ``Rejected`` (a record that did not, with every reason, its position in the payload
and its raw text). Money rates are ``Decimal`` exactly as written by the provider, within
bounds (at most 18 significant digits, exponent within ±18); floats never appear.

Hostile values cost one record, never the file: ``inspect_record`` walks a decoded JSON record
before anything else reads it and names every integer outside int64, string over
``MAX_STRING`` characters, control character (NUL included) and nesting deeper than
``MAX_DEPTH``; the record's raw text keeps all of it, escaped.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import cached_property, partial
from typing import Any

import orjson

from corpactions.errors import FeedError, InvalidRecord
from corpactions.models import ActionKind

FUNCTIONS = ("NEWM", "REPL", "RMDR", "CANC", "WITH")
TERMINAL_FUNCTIONS = {"CANC": "cancelled", "WITH": "withdrawn"}
_FUNCTION_RANK = {"NEWM": 0, "RMDR": 0, "REPL": 1, "CANC": 2, "WITH": 2}
MAX_DIGITS = 18
"""A rate has at most this many significant digits, and its exponent lies within ±MAX_DIGITS."""
MAX_DEPTH = 16
"""JSON nesting a record may have (provider records are two levels deep)."""
MAX_STRING = 16_384
"""Characters one string value of a record may have."""
MAX_SEQUENCE = 40
"""Characters of a source's own sequence (a number or a timestamp)."""
INT64 = 2**63
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


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
    position: str = ""
    """Where the record stood in its payload ('record 3', 'line 7', 'Document 2'), for the
    quarantine."""

    @cached_property
    def payload_sha256(self) -> str:
        return sha256_text(self.raw)

    def sequence_key(self, receipt: int) -> str:
        """Where this version stands among its action's versions; ``receipt`` is its receipt
        sequence (the version number, given in order of arrival at ingest).

        A source with its own ordering (``sequence``) is ordered by it, then by function rank,
        then by payload hash: the same set of records ends in the same current version whatever
        order they arrive in. A source without one (Polygon, Alpaca without ``updated_at``, an
        own-format file without ``sequence``) sends its current state, so the record received
        last is current: function rank, then receipt. A sequenced version outranks an
        unsequenced one of the same action."""
        rank = _FUNCTION_RANK.get(self.function, 0)
        if self.sequence:
            return f"{self.sequence:>{MAX_SEQUENCE}}|{rank}|{self.payload_sha256}"
        return unsequenced_key(rank, receipt)


def unsequenced_key(rank: int, receipt: int) -> str:
    return f"{'':>{MAX_SEQUENCE}}|{rank}|#{receipt:016d}"


@dataclass(frozen=True)
class Rejected:
    source: str
    reasons: tuple[str, ...]
    raw: str
    source_ref: str | None = None
    position: str | None = None

    @classmethod
    def of(
        cls,
        source: str,
        reason: str,
        raw: str,
        source_ref: str | None = None,
        position: str | None = None,
    ) -> Rejected:
        return cls(source, (reason,), raw, source_ref, position)

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)

    @property
    def payload_sha256(self) -> str:
        return sha256_text(self.raw)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def escape_controls(text: str) -> str:
    """``text`` with NUL and the other control characters (not tab, CR, LF) written as
    ``\\uXXXX``: storable in any text column, and still showing what arrived."""
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def shown(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for a reason a person reads."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 1]}…({len(text)} characters)"


def canonical_json(record: Any) -> str:
    """A record's raw text for hashing: sorted keys, so key order never makes a new version.
    Call it on a record ``inspect_record`` has cleaned (orjson refuses big integers and depth)."""
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS, default=_exact_number).decode()


def _exact_number(value: Any) -> Any:
    if isinstance(value, Decimal):
        # fixed-point only within bounds: '1E+999999999' written out would be a gigabyte
        return format(value, "f") if _within_bounds(value) else str(value)
    if isinstance(value, BigInteger):
        return str(value)
    raise TypeError(f"cannot serialize {type(value).__name__}")


class BigInteger(str):
    """A JSON integer too long for int64, kept as its text (``load_json`` never makes a
    Python int of thousands of digits)."""


def _integer(text: str) -> int | BigInteger:
    return int(text) if len(text.lstrip("-")) <= 19 else BigInteger(text)


def load_json(payload: bytes | str, what: str) -> Any:
    """Provider JSON with numbers kept exact (``Decimal``), or a FeedError naming the problem."""
    try:
        return json.loads(
            payload, parse_float=Decimal, parse_int=_integer, parse_constant=_refused_constant
        )
    except RecursionError as exc:
        raise MalformedPayload(f"{what} is nested too deeply to read") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedPayload(f"{what} is not valid JSON: {shown(str(exc), 200)}") from exc


def _refused_constant(name: str) -> str:
    return name  # NaN, Infinity: kept as text, which no number field accepts


def inspect_record(value: Any) -> tuple[Any, list[str]]:
    """(``value`` made safe to store, every hostile-value reason found in it)."""
    reasons: list[str] = []
    clean = _inspect(value, "record", 0, reasons)
    return clean, reasons


def _inspect(value: Any, path: str, depth: int, reasons: list[str]) -> Any:
    if isinstance(value, BigInteger) or (
        isinstance(value, int) and not isinstance(value, bool) and not -INT64 <= value < INT64
    ):
        reasons.append(f"{path} is an integer outside the 64-bit range")
        return str(value)
    if isinstance(value, str):
        if len(value) > MAX_STRING:
            reasons.append(f"{path} is {len(value)} characters long (at most {MAX_STRING})")
        if _CONTROL.search(value):
            reasons.append(f"{path} contains a control character ({shown(value, 40)})")
            return escape_controls(value)
        return value
    if isinstance(value, dict | list):
        if depth >= MAX_DEPTH:
            reasons.append(f"{path} is nested deeper than {MAX_DEPTH} levels")
            try:
                return escape_controls(json.dumps(value, default=str))
            except (RecursionError, ValueError):
                return f"<nested deeper than {MAX_DEPTH} levels: not kept>"
        if isinstance(value, list):
            return [_inspect(v, f"{path}[{i}]", depth + 1, reasons) for i, v in enumerate(value)]
        return {
            _inspect(k, f"{path} key", depth + 1, reasons): _inspect(
                v, f"{path}.{escape_controls(str(k))[:40]}", depth + 1, reasons
            )
            for k, v in value.items()
        }
    return value


class _Problems:
    """The reasons a record's field parsers found while one record is read (``collecting``)."""

    def __init__(self) -> None:
        self.reasons: list[str] = []


_collector: contextvars.ContextVar[_Problems | None] = contextvars.ContextVar(
    "feed_record_problems", default=None
)


@contextmanager
def collecting() -> Iterator[_Problems]:
    """While a record is parsed, field parsers note a bad value here and carry on with None,
    so the record is refused once with every reason instead of the first only."""
    problems = _Problems()
    token = _collector.set(problems)
    try:
        yield problems
    finally:
        _collector.reset(token)


def _bad(reason: str) -> None:
    problems = _collector.get()
    if problems is None:
        raise InvalidRecord(reason)
    problems.reasons.append(reason)


def parse_record(
    source: str,
    raw: str,
    position: str | None,
    reference: str | None,
    parse: Callable[[], NormalizedAction],
    found: Iterable[str] = (),
) -> NormalizedAction | Rejected:
    """Run ``parse`` collecting every field's problem; the record, or its refusal with all
    reasons (``found``: those already known, e.g. hostile values)."""
    reasons = list(found)
    action: NormalizedAction | None = None
    with collecting() as problems:
        try:
            action = parse()
        except InvalidRecord as exc:
            problems.reasons.append(exc.message)
        except (ValueError, TypeError, ArithmeticError) as exc:  # a shape no parser foresaw
            problems.reasons.append(f"record cannot be read: {shown(str(exc), 200)}")
    reasons += [r for r in problems.reasons if r not in reasons]
    if reasons or action is None:
        return Rejected(
            source, tuple(reasons) or ("record cannot be read",), raw, reference, position
        )
    return replace(action, position=position or "")


class MalformedPayload(FeedError):
    """A whole payload could not be read (not JSON/XML/CSV); it is quarantined as one record."""


def each_record(
    items: Iterable[Any],
    *,
    source: str,
    parse: Callable[[dict[str, Any]], NormalizedAction],
    reference: Callable[[dict[str, Any]], str | None],
    positions: Iterable[str] | None = None,
) -> list[NormalizedAction | Rejected]:
    """Parse every JSON record on its own: one that is not an object, holds a hostile value or
    fails to parse becomes a ``Rejected`` with its raw text, position and every reason, and
    never stops the others."""
    records: list[NormalizedAction | Rejected] = []
    where = iter(positions) if positions is not None else None
    for number, item in enumerate(items, start=1):
        position = next(where) if where is not None else f"record {number}"
        clean, found = inspect_record(item)
        raw = canonical_json(clean)
        if not isinstance(clean, dict):
            records.append(Rejected(source, ("record is not an object",), raw, None, position))
            continue
        ref = reference(clean)
        ref = escape_controls(ref)[:128] if isinstance(ref, str) else None
        records.append(parse_record(source, raw, position, ref, partial(parse, clean), found))
    return records


def parse_date(value: Any, name: str, *, required: bool = False) -> date | None:
    if value is None or value == "":
        if required:
            _bad(f"{name} is missing")
        return None
    if not isinstance(value, str) or len(value) > 40:
        _bad(f"{name} {shown(value)} is not a date (YYYY-MM-DD)")
        return None
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        _bad(f"{name} {shown(value)} is not a date (YYYY-MM-DD)")
        return None


def _within_bounds(number: Decimal) -> bool:
    if not number.is_finite():
        return False
    if number.is_zero():
        return True
    shape = number.as_tuple()
    significant = len(bytes(shape.digits).rstrip(b"\0"))  # trailing zeros do not count
    return (
        significant <= MAX_DIGITS
        and -MAX_DIGITS <= number.adjusted() <= MAX_DIGITS
        and int(shape.exponent) >= -2 * MAX_DIGITS  # written out, it fits the rate column
    )


def parse_decimal(value: Any, name: str) -> Decimal | None:
    """A rate exactly as written: '0.24', 0.24 (JSON number text), '0,24' (ISO 15022 style);
    at most 18 significant digits and an exponent within ±18."""
    if value is None or value == "":
        return None
    number: Decimal | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, Decimal | int):
        number = Decimal(value)
    elif isinstance(value, str) and len(value) <= 64:
        try:
            number = Decimal(value.strip().replace(",", "."))
        except InvalidOperation:
            number = None
    if number is None:
        _bad(f"{name} {shown(value)} is not a number")
        return None
    if not number.is_finite():
        _bad(f"{name} {shown(value)} is not a finite number")
        return None
    if not _within_bounds(number):
        _bad(
            f"{name} {shown(value)} is out of bounds (at most {MAX_DIGITS} significant digits, "
            f"exponent within ±{MAX_DIGITS})"
        )
        return None
    return number


def parse_symbol(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        _bad("ticker symbol is missing")
        return ""
    symbol = value.strip().upper()
    if len(symbol) > 16 or _CONTROL.search(symbol):
        _bad(f"ticker symbol {shown(value)} is not a ticker")
        return ""
    return symbol


def parse_sequence(value: Any, name: str = "sequence") -> str:
    """A source's own version ordering as text: at most 40 characters (a number or timestamp)."""
    if value is None or value == "":
        return ""
    text = str(value).strip()
    if len(text) > MAX_SEQUENCE or _CONTROL.search(text):
        _bad(f"{name} {shown(value)} is longer than {MAX_SEQUENCE} characters")
        return ""
    return text


def parse_currency(value: Any, name: str = "currency") -> str | None:
    """An ISO 4217 code as text ('USD'), None when absent."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value.strip()) != 3 or not value.strip().isalpha():
        _bad(f"{name} {shown(value)} is not an ISO 4217 code")
        return None
    return value.strip().upper()

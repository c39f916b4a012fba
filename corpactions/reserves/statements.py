"""Read a custodian's statement of holdings into positions (pure: bytes in, positions out).

Formats:

- ``semt002``: ISO 20022 semt.002 SecuritiesBalanceCustodyReport (any version; namespaces are
  ignored; a test holds the payloads to semt.002.001.11's model). Read: StmtGnlDtls/StmtId,
  StmtGnlDtls/StmtDtTm (DtTm, or Dt meaning the end of that day, UTC; a date-time without a
  zone is UTC), the custodian from AcctSvcr (AnyBIC, LEI or proprietary id, else SfkpgAcct/Id),
  and per BalForAcct: FinInstrmId (ticker from OthrId typed TS/TICKER else Desc, ISIN, CUSIP
  from OthrId typed CUSP/CUSIP), AggtBal/ShrtLngInd (LONG) and AggtBal/Qty/Qty/Qty/Unit.
- ``csv`` / ``json``: the project's own format, one position per row or object: ``instrument``
  (ticker), ``isin``, ``cusip``, ``shares``, ``as_of`` (ISO date-time with its offset),
  ``custodian``, ``statement_id``.

A position that fails validation is a ``RefusedPosition`` with every reason; a file that cannot
be read at all raises ``MalformedPayload``.
"""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from corpactions.feeds.isoxml import safe_root, text, ticker
from corpactions.feeds.normalized import MalformedPayload, escape_controls

FORMATS = ("semt002", "csv", "json")
FIELDS = ("instrument", "isin", "cusip", "shares", "as_of", "custodian", "statement_id")
_ISIN = re.compile(r"[A-Z]{2}[A-Z0-9]{9}[0-9]")
_CUSIP = re.compile(r"[A-Z0-9]{9}")
MAX_SHARES = Decimal(10) ** 15


@dataclass(frozen=True)
class Position:
    symbol: str | None
    isin: str | None
    cusip: str | None
    shares: Decimal
    as_of: datetime
    custodian: str
    statement_id: str
    raw: str
    position: str


@dataclass(frozen=True)
class RefusedPosition:
    reasons: tuple[str, ...]
    raw: str
    position: str


def read_statement(payload: bytes, fmt: str) -> list[Position | RefusedPosition]:
    if fmt == "semt002":
        return _semt002(payload)
    if fmt == "csv":
        return _own_csv(payload)
    if fmt == "json":
        return _own_json(payload)
    raise MalformedPayload(f"unknown statement format {fmt!r}; use one of {', '.join(FORMATS)}")


def isin_checksum_ok(isin: str) -> bool:
    """The ISIN's last digit is the Luhn check digit of its letters turned into numbers."""
    digits = "".join(str(int(c, 36)) for c in isin[:-1])
    total = 0
    for index, char in enumerate(reversed(digits)):
        n = int(char)
        if index % 2 == 0:
            n *= 2
            n = n - 9 if n > 9 else n
        total += n
    return (10 - total % 10) % 10 == int(isin[-1])


FUTURE_SKEW = timedelta(minutes=10)
"""How far ahead of this machine's clock a statement's as-of may be (clock skew)."""


def _decimal(value: Any, reasons: list[str]) -> Decimal:
    if isinstance(value, float | bool):
        reasons.append(f"shares {value!r} must be written as a decimal string or integer")
        return Decimal(0)
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        reasons.append(f"shares {value!r} is not a number")
        return Decimal(0)
    if not number.is_finite():
        reasons.append(f"shares {value!r} is not a finite number")
    elif number < 0:
        reasons.append(f"shares {value} is negative")
    elif number >= MAX_SHARES:
        reasons.append(f"shares {value} is not a plausible position")
    return number if number.is_finite() else Decimal(0)


def _as_of(value: Any, reasons: list[str], *, naive_is_utc: bool) -> datetime:
    raw = str(value or "").strip()
    if not raw:
        reasons.append("as_of is missing")
        return datetime.min.replace(tzinfo=UTC)
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        reasons.append(f"as_of {raw!r} is not an ISO date-time")
        return datetime.min.replace(tzinfo=UTC)
    if moment.tzinfo is None:
        if not naive_is_utc:
            reasons.append(f"as_of {raw!r} has no UTC offset (write e.g. {raw}Z)")
        moment = moment.replace(tzinfo=UTC)
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:
        reasons.append(f"as_of {raw!r} is out of range")
        return datetime.min.replace(tzinfo=UTC)
    if moment.year < 1990:
        reasons.append(f"as_of {raw!r} is not a plausible statement date")
    elif moment > datetime.now(UTC) + FUTURE_SKEW:
        reasons.append(f"as_of {raw!r} is in the future; a statement states holdings already held")
    return moment


def _position(
    fields: dict[str, Any], raw: str, where: str, *, naive_is_utc: bool = False
) -> Position | RefusedPosition:
    reasons: list[str] = []
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        reasons.append(f"unknown field(s) {', '.join(unknown)}; expected {', '.join(FIELDS)}")

    def field(name: str) -> str | None:
        value = fields.get(name)
        return str(value).strip() or None if value is not None else None

    symbol = field("instrument")
    symbol = symbol.upper() if symbol else None
    isin, cusip = field("isin"), field("cusip")
    if isin and not (_ISIN.fullmatch(isin) and isin_checksum_ok(isin)):
        reasons.append(f"isin {isin!r} is not a valid ISIN")
    if cusip and not _CUSIP.fullmatch(cusip):
        reasons.append(f"cusip {cusip!r} is not 9 letters or digits")
    if not (symbol or isin or cusip):
        reasons.append("no instrument: give its ticker, ISIN or CUSIP")
    if fields.get("shares") in (None, ""):
        reasons.append("shares is missing")
        shares = Decimal(0)
    else:
        shares = _decimal(fields["shares"], reasons)
    as_of = _as_of(fields.get("as_of"), reasons, naive_is_utc=naive_is_utc)
    custodian, statement_id = field("custodian"), field("statement_id")
    for name, value in (
        ("instrument", symbol),
        ("custodian", custodian),
        ("statement_id", statement_id),
    ):
        if value and any(ord(c) < 32 or ord(c) == 127 for c in value):
            reasons.append(f"{name} holds control characters")
    if not custodian:
        reasons.append("custodian is missing")
    elif len(custodian) > 140:
        reasons.append("custodian is longer than 140 characters")
    if not statement_id:
        reasons.append("statement_id is missing")
    elif len(statement_id) > 64:
        reasons.append("statement_id is longer than 64 characters")
    raw = escape_controls(raw)
    if reasons:
        return RefusedPosition(tuple(reasons), raw, where)
    assert custodian and statement_id
    return Position(symbol, isin, cusip, shares, as_of, custodian, statement_id, raw, where)


def _own_csv(payload: bytes) -> list[Position | RefusedPosition]:
    try:
        content = payload.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MalformedPayload(f"statement CSV is not UTF-8: {exc}") from exc
    reader = csv.DictReader(io.StringIO(content))
    if not reader.fieldnames or "shares" not in reader.fieldnames:
        raise MalformedPayload(f"statement CSV needs a header row with {', '.join(FIELDS)}")
    out: list[Position | RefusedPosition] = []
    try:
        rows = list(enumerate(reader, start=2))
    except csv.Error as exc:
        raise MalformedPayload(f"statement CSV cannot be read: {exc}") from exc
    for number, row in rows:
        extra = row.pop(None, None)
        fields = {k: v for k, v in row.items() if v not in (None, "")}
        raw = orjson.dumps(row, option=orjson.OPT_SORT_KEYS).decode()
        found = _position(fields, raw, f"line {number}")
        if extra:
            reasons = found.reasons if isinstance(found, RefusedPosition) else ()
            found = RefusedPosition(
                (*reasons, "more values than header fields"), raw, found.position
            )
        out.append(found)
    if not out:
        raise MalformedPayload("statement CSV has no rows")
    return out


def _own_json(payload: bytes) -> list[Position | RefusedPosition]:
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise MalformedPayload(f"statement JSON is not valid JSON: {exc}") from exc
    items = data if isinstance(data, list) else [data]
    out: list[Position | RefusedPosition] = []
    for number, item in enumerate(items, start=1):
        where = f"record {number}"
        raw = orjson.dumps(item, option=orjson.OPT_SORT_KEYS).decode()
        if not isinstance(item, dict):
            out.append(RefusedPosition(("a position is a JSON object",), raw, where))
            continue
        out.append(_position(item, raw, where))
    if not out:
        raise MalformedPayload("statement JSON holds no positions")
    return out


def _custodian(report: ET.Element) -> str | None:
    servicer = report.find("{*}AcctSvcr")
    return (
        text(servicer, "{*}Id/{*}AnyBIC")
        or text(servicer, "{*}LEI")
        or text(servicer, "{*}Id/{*}PrtryId/{*}Id")
        or text(servicer, "{*}Id/{*}NmAndAdr/{*}Nm")
        or text(report, "{*}SfkpgAcct/{*}Id")
    )


def _statement_time(general: ET.Element | None) -> str | None:
    moment = text(general, "{*}StmtDtTm/{*}DtTm")
    if moment:
        return moment
    day = text(general, "{*}StmtDtTm/{*}Dt")
    if day:
        try:
            return datetime.combine(date.fromisoformat(day), time(23, 59, 59), UTC).isoformat()
        except ValueError:
            return day
    return None


def _cusip(security: ET.Element | None) -> str | None:
    if security is None:
        return None
    for other in security.iterfind(".//{*}OthrId"):
        kind = text(other, "{*}Tp/{*}Cd") or text(other, "{*}Tp/{*}Prtry")
        if kind in ("CUSP", "CUSIP"):
            return text(other, "{*}Id")
    return None


def _semt002(payload: bytes) -> list[Position | RefusedPosition]:
    root = safe_root(payload, "semt.002")
    reports = [e for e in root.iter() if e.tag.rsplit("}", 1)[-1] == "SctiesBalCtdyRpt"]
    if not reports:
        raise MalformedPayload("no semt.002 SctiesBalCtdyRpt element in the file")
    out: list[Position | RefusedPosition] = []
    for report_number, report in enumerate(reports, start=1):
        general = report.find("{*}StmtGnlDtls")
        common = {
            "statement_id": text(general, "{*}StmtId"),
            "as_of": _statement_time(general),
            "custodian": _custodian(report),
        }
        balances = report.findall("{*}BalForAcct")
        if not balances:
            raw = ET.canonicalize(ET.tostring(report, encoding="unicode"), strip_text=True)
            out.append(
                RefusedPosition(
                    ("the statement holds no BalForAcct position",), raw, f"report {report_number}"
                )
            )
        for number, balance in enumerate(balances, start=1):
            raw = ET.canonicalize(ET.tostring(balance, encoding="unicode"), strip_text=True)
            security = balance.find("{*}FinInstrmId")
            symbol, isin = ticker(security)
            quantity = balance.find("{*}AggtBal/{*}Qty/{*}Qty/{*}Qty")
            shares = text(quantity, "{*}Unit")
            fields: dict[str, Any] = {
                **common,
                "instrument": symbol,
                "isin": isin,
                "cusip": _cusip(security),
                "shares": shares,
            }
            where = f"report {report_number} balance {number}"
            found = _position(fields, raw, where, naive_is_utc=True)
            problems = list(found.reasons) if isinstance(found, RefusedPosition) else []
            if shares is None:
                problems.append("AggtBal/Qty/Qty/Qty/Unit (a quantity in units) is missing")
                problems = [p for p in problems if p != "shares is missing"]
            if text(balance, "{*}AggtBal/{*}ShrtLngInd") == "SHOR":
                problems.append("a short position cannot back tokens")
            if problems:
                found = RefusedPosition(tuple(problems), escape_controls(raw), where)
            out.append(found)
    return out

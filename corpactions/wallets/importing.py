"""``wallets import``: a CSV of wallets (a sanctions list, a batch of tax forms) to changes.

A header row is required; columns, in any order and case: ``address`` (or ``wallet``),
and optionally ``tax_class``, ``treaty_rate``, ``blocked``, ``excluded`` (yes/no, true/false,
1/0) and ``reason``. Values missing from a row come from the command's options (``--blocked
--reason "OFAC SDN"`` for a bare list of addresses). Every row is checked before anything is
recorded; one bad row refuses the file, naming its line.
"""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path

from sqlmodel import Session

from corpactions.config import Settings
from corpactions.errors import CorpactionsError, UserInputError, WalletChangeRefused
from corpactions.wallets.changes import PendingChange, Requested, prepare_change

MAX_BYTES = 64 * 1024 * 1024
_TRUE = {"yes", "y", "true", "t", "1"}
_FALSE = {"no", "n", "false", "f", "0"}
COLUMNS = {"address", "wallet", "tax_class", "treaty_rate", "blocked", "excluded", "reason"}


def _flag(value: str | None, column: str, line: int) -> bool | None:
    if value is None or not value.strip():
        return None
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise WalletChangeRefused(f"line {line}: {column} {value!r} is not yes or no")


def read_rows(path: Path) -> tuple[list[tuple[int, dict[str, str]]], str]:
    """The file's rows (line number, lower-cased columns) and its sha256."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UserInputError(f"cannot read {path}: {exc.strerror}") from exc
    if len(raw) > MAX_BYTES:
        raise UserInputError(f"{path} is over {MAX_BYTES} bytes")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserInputError(f"{path} is not UTF-8 text") from exc
    reader = csv.DictReader(io.StringIO(text))
    header = [(name or "").strip().lower() for name in reader.fieldnames or []]
    if not {"address", "wallet"} & set(header):
        raise UserInputError(
            f"{path} has no address column",
            hint="the first row names the columns: address[,tax_class,treaty_rate,blocked,"
            "excluded,reason]",
        )
    unknown = set(header) - COLUMNS
    if unknown:
        raise UserInputError(f"{path}: unknown column(s) {', '.join(sorted(unknown))}")
    reader.fieldnames = header
    rows = [
        (reader.line_num, {k: (v or "").strip() for k, v in row.items() if k})
        for row in reader
        if any((v or "").strip() for v in row.values() if isinstance(v, str))
    ]
    return rows, hashlib.sha256(raw).hexdigest()


def prepare_import(
    session: Session,
    path: Path,
    defaults: Requested,
    *,
    operator: str,
    settings: Settings,
) -> tuple[list[PendingChange], int]:
    """Every change the file asks for (rows that change nothing are counted, not returned)."""
    rows, digest = read_rows(path)
    if not rows:
        raise UserInputError(f"{path} lists no wallets")
    source = f"import {path.name} sha256 {digest}"[:256]
    seen: dict[str, int] = {}
    pending: list[PendingChange] = []
    unchanged = 0
    for line, row in rows:
        address = row.get("address") or row.get("wallet") or ""
        if address in seen:
            raise WalletChangeRefused(
                f"{path.name} line {line}: wallet {address} is also on line {seen[address]}; "
                "nothing was recorded"
            )
        seen[address] = line
        try:
            requested = Requested(
                tax_class=row.get("tax_class") or defaults.tax_class,
                treaty_rate=row.get("treaty_rate") or defaults.treaty_rate,
                blocked=_flag(row.get("blocked"), "blocked", line)
                if row.get("blocked")
                else defaults.blocked,
                excluded=_flag(row.get("excluded"), "excluded", line)
                if row.get("excluded")
                else defaults.excluded,
                reason=row.get("reason") or defaults.reason,
            )
            change = prepare_change(
                session, address, requested, operator=operator, source=source, settings=settings
            )
        except CorpactionsError as exc:
            raise WalletChangeRefused(
                f"{path.name} line {line}: {exc.message}; nothing was recorded", hint=exc.hint
            ) from exc
        if change is None:
            unchanged += 1
        else:
            pending.append(change)
    return pending, unchanged

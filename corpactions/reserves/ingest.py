"""Take a custodian's statement into the ledger: one ``CustodyStatement`` version per position,
refused ones quarantined with every reason and the raw payload, and an auditor's signature over
the file's sha256 checked against the registered key before anything is stored.

A position is the current version of (custodian, statement id, instrument) until a file with
other bytes states it again; the same file again is a duplicate. Positions name their instrument
by ticker (any ticker it traded under); an ISIN or CUSIP alone is resolved through the earlier
statements that gave it next to a ticker.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from solders.pubkey import Pubkey
from solders.signature import Signature
from sqlmodel import Session, col, select

from corpactions.errors import AlreadyExists, InvalidAddress, NotFound, UserInputError
from corpactions.feeds.normalized import MalformedPayload, escape_controls
from corpactions.logs import get_logger
from corpactions.models import (
    AuditorKey,
    CustodyStatement,
    Instrument,
    InstrumentSymbol,
    QuarantinedStatement,
)
from corpactions.reserves.statements import Position, RefusedPosition, read_statement

log = get_logger(__name__)


@dataclass
class StatementReport:
    sha256: str
    accepted: list[int] = field(default_factory=list)
    amended: int = 0
    duplicate: int = 0
    quarantined: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "accepted": len(self.accepted),
            "statement_rows": self.accepted,
            "amended": self.amended,
            "duplicate": self.duplicate,
            "quarantined": len(self.quarantined),
            "reasons": self.quarantined,
        }


def register_auditor(*, session: Session, name: str, public_key: str) -> AuditorKey:
    name = name.strip()
    if not name:
        raise UserInputError("an auditor needs a name")
    try:
        Pubkey.from_string(public_key)
    except ValueError as exc:
        raise InvalidAddress(f"{public_key!r} is not an ed25519 public key in base58") from exc
    if session.exec(select(AuditorKey).where(AuditorKey.name == name)).first() is not None:
        raise AlreadyExists(f"auditor {name} is already registered")
    auditor = AuditorKey(name=name, public_key=public_key)
    session.add(auditor)
    session.flush()
    return auditor


def auditor_signature_problem(
    session: Session, digest: str, auditor: str, signature: str
) -> str | None:
    """Why ``signature`` is not ``auditor``'s ed25519 signature over the 32 bytes of the sha256
    ``digest``; None when it is."""
    key = session.exec(select(AuditorKey).where(AuditorKey.name == auditor)).first()
    if key is None:
        raise NotFound(
            f"no auditor {auditor} is registered",
            hint="corpactions reserves auditors add NAME --public-key KEY",
        )
    try:
        parsed = Signature.from_string(signature)
    except ValueError as exc:
        raise UserInputError(
            f"{signature!r} is not an ed25519 signature in base58 (64 bytes)"
        ) from exc
    if not parsed.verify(Pubkey.from_string(key.public_key), bytes.fromhex(digest)):
        return f"auditor {auditor}'s signature does not verify over the statement's sha256 {digest}"
    return None


def _quarantine(
    session: Session,
    report: StatementReport,
    *,
    fmt: str,
    origin: str | None,
    where: str,
    reasons: tuple[str, ...] | list[str],
    raw: str,
) -> None:
    reason = "; ".join(reasons)
    known = session.exec(
        select(QuarantinedStatement).where(
            QuarantinedStatement.sha256 == report.sha256, QuarantinedStatement.position == where
        )
    ).first()
    if known is None:
        session.add(
            QuarantinedStatement(
                source=fmt,
                origin=origin,
                position=where,
                reason=reason,
                sha256=report.sha256,
                raw_payload=raw,
            )
        )
    report.quarantined.append(f"{where}: {reason}")
    log.warning("custody statement refused", position=where, reason=reason)


def _instrument(session: Session, position: Position) -> Instrument | None:
    if position.symbol:
        found = session.exec(select(Instrument).where(Instrument.symbol == position.symbol)).first()
        if found is not None:
            return found
        alias = session.exec(
            select(InstrumentSymbol).where(InstrumentSymbol.symbol == position.symbol)
        ).first()
        return session.get(Instrument, alias.instrument_id) if alias else None
    for column, value in (
        (CustodyStatement.isin, position.isin),
        (CustodyStatement.cusip, position.cusip),
    ):
        if value:
            earlier = session.exec(select(CustodyStatement).where(column == value)).first()
            if earlier is not None:
                return session.get(Instrument, earlier.instrument_id)
    return None


def _identifier_clash(
    session: Session, position: Position, instrument: Instrument | None
) -> str | None:
    """An ISIN or CUSIP that earlier statements gave for another instrument: the position is
    not filed under either of them."""
    if instrument is None:
        return None
    for name, column, value in (
        ("isin", CustodyStatement.isin, position.isin),
        ("cusip", CustodyStatement.cusip, position.cusip),
    ):
        if not value:
            continue
        others = session.exec(
            select(CustodyStatement.instrument_id)
            .where(column == value, CustodyStatement.instrument_id != instrument.id)
            .limit(1)
        ).first()
        if others is not None:
            other = session.get(Instrument, others)
            return (
                f"{name} {value} was given for {other.symbol if other else others} by earlier "
                f"statements, not {instrument.symbol}; check the custodian's identifiers"
            )
    return None


def ingest_statement(
    *,
    session: Session,
    payload: bytes,
    fmt: str,
    origin: str | None = None,
    auditor: str | None = None,
    signature: str | None = None,
) -> StatementReport:
    report = StatementReport(hashlib.sha256(payload).hexdigest())
    whole = escape_controls(payload.decode("utf-8", errors="replace"))
    if (auditor is None) != (signature is None):
        raise UserInputError("give --auditor and --signature together, or neither")
    if auditor is not None and signature is not None:
        problem = auditor_signature_problem(session, report.sha256, auditor, signature)
        if problem:
            _quarantine(
                session, report, fmt=fmt, origin=origin, where="file", reasons=[problem], raw=whole
            )
            return report
    try:
        positions = read_statement(payload, fmt)
    except MalformedPayload as exc:
        _quarantine(
            session, report, fmt=fmt, origin=origin, where="file", reasons=[exc.message], raw=whole
        )
        return report
    instruments = {
        id(item): _instrument(session, item)
        for item in positions
        if not isinstance(item, RefusedPosition)
    }
    keys = [
        (item.custodian, item.statement_id, found.id)
        for item in positions
        if not isinstance(item, RefusedPosition) and (found := instruments[id(item)]) is not None
    ]
    for original in positions:
        item = original
        if not isinstance(item, RefusedPosition):
            found = instruments[id(item)]
            twice = (
                found is not None and keys.count((item.custodian, item.statement_id, found.id)) > 1
            )
            clash = _identifier_clash(session, item, found)
            if twice or clash:
                reason = clash or (
                    f"statement {item.statement_id} states {found.symbol if found else ''} more "
                    "than once; give one position per instrument and statement (the sum of "
                    "every account)"
                )
                item = RefusedPosition((reason,), item.raw, item.position)
        if isinstance(item, RefusedPosition):
            _quarantine(
                session,
                report,
                fmt=fmt,
                origin=origin,
                where=item.position,
                reasons=item.reasons,
                raw=item.raw,
            )
            continue
        instrument = instruments[id(item)]
        if instrument is None or instrument.id is None:
            named = item.symbol or item.isin or item.cusip
            _quarantine(
                session,
                report,
                fmt=fmt,
                origin=origin,
                where=item.position,
                reasons=[f"no registered instrument {named} (name it by its ticker)"],
                raw=item.raw,
            )
            continue
        _store(session, report, item, instrument.id, fmt, auditor, signature)
    session.flush()
    return report


def _store(
    session: Session,
    report: StatementReport,
    item: Position,
    instrument_id: int,
    fmt: str,
    auditor: str | None,
    signature: str | None,
) -> None:
    versions = session.exec(
        select(CustodyStatement)
        .where(
            CustodyStatement.custodian == item.custodian,
            CustodyStatement.statement_id == item.statement_id,
            CustodyStatement.instrument_id == instrument_id,
        )
        .order_by(col(CustodyStatement.version).desc())
    ).all()
    if any(v.sha256 == report.sha256 for v in versions):
        report.duplicate += 1
        return
    now = datetime.now(UTC)
    for earlier in versions:
        if earlier.superseded_at is None:
            earlier.superseded_at = now
            session.add(earlier)
    row = CustodyStatement(
        instrument_id=instrument_id,
        custodian=item.custodian,
        statement_id=item.statement_id,
        version=(versions[0].version + 1) if versions else 1,
        source=fmt,
        isin=item.isin,
        cusip=item.cusip,
        shares=item.shares,
        as_of=item.as_of,
        sha256=report.sha256,
        auditor=auditor,
        auditor_signature=signature,
        raw_payload=item.raw,
    )
    session.add(row)
    session.flush()
    assert row.id is not None
    report.accepted.append(row.id)
    if versions:
        report.amended += 1
    log.info(
        "custody statement taken in",
        statement=item.statement_id,
        custodian=item.custodian,
        version=row.version,
        shares=str(item.shares),
        as_of=item.as_of.isoformat(),
    )

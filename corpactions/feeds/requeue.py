"""Take a quarantined record in again once its cause is fixed (an instrument registered later, a
currency now supported): ``corpactions feeds requeue ID``.

The stored raw payload is parsed again as the format it arrived in and ingested like any record
(versions, amendments, duplicates as usual). A record still refused keeps its quarantine entry,
whose reasons are brought up to date; one taken in is marked with the time and its action, and
never taken in twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import Session, select

from corpactions.errors import NotFound, UserInputError
from corpactions.feeds.formats import FeedFormat, parse_payload, reparse_record
from corpactions.feeds.ingest import IngestReport, ingest
from corpactions.feeds.normalized import MalformedPayload, NormalizedAction, Rejected
from corpactions.feeds.validate import Rules, problems
from corpactions.models import Instrument, QuarantinedRecord


@dataclass(frozen=True)
class Requeued:
    """What became of a requeued record: ingested (``report``), or still ``refused`` with the
    reasons of now (its entry stays and holds them)."""

    record_id: int
    report: IngestReport
    refused: tuple[str, ...] = ()


def requeue(
    *, session: Session, record_id: int, currencies: tuple[str, ...] = ("USD",)
) -> Requeued:
    row = session.get(QuarantinedRecord, record_id)
    if row is None:
        raise NotFound(
            f"no quarantined record {record_id}", hint="see 'corpactions feeds quarantine'"
        )
    if row.requeued_at is not None:
        raise UserInputError(
            f"quarantined record {record_id} was already taken in "
            f"(action {row.requeued_action_id}) at {row.requeued_at:%Y-%m-%d %H:%M:%S} UTC"
        )
    try:
        fmt = FeedFormat(row.format or "")
    except ValueError as exc:
        raise UserInputError(
            f"quarantined record {record_id} has no stored format",
            hint="it was quarantined before formats were kept: ingest its source again",
        ) from exc
    try:
        if row.position == "file":
            records = parse_payload(fmt, row.raw_payload.encode())
        else:
            records = reparse_record(fmt, row.raw_payload)
    except MalformedPayload as exc:
        return _still(session, row, [exc.message])
    symbols = [i.symbol for i in session.exec(select(Instrument))]
    rules = Rules(known_symbols=symbols, currencies=currencies)
    reasons: list[str] = []
    for record in records:
        if isinstance(record, Rejected):
            reasons += record.reasons
        elif isinstance(record, NormalizedAction):
            reasons += problems(record, rules)
    if reasons:
        return _still(session, row, reasons)
    report = ingest(
        records,
        session=session,
        currencies=currencies,
        origin=f"requeue of quarantined record {record_id} ({row.origin or row.source})",
        fmt=fmt.value,
    )
    row.requeued_at = datetime.now(UTC)
    row.requeued_action_id = min(report.actions) if report.actions else None
    session.add(row)
    return Requeued(record_id, report)


def _still(session: Session, row: QuarantinedRecord, reasons: list[str]) -> Requeued:
    row.reasons = list(dict.fromkeys(reasons))
    row.reason = "; ".join(row.reasons)
    session.add(row)
    return Requeued(row.id or 0, IngestReport(), tuple(row.reasons))

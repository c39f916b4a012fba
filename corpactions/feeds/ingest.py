"""Apply normalized feed records to the ledger: versions, amendments, terminal states, quarantine.

Rules:

- An action is identified by (source, source reference). Every accepted record is a version of
  it; a payload already stored for that action is a duplicate and changes nothing.
- Every version gets a receipt sequence: its version number, given in order of arrival.
- The current version is the one with the greatest ``sequence_key``. Which rule that is, per
  source (see ``NormalizedAction.sequence_key``):

  - seev.031/seev.039 and seev.001: ordered by the message's creation date (AppHdr CreDt):
    the latest created is current, whatever order they arrive in (ties: function rank, payload);
  - own CSV/JSON with ``sequence``, Alpaca with ``updated_at``: ordered by that value, whatever
    the order of arrival;
  - Polygon, Alpaca without ``updated_at``, own format without ``sequence``: no ordering, the
    source sends its current state, so the version received last (receipt sequence) is current.

  A REPL outranks a NEWM of the same ordering value and a CANC/WITH ends the action whatever
  its place. An older version that arrives late is stored as superseded at once.
- A CANC or WITH version makes the action cancelled or withdrawn, for good.
- Otherwise the status follows the current version's processing status (COMP/PREC confirmed,
  else announced) while the action is still before its snapshot. When the current version changes
  after a snapshot or plan exists, draft/approved plans become stale, and a snapshot whose record
  date (or kind) no longer matches becomes stale too, which makes the action due again.
- A record that fails parsing or validation is stored in ``QuarantinedRecord`` with every
  reason, its origin (the file, or the provider and pull time), its position in the payload and
  its raw payload (once per payload); it never blocks the other records.

Records are processed in chunks: lookups are preloaded per chunk and new rows inserted in bulk
(COPY on PostgreSQL, see ``corpactions.bulkwrite``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from corpactions.bulkwrite import insert_rows, reserve_ids, uses_copy
from corpactions.feeds.entitlement import entitlement
from corpactions.feeds.events import operator_reason, status_for_kind
from corpactions.feeds.normalized import NormalizedAction, Rejected, escape_controls
from corpactions.feeds.symbols import record_ticker_changes, symbols_to_instruments
from corpactions.feeds.validate import Rules, problems
from corpactions.logs import get_logger
from corpactions.models import (
    ActionStatus,
    CorporateAction,
    CorporateActionVersion,
    PayoutPlan,
    PlanStatus,
    QuarantinedRecord,
    Snapshot,
)
from corpactions.notify import notify

log = get_logger(__name__)
CHUNK = 2000
_EARLY = {ActionStatus.announced, ActionStatus.confirmed}
_AFTER_SNAPSHOT = {ActionStatus.snapshotted, ActionStatus.planned}
_BY_KIND = {ActionStatus.needs_operator, ActionStatus.applied}


@dataclass
class IngestReport:
    accepted: int = 0
    amended: int = 0
    duplicate: int = 0
    quarantined: int = 0
    cancelled: int = 0
    actions: set[int] = field(default_factory=set)
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "amended": self.amended,
            "duplicate": self.duplicate,
            "quarantined": self.quarantined,
            "cancelled": self.cancelled,
            "actions": sorted(self.actions),
            "quarantine_reasons": self.reasons[:20],
        }


@dataclass
class _Known:
    """An action and the versions the ledger (or this chunk) holds for it."""

    action_id: int | None
    row: CorporateAction | None
    versions: list[dict[str, Any]]
    new: list[NormalizedAction] = field(default_factory=list)


def _chunks(
    records: Iterable[NormalizedAction | Rejected], size: int
) -> Iterator[list[NormalizedAction | Rejected]]:
    iterator = iter(records)
    while chunk := list(islice(iterator, size)):
        yield chunk


def quarantine(
    session: Session,
    rejected: list[Rejected],
    report: IngestReport,
    *,
    origin: str | None = None,
    fmt: str | None = None,
) -> None:
    """Store each refused record once per (source, payload), with every reason, where it came
    from (``origin``: the file or the provider pull; ``fmt``: the payload format, for
    ``feeds requeue``) and its position; NUL and control characters are stored escaped."""
    if not rejected:
        return
    hashes = {r.payload_sha256 for r in rejected}
    existing = set(
        session.exec(
            select(QuarantinedRecord.source, QuarantinedRecord.payload_sha256).where(
                col(QuarantinedRecord.payload_sha256).in_(hashes)
            )
        ).all()
    )
    now = datetime.now(UTC)
    rows = []
    for record in rejected:
        key = (record.source, record.payload_sha256)
        if key in existing:
            report.duplicate += 1
            continue
        existing.add(key)
        reasons = [escape_controls(r) for r in record.reasons]
        rows.append(
            {
                "source": record.source,
                "source_ref": escape_controls(record.source_ref or "")[:128] or None,
                "reason": "; ".join(reasons),
                "reasons": reasons,
                "origin": escape_controls(origin) if origin else None,
                "position": escape_controls(record.position or "")[:64] or None,
                "format": fmt,
                "payload_sha256": record.payload_sha256,
                "raw_payload": escape_controls(record.raw),
                "received_at": now,
            }
        )
        report.quarantined += 1
        if len(report.reasons) < 200:
            report.reasons.append("; ".join(reasons))
    if rows:
        insert_rows(session, QuarantinedRecord, rows)
        log.info("feed records quarantined", count=len(rows), first_reason=rows[0]["reason"])


def _load_known(
    session: Session, accepted: list[NormalizedAction]
) -> dict[tuple[str, str], _Known]:
    keys = {(a.source, a.source_ref) for a in accepted}
    known: dict[tuple[str, str], _Known] = {}
    refs_by_source: dict[str, set[str]] = defaultdict(set)
    for source, ref in keys:
        refs_by_source[source].add(ref)
    for source, refs in refs_by_source.items():
        rows = session.exec(
            select(CorporateAction).where(
                CorporateAction.source == source, col(CorporateAction.source_ref).in_(refs)
            )
        ).all()
        for row in rows:
            known[(row.source, row.source_ref)] = _Known(row.id, row, [])
    ids = {k.action_id: k for k in known.values() if k.action_id is not None}
    if ids:
        version_rows = session.execute(
            sa.select(
                col(CorporateActionVersion.action_id),
                col(CorporateActionVersion.version),
                col(CorporateActionVersion.payload_sha256),
                col(CorporateActionVersion.sequence_key),
                col(CorporateActionVersion.function),
                col(CorporateActionVersion.processing_status),
            ).where(col(CorporateActionVersion.action_id).in_(ids))
        ).all()
        for action_id, version, sha, key, function, processing in version_rows:
            ids[action_id].versions.append(
                {
                    "version": version,
                    "sha": sha,
                    "key": key,
                    "function": function,
                    "processing_status": processing,
                }
            )
    return known


def _status_for(current: dict[str, Any], versions: list[dict[str, Any]]) -> ActionStatus | None:
    functions = {v["function"] for v in versions}
    if "CANC" in functions:
        return ActionStatus.cancelled
    if "WITH" in functions:
        return ActionStatus.withdrawn
    return ActionStatus.confirmed if current.get("processing_status") in ("COMP", "PREC") else None


def _apply(
    session: Session,
    instruments: dict[str, int],
    accepted: list[NormalizedAction],
    report: IngestReport,
) -> None:
    known = _load_known(session, accepted)
    for record in accepted:
        entry = known.setdefault((record.source, record.source_ref), _Known(None, None, []))
        sha = record.payload_sha256
        if any(v["sha"] == sha for v in entry.versions) or any(
            n.payload_sha256 == sha for n in entry.new
        ):
            report.duplicate += 1
            continue
        if entry.versions or entry.new:
            report.amended += 1
        else:
            report.accepted += 1
        entry.new.append(record)

    now = datetime.now(UTC)
    fresh = [entry for entry in known.values() if entry.action_id is None and entry.new]
    if fresh:
        _insert_new_actions(session, instruments, fresh, now, report)
    version_rows: list[dict[str, Any]] = []
    for entry in known.values():
        if entry.row is None or not entry.new:
            continue
        for record in entry.new:
            number = len(entry.versions) + 1  # the receipt sequence: order of arrival
            version_rows.append(
                _version_row(entry.row.id or 0, number, record, now, superseded=False)
            )
            entry.versions.append(
                {
                    "version": number,
                    "sha": record.payload_sha256,
                    "key": record.sequence_key(number),
                    "function": record.function,
                    "processing_status": record.processing_status,
                    "record": record,
                }
            )
    insert_rows(session, CorporateActionVersion, version_rows)
    for entry in known.values():
        if entry.row is not None and entry.new:
            _settle(session, entry, now, report)


def _version_row(
    action_id: int, number: int, record: NormalizedAction, now: datetime, *, superseded: bool
) -> dict[str, Any]:
    return {
        "action_id": action_id,
        "version": number,
        "kind": record.kind.value,
        "function": record.function,
        "processing_status": record.processing_status,
        "ex_date": record.ex_date,
        "record_date": record.record_date,
        "pay_date": record.pay_date,
        "effective_date": record.effective_date,
        "currency": record.currency,
        "gross_rate": record.gross_rate,
        "net_rate": record.net_rate,
        "withholding_rate": record.withholding_rate,
        "ratio_new": record.ratio_new,
        "ratio_old": record.ratio_old,
        "fraction_disposition": record.fraction_disposition,
        "details": record.details,
        "payload_sha256": record.payload_sha256,
        "sequence_key": record.sequence_key(number),
        "raw_payload": record.raw,
        "received_at": now,
        "superseded_at": now if superseded else None,
    }


def _insert_new_actions(
    session: Session,
    instruments: Mapping[str, int | None],
    fresh: list[_Known],
    now: datetime,
    report: IngestReport,
) -> None:
    """Actions first seen in this chunk: their final state is known before anything is written,
    so each costs one row and its versions, with no read-back."""
    rows = []
    for entry in fresh:
        numbered = list(enumerate(entry.new, start=1))
        current_number, current = max(numbered, key=lambda item: item[1].sequence_key(item[0]))
        functions = {r.function for r in entry.new}
        kind_status = status_for_kind(current.kind)
        if "CANC" in functions or "WITH" in functions:
            status = ActionStatus.cancelled if "CANC" in functions else ActionStatus.withdrawn
            reason: str | None = f"{status.value} by the source"
            report.cancelled += 1
        elif kind_status is not None:
            status, reason = kind_status, _kind_reason(current)
            _notify(session, current, status, reason)
        else:
            status = (
                ActionStatus.confirmed
                if current.processing_status in ("COMP", "PREC")
                else ActionStatus.announced
            )
            reason = None
        entry.versions = [{"version": n, "record": r} for n, r in numbered]
        entry.versions.append({"current": current_number})
        rows.append(
            {
                "instrument_id": instruments[current.symbol],
                "source": current.source,
                "source_ref": current.source_ref,
                "kind": current.kind.value,
                "status": status.value,
                "status_reason": reason,
                "current_version": current_number,
                "created_at": now,
                "updated_at": now,
            }
        )
    if uses_copy(session):  # ids from the sequence, rows by COPY: nothing to read back
        new_ids = reserve_ids(session, CorporateAction, len(rows))
        for row, new_id in zip(rows, new_ids, strict=True):
            row["id"] = new_id
        insert_rows(session, CorporateAction, rows)
    else:
        inserted = session.execute(
            sa.insert(CorporateAction).returning(
                col(CorporateAction.id), sort_by_parameter_order=True
            ),
            rows,
        )
        new_ids = [int(new_id) for (new_id,) in inserted]
    version_rows = []
    for entry, new_id in zip(fresh, new_ids, strict=True):
        entry.action_id = int(new_id)
        report.actions.add(entry.action_id)
        current_number = entry.versions[-1]["current"]
        for item in entry.versions[:-1]:
            version_rows.append(
                _version_row(
                    entry.action_id,
                    item["version"],
                    item["record"],
                    now,
                    superseded=item["version"] != current_number,
                )
            )
    insert_rows(session, CorporateActionVersion, version_rows)


def _notify(session: Session, record: NormalizedAction, status: ActionStatus, reason: str) -> None:
    """An event that needs a person is said in the log (the operators' alerting reads it) and
    by webhook, besides ``status`` and the API."""
    if status == ActionStatus.needs_operator:
        notify(
            session,
            "action.needs_operator",
            {
                "source": record.source,
                "source_ref": record.source_ref,
                "symbol": record.symbol,
                "kind": record.kind.value,
                "reason": reason,
            },
        )
        log.warning(
            "corporate action needs an operator",
            source=record.source,
            source_ref=record.source_ref,
            symbol=record.symbol,
            kind=record.kind.value,
            reason=reason,
        )


def _kind_reason(record: NormalizedAction) -> str:
    effective = record.effective_date or record.ex_date
    return operator_reason(record.kind, {**record.details, "effective": effective})


def _settle(session: Session, entry: _Known, now: datetime, report: IngestReport) -> None:
    """Point the action at its greatest version and derive its status."""
    assert entry.action_id is not None
    report.actions.add(entry.action_id)
    current = max(entry.versions, key=lambda v: v["key"])
    status = _status_for(current, entry.versions)
    action = entry.row
    assert action is not None
    previous_version = action.current_version
    changed = previous_version != current["version"]
    if len(entry.versions) > 1:
        session.execute(
            sa.update(CorporateActionVersion)
            .where(
                col(CorporateActionVersion.action_id) == entry.action_id,
                col(CorporateActionVersion.version) != current["version"],
                col(CorporateActionVersion.superseded_at).is_(None),
            )
            .values(superseded_at=now)
        )
    action.current_version = current["version"]
    if "record" in current:
        action.kind = current["record"].kind
    kind_status = status_for_kind(action.kind)
    if status in (ActionStatus.cancelled, ActionStatus.withdrawn):
        if action.status != status:
            report.cancelled += 1
            action.status = status
            action.status_reason = (
                f"{'cancelled' if status == ActionStatus.cancelled else 'withdrawn'} by the source"
            )
            _stale_plans(session, entry.action_id, f"action {status.value}")
    elif kind_status is not None:
        action.status = kind_status
        if "record" in current:
            action.status_reason = _kind_reason(current["record"])
            _notify(session, current["record"], kind_status, action.status_reason)
    elif action.status in _BY_KIND:  # its kind changed to one that is carried out
        action.status = status or ActionStatus.announced
        action.status_reason = f"amended to version {current['version']}"
    elif changed and action.status not in _EARLY:
        _amended_after_snapshot(session, action, current, previous_version)
    elif action.status in _EARLY:
        action.status = status or ActionStatus.announced
    action.updated_at = now
    session.add(action)


def _stale_plans(session: Session, action_id: int, reason: str) -> None:
    plans = session.exec(
        select(PayoutPlan).where(
            PayoutPlan.action_id == action_id,
            col(PayoutPlan.status).in_([PlanStatus.draft, PlanStatus.approved]),
        )
    ).all()
    for plan in plans:
        plan.status = PlanStatus.stale
        plan.stale_reason = reason
        session.add(plan)


def _amended_after_snapshot(
    session: Session, action: CorporateAction, current: dict[str, Any], previous_version: int
) -> None:
    assert action.id is not None
    _stale_plans(session, action.id, f"action amended to version {current['version']}")
    record: NormalizedAction | None = current.get("record")
    snapshots = session.exec(
        select(Snapshot).where(
            Snapshot.action_id == action.id,
            Snapshot.superseded_by == None,  # noqa: E711
            Snapshot.stale_reason == None,  # noqa: E711
        )
    ).all()
    previous = session.exec(  # the version the snapshot and plans were made from
        select(CorporateActionVersion).where(
            CorporateActionVersion.action_id == action.id,
            CorporateActionVersion.version == previous_version,
        )
    ).first()
    cutoff_moved = record is not None and (
        previous is None
        or entitlement(record).cutoff != entitlement(previous).cutoff
        or record.kind != previous.kind
    )
    if cutoff_moved and snapshots:
        for snapshot in snapshots:
            snapshot.stale_reason = (
                f"action amended to version {current['version']}: "
                "record date (entitlement cutoff) or kind changed"
            )
            session.add(snapshot)
        action.status = (
            ActionStatus.confirmed
            if current.get("processing_status") in ("COMP", "PREC")
            else ActionStatus.announced
        )
    elif action.status in _AFTER_SNAPSHOT:
        action.status = ActionStatus.snapshotted
    action.status_reason = f"amended to version {current['version']}"
    log.warning(
        "action amended after its snapshot or plan", action=action.id, version=current["version"]
    )


def ingest(
    records: Iterable[NormalizedAction | Rejected],
    *,
    session: Session,
    currencies: tuple[str, ...] = ("USD",),
    chunk_size: int = CHUNK,
    origin: str | None = None,
    fmt: str | None = None,
) -> IngestReport:
    """Validate, version and store ``records``; bad ones are quarantined with every reason,
    ``origin`` (the file or the pull) and their position. Commits nothing itself."""
    instruments = symbols_to_instruments(session)  # every ticker, old ones included
    rules = Rules(known_symbols=instruments.keys(), currencies=currencies)
    report = IngestReport()
    for chunk in _chunks(records, chunk_size):
        accepted: list[NormalizedAction] = []
        rejected: list[Rejected] = []
        for record in chunk:
            if isinstance(record, Rejected):
                rejected.append(record)
                continue
            reasons = problems(record, rules)
            if reasons:
                rejected.append(
                    Rejected(
                        record.source,
                        tuple(reasons),
                        record.raw,
                        record.source_ref,
                        record.position or None,
                    )
                )
                continue
            accepted.append(record)
        quarantine(session, rejected, report, origin=origin, fmt=fmt)
        if accepted:
            _apply(session, instruments, accepted, report)
        session.flush()
    record_ticker_changes(session, report.actions, datetime.now(UTC).date())
    log.info(
        "feed ingested",
        **{k: v for k, v in report.as_dict().items() if k not in ("actions", "quarantine_reasons")},
    )
    return report

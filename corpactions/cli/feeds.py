"""``corpactions feeds``: ingest files, pull providers, review the quarantine."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import typer
from sqlmodel import col, select

from corpactions import db
from corpactions.cli.render import JSON_OPTION, print_json, print_table
from corpactions.config import get_settings
from corpactions.errors import UserInputError
from corpactions.feeds.formats import PARSERS, FeedFormat, parse_payload, read_bounded
from corpactions.feeds.ingest import IngestReport, ingest
from corpactions.feeds.normalized import MalformedPayload
from corpactions.feeds.pull import SOURCES, pull, quarantine_malformed
from corpactions.feeds.requeue import requeue
from corpactions.models import QuarantinedRecord

app = typer.Typer(
    help="Corporate-action feeds: ingest files, pull providers, review quarantine.",
    no_args_is_help=True,
)


def read_input(path: str, limit: int) -> bytes:
    """The file's bytes, at most ``limit`` of them (read in blocks; more is PayloadTooLarge)."""
    if path == "-":
        return read_bounded(sys.stdin.buffer, limit, "standard input")
    try:
        with Path(path).open("rb") as stream:
            return read_bounded(stream, limit, path)
    except OSError as exc:
        raise UserInputError(f"cannot read {path}: {exc.strerror}") from exc


def _report(report: IngestReport, as_json: bool, what: str) -> None:
    if as_json:
        print_json(report.as_dict())
        return
    typer.echo(
        f"{what}: {report.accepted} accepted, {report.amended} amended, "
        f"{report.duplicate} duplicate, {report.quarantined} quarantined, "
        f"{report.cancelled} cancelled/withdrawn"
    )
    if report.quarantined:
        typer.echo("  see 'corpactions feeds quarantine' for the reasons and raw payloads")


@app.command("ingest")
def ingest_file(
    path: str = typer.Argument(..., help="Feed file, or - for standard input."),
    fmt: FeedFormat = typer.Option(..., "--format", help="Payload format of the file."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Ingest a feed file: new actions, amendments (new versions), cancellations; bad records
    are quarantined. Exits 0 when the file was read (even with quarantined records), 2 when not."""
    db.require_current_schema()
    source, _ = PARSERS[fmt]
    origin = "standard input" if path == "-" else f"file {Path(path).resolve()}"
    raw = b""
    try:
        raw = read_input(path, get_settings().feed_max_bytes)
        records = parse_payload(fmt, raw)
    except MalformedPayload as exc:
        with db.session_scope() as session:
            quarantine_malformed(session, source, exc, raw, origin=origin, fmt=fmt.value)
        raise UserInputError(
            f"{path}: {exc.message}", hint="the whole payload was quarantined; nothing else changed"
        ) from exc
    with db.session_scope() as session:
        report = ingest(records, session=session, origin=origin, fmt=fmt.value)
    _report(report, as_json, path)


@app.command("pull")
def pull_source(
    source: str = typer.Option(..., "--source", help=f"One of: {', '.join(SOURCES)}."),
    since: str | None = typer.Option(
        None, "--since", help="Earliest ex/execution date, YYYY-MM-DD."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Pull a provider's corporate actions for every registered ticker and ingest them."""
    start: date | None = None
    if since is not None:
        try:
            start = date.fromisoformat(since)
        except ValueError as exc:
            raise UserInputError(f"--since {since!r} is not a date (YYYY-MM-DD)") from exc
    db.require_current_schema()
    with db.session_scope() as session:
        report = pull(session=session, source=source, since=start)
    _report(report, as_json, source)


@app.command("quarantine")
def show_quarantine(
    limit: int = typer.Option(50, "--limit", min=1, max=10_000, help="Newest N records."),
    source: str | None = typer.Option(None, "--source", help="Only this source."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Records that failed validation, with their reasons and raw payloads."""
    db.require_current_schema()
    with db.session_scope() as session:
        query = select(QuarantinedRecord).order_by(col(QuarantinedRecord.id).desc()).limit(limit)
        if source:
            query = query.where(QuarantinedRecord.source == source)
        rows = [
            {
                "id": r.id,
                "source": r.source,
                "source_ref": r.source_ref,
                "reason": r.reason,
                "reasons": r.reasons or [r.reason],
                "origin": r.origin,
                "position": r.position,
                "format": r.format,
                "received_at": r.received_at,
                "requeued_at": r.requeued_at,
                "requeued_action_id": r.requeued_action_id,
                "payload_sha256": r.payload_sha256,
                "raw_payload": r.raw_payload,
            }
            for r in session.exec(query)
        ]
    if as_json:
        print_json(rows)
        return
    print_table(
        "Quarantined feed records",
        rows,
        [
            "id",
            "source",
            "origin",
            "position",
            "source_ref",
            "reason",
            "received_at",
            "requeued_at",
        ],
    )


@app.command("requeue")
def requeue_record(
    record_id: int = typer.Argument(..., help="Quarantined record id (see 'feeds quarantine')."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Ingest a quarantined record again once its cause is fixed (e.g. the instrument is now
    registered). Exits 2 when it is still refused; its entry then lists the reasons of now."""
    db.require_current_schema()
    with db.session_scope() as session:
        result = requeue(session=session, record_id=record_id)
    if result.refused:
        raise UserInputError(
            f"quarantined record {record_id} is still refused: {'; '.join(result.refused)}",
            hint="fix the cause, then requeue it again",
        )
    if as_json:
        print_json({"record": record_id, **result.report.as_dict()})
        return
    _report(result.report, False, f"quarantined record {record_id}")

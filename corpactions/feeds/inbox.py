"""The feed drop folder: files put in the inbox are ingested by the scheduled feed task.

Each file is ingested in its own transaction, then moved to ``done/`` (read, even when some of
its records were quarantined) or ``rejected/`` (not a payload of its format at all: the whole file
is quarantined with its reason). A crash between the commit and the move only means the file is
read again on the next scan, where every record is a duplicate and changes nothing. Files whose
name announces no known format stay where they are and are logged.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from corpactions.config import Settings, get_settings
from corpactions.db import SessionFactory
from corpactions.feeds.formats import PARSERS, format_of, parse_payload, read_bounded
from corpactions.feeds.ingest import ingest
from corpactions.feeds.normalized import MalformedPayload
from corpactions.feeds.pull import quarantine_malformed
from corpactions.feeds.symbols import apply_ticker_changes
from corpactions.logs import get_logger

log = get_logger(__name__)


def _move(path: Path, folder: str) -> Path:
    target_dir = path.parent / folder
    target_dir.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = target_dir / f"{stamp}-{path.name}"
    path.rename(target)
    return target


def ingest_inbox(
    *, session_factory: SessionFactory, settings: Settings | None = None
) -> dict[str, Any]:
    """Ingest every waiting file of the inbox, oldest first; returns a report per file."""
    settings = settings or get_settings()
    with session_factory() as session:  # ticker changes announced ahead take effect on their day
        apply_ticker_changes(session, datetime.now(UTC).date())
    inbox = settings.inbox_dir
    if not inbox.is_dir():
        return {}
    reports: dict[str, Any] = {}
    files = sorted(
        (p for p in inbox.iterdir() if p.is_file() and not p.name.startswith(".")),
        key=lambda p: (p.stat().st_mtime, p.name),
    )
    for path in files:
        fmt = format_of(path.name)
        if fmt is None:
            log.warning("inbox file of unknown format left in place", file=str(path))
            continue
        source, _ = PARSERS[fmt]
        origin = f"inbox file {path.name}"
        raw = b""
        try:
            with path.open("rb") as stream:
                raw = read_bounded(stream, settings.feed_max_bytes, path.name)
            records = parse_payload(fmt, raw)
        except MalformedPayload as exc:
            with session_factory() as session:
                quarantine_malformed(session, source, exc, raw, origin=origin, fmt=fmt.value)
            moved = _move(path, "rejected")
            log.warning(
                "inbox file rejected", file=path.name, reason=exc.message, moved_to=str(moved)
            )
            reports[path.name] = {"rejected": exc.message}
            continue
        with session_factory() as session:
            report = ingest(records, session=session, origin=origin, fmt=fmt.value)
        _move(path, "done")
        log.info("inbox file ingested", file=path.name, **report.as_dict())
        reports[path.name] = report.as_dict()
    return reports

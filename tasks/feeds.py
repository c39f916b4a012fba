"""Feed tasks: thin wrappers around ``corpactions.feeds``."""

from __future__ import annotations

from typing import Any

from corpactions.db import session_scope
from corpactions.feeds.inbox import ingest_inbox
from corpactions.feeds.pull import pull_configured
from tasks.app import app
from tasks.base import LedgerTask


@app.task(name="tasks.feeds.pull_all", base=LedgerTask)
def pull_all() -> dict[str, Any]:
    """Ingest the inbox's files, then pull every configured provider for every registered
    ticker (idempotent: records already stored are duplicates and change nothing)."""
    report: dict[str, Any] = {"inbox": ingest_inbox(session_factory=session_scope)}
    with session_scope() as session:
        report.update(pull_configured(session=session))
    if any(r.get("accepted") or r.get("amended") for r in _reports(report)):
        app.send_task("tasks.snapshots.take_due")  # a record date may have passed already
    return report


def _reports(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Every per-file and per-provider ingest report in the task's result."""
    files = list(report.get("inbox", {}).values())
    providers = [v for k, v in report.items() if k != "inbox"]
    return [r for r in files + providers if isinstance(r, dict)]

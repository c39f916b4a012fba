"""Feed tasks: thin wrappers around ``corpactions.feeds.pull``."""

from __future__ import annotations

from typing import Any

from corpactions.db import session_scope
from corpactions.errors import LedgerError
from corpactions.feeds.http import FeedUnavailable
from corpactions.feeds.pull import pull_configured
from tasks.app import app


@app.task(
    name="tasks.feeds.pull_all",
    acks_late=True,
    autoretry_for=(FeedUnavailable, LedgerError),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=5,
)
def pull_all() -> dict[str, Any]:
    """Pull every configured source for every registered ticker (idempotent: records already
    stored are duplicates and change nothing)."""
    with session_scope() as session:
        return pull_configured(session=session)

"""Proof-of-backing tasks: thin wrappers around ``corpactions.reserves``."""

from __future__ import annotations

import asyncio
from typing import Any

from corpactions.db import session_scope
from corpactions.reserves.backing import check_all
from corpactions.reserves.publish import publish_pending
from tasks.app import app
from tasks.base import LedgerTask


@app.task(name="tasks.reserves.check_all", base=LedgerTask)
def check_all_instruments() -> dict[str, Any]:
    """Check every reported instrument's supply against custody, then publish the results
    (monthly by beat; a check already made at the same statement and slot is not repeated)."""
    report = check_all(session_factory=session_scope, trigger="scheduled")
    return report | asyncio.run(publish_pending(session_factory=session_scope))


@app.task(name="tasks.reserves.publish", base=LedgerTask)
def publish() -> dict[str, Any]:
    """Publish every check not yet on chain (record-date checks included); resumes attempts."""
    return asyncio.run(publish_pending(session_factory=session_scope))

"""Meeting tasks: thin wrappers around ``corpactions.meetings``."""

from __future__ import annotations

import asyncio
from typing import Any

from corpactions.db import session_scope
from corpactions.meetings.attest import close_and_attest, meetings_to_close
from tasks.app import app
from tasks.base import LedgerTask


@app.task(name="tasks.meetings.close_due", base=LedgerTask)
def close_due() -> dict[str, Any]:
    """Close, publish and attest every meeting past its vote deadline (idempotent)."""
    with session_scope() as session:
        due = meetings_to_close(session)
    closed = {}
    for meeting_id in due:
        result = asyncio.run(close_and_attest(meeting_id, session_factory=session_scope))
        closed[str(meeting_id)] = result.attestation_signature
    return {"closed": closed}

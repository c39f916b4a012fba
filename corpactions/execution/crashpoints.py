"""Deliberate process death at named points of the payout protocol, for the crash tests.

Off unless ``CORPACTIONS_CRASH_AT`` names a point; ``CORPACTIONS_CRASH_SKIP=N`` lets the point
pass N times first. The process is killed with SIGKILL: no cleanup, no flush, exactly what a
power cut or an OOM kill does.
"""

from __future__ import annotations

import os
import signal

POINTS = ("after_sign", "after_persist", "after_send", "after_confirm")
MEMO_POINTS = ("memo_after_record", "memo_after_send")
"""The attestation memo's points: its attempt recorded but not sent; sent but not confirmed."""
TABLE_POINTS = (
    "table_after_sign",
    "table_after_persist",
    "table_after_send",
    "table_after_confirm",
)
"""A lookup table write's points (create, extend, deactivate, close): signed but not recorded;
recorded but not sent; sent but not confirmed; finalized but its effect not yet in the ledger."""
_seen: dict[str, int] = {}


def crash_point(name: str) -> None:
    if os.environ.get("CORPACTIONS_CRASH_AT") != name:
        return
    _seen[name] = _seen.get(name, 0) + 1
    if _seen[name] > int(os.environ.get("CORPACTIONS_CRASH_SKIP", "0")):
        os.kill(os.getpid(), signal.SIGKILL)

"""Real Celery processes for the tests: workers and beat, started through the project's CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from tests.conftest import REDIS_URL

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")
FAST = {
    "broker_url": REDIS_URL,
    "schedule_feeds_seconds": "1",
    "schedule_snapshots_seconds": "1",
    "schedule_payouts_seconds": "1",
    "schedule_confirm_seconds": "1",
    "schedule_reconcile_seconds": "2",
    "lock_ttl_seconds": "5",
    "log_json": "1",
}
"""Settings (``CORPACTIONS_`` + upper case) that make the beat schedule run every second."""


class CeleryProcess:
    """``corpactions worker`` or ``corpactions beat`` as a child process, its log in a file."""

    def __init__(self, log: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.log = log
        self._out = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "corpactions.cli", *args],
            cwd=ROOT,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL the whole process group: no cleanup, exactly a power cut."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._out.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._out.close()

    def tail(self, lines: int = 40) -> str:
        self._out.flush()
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def worker(
    log: Path, name: str, *extra: str, env: dict[str, str] | None = None, pool: str = "solo"
) -> CeleryProcess:
    return CeleryProcess(
        log, "worker", "--pool", pool, "--name", f"{name}@%h", "-l", "INFO", *extra, env=env
    )


def beat(log: Path, schedule: Path, *, env: dict[str, str] | None = None) -> CeleryProcess:
    return CeleryProcess(log, "beat", "--schedule", str(schedule), "-l", "INFO", env=env)


def wait_for(
    probe: Callable[[], T | None],
    what: str,
    *,
    timeout: float = 90,
    every: float = 0.25,
    processes: tuple[CeleryProcess, ...] = (),
) -> T:
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` with the logs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(every)
    logs = "\n\n".join(f"--- {p.log.name}\n{p.tail()}" for p in processes)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{logs}")

"""``corpactions worker`` and ``corpactions beat``: start Celery with the project's app.

They are the documented ``celery -A tasks.app worker|beat`` commands with the project's queues
and defaults, after checking what a worker needs (a current ledger schema, a reachable broker)
so that a mistake is one readable line rather than a retry loop in a log.

``worker`` supervises its Celery process: Celery reconnects by itself after a broker or ledger
outage, and should it still exit unexpectedly (an "Unrecoverable error", a crash, the OOM
killer), it is started again after a short pause, so batches left ``sent`` are confirmed without
anyone restarting it. A stop (SIGTERM, SIGINT, SIGQUIT, or Celery exiting 0) ends both.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from enum import StrEnum
from pathlib import Path

import typer

from corpactions import db
from corpactions.config import get_settings
from corpactions.errors import ConfigurationError, UserInputError
from corpactions.logs import get_logger

log = get_logger(__name__)
QUEUES = ("feeds", "snapshots", "payouts", "confirm")
STEADY_SECONDS = 30.0
"""A Celery process that ran this long before exiting was working: restart it at once."""
MAX_QUICK_EXITS = 5
"""Quick exits in a row (a configuration Celery refuses, say) after which supervision gives up."""


class Pool(StrEnum):
    prefork = "prefork"
    threads = "threads"
    solo = "solo"


def _check_broker() -> None:
    import redis

    url = get_settings().broker_url
    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        raise ConfigurationError(
            f"cannot reach the broker at {url}: {exc}",
            hint="start Redis or set CORPACTIONS_BROKER_URL",
        ) from exc


def _celery_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "tasks.app", *args]


def _celery(*args: str) -> None:
    """Replace this process with Celery (signals then reach Celery directly)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, _celery_argv(*args))  # noqa: S606 - a fixed argv, no shell


def _supervise(*args: str) -> int:
    """Run Celery as a child and start it again whenever it exits without being asked to.

    The child stays in this process group, so a signal to the group (Ctrl-C, a service
    manager's stop, a kill of the group) reaches both. A stop signal sent to this process alone
    is passed on as a warm shutdown (SIGTERM; SIGQUIT stays a cold one) and ends supervision;
    SIGHUP is left to Celery. Returns the exit status of the last Celery process (128 + N when a
    signal N ended it).
    """
    stopping: list[int] = []
    child: subprocess.Popen[bytes] | None = None

    def on_stop(signum: int, _frame: object) -> None:
        stopping.append(signum)
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGQUIT if signum == signal.SIGQUIT else signal.SIGTERM)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        signal.signal(signum, on_stop)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    quick_exits = 0
    while True:
        started = time.monotonic()
        child = subprocess.Popen(_celery_argv(*args))
        if stopping:  # the stop came while it was starting
            child.terminate()
        log.info("celery started", pid=child.pid)
        returncode = child.wait()
        code = 128 - returncode if returncode < 0 else returncode  # killed by a signal: as a shell
        if stopping or code == 0:
            return code
        quick_exits = quick_exits + 1 if time.monotonic() - started < STEADY_SECONDS else 0
        if quick_exits >= MAX_QUICK_EXITS:
            log.error("celery keeps exiting at once; not restarting it", exit_code=code)
            return code
        pause = float(2 ** (quick_exits - 1)) if quick_exits else 1.0
        log.error("celery exited unexpectedly; restarting it", exit_code=code, in_seconds=pause)
        deadline = time.monotonic() + pause
        while time.monotonic() < deadline and not stopping:
            time.sleep(0.1)
        if stopping:
            return code


def worker(
    queues: str = typer.Option(
        ",".join(QUEUES), "--queues", "-Q", help="Comma-separated queues to consume."
    ),
    concurrency: int = typer.Option(2, "--concurrency", "-c", min=1, help="Worker processes."),
    pool: Pool = typer.Option(
        Pool.prefork,
        "--pool",
        "-P",
        help="prefork (default), threads, or solo (one task at a time in the main process).",
    ),
    name: str | None = typer.Option(
        None, "--name", "-n", help="Worker node name (default: celery@hostname)."
    ),
    loglevel: str = typer.Option("INFO", "--loglevel", "-l", help="DEBUG, INFO, WARNING."),
    supervise: bool = typer.Option(
        True,
        "--supervise/--no-supervise",
        help="Start Celery again if it exits unexpectedly (default); --no-supervise replaces "
        "this process with Celery, for a service manager that restarts it itself.",
    ),
) -> None:
    """Start a Celery worker on this machine (any number, on any machines, share one Redis
    and one PostgreSQL)."""
    chosen = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = sorted(set(chosen) - set(QUEUES))
    if not chosen or unknown:
        raise UserInputError(
            f"unknown queue(s) {', '.join(unknown) or '(none given)'}",
            hint=f"choose from {', '.join(QUEUES)}",
        )
    db.require_current_schema()
    _check_broker()
    args = ["worker", "-Q", ",".join(chosen), "-P", pool.value, "-l", loglevel]
    if pool != Pool.solo:
        args += ["-c", str(concurrency)]
    if name:
        args += ["-n", name]
    if not supervise:
        _celery(*args)
    raise typer.Exit(_supervise(*args))


def beat(
    schedule: Path | None = typer.Option(
        None, "--schedule", help="Beat's state file (default: data_dir/celerybeat-schedule)."
    ),
    loglevel: str = typer.Option("INFO", "--loglevel", "-l", help="DEBUG, INFO, WARNING."),
) -> None:
    """Start the scheduler: exactly one per deployment (it only enqueues scans)."""
    db.require_current_schema()
    _check_broker()
    state = schedule or get_settings().ensure_data_dir() / "celerybeat-schedule"
    _celery("beat", "-s", str(state), "-l", loglevel)

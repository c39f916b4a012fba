"""``corpactions worker`` and ``corpactions beat``: start Celery with the project's app.

They are the documented ``celery -A tasks.app worker|beat`` commands with the project's queues
and defaults, after checking what a worker needs (a current ledger schema, a reachable broker)
so that a mistake is one readable line rather than a retry loop in a log.
"""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path

import typer

from corpactions import db
from corpactions.config import get_settings
from corpactions.errors import ConfigurationError, UserInputError

QUEUES = ("feeds", "snapshots", "payouts", "confirm")


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


def _celery(*args: str) -> None:
    """Replace this process with Celery (signals then reach Celery directly)."""
    argv = [sys.executable, "-m", "celery", "-A", "tasks.app", *args]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, argv)  # noqa: S606 - a fixed argv, no shell


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
    _celery(*args)


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

"""The Celery application. Configuration lives in ``celeryconfig.py``; tasks in this package."""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import worker_process_init

from corpactions.db import dispose_engines
from corpactions.logs import configure_logging

configure_logging()

app = Celery(
    "corpactions",
    include=[
        "tasks.feeds",
        "tasks.snapshots",
        "tasks.payouts",
        "tasks.adjustments",
        "tasks.confirm",
        "tasks.meetings",
        "tasks.reserves",
        "tasks.notify",
    ],
)
app.config_from_object("celeryconfig")


@worker_process_init.connect
def _fresh_connections(**_: Any) -> None:
    """A forked pool process must not share the parent's database connections."""
    dispose_engines(close=False)

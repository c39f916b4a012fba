"""The Celery application. Configuration lives in ``celeryconfig.py``; tasks in this package."""

from __future__ import annotations

from celery import Celery

app = Celery("corpactions", include=["tasks.feeds", "tasks.snapshots"])
app.config_from_object("celeryconfig")

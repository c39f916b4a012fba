"""Celery configuration: broker from settings, JSON only, at-least-once delivery made safe.

Routes, retries and the beat schedule grow with the tasks (see ``tasks/``).
"""

from __future__ import annotations

from corpactions.config import get_settings

_settings = get_settings()

broker_url = _settings.broker_url
result_backend = _settings.broker_url
task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
result_expires = 24 * 3600
broker_transport_options = {"visibility_timeout": 2 * 3600}
timezone = "UTC"
enable_utc = True
task_routes = {
    "tasks.feeds.*": {"queue": "feeds"},
    "tasks.snapshots.*": {"queue": "snapshots"},
    "tasks.payouts.*": {"queue": "payouts"},
    "tasks.confirm.*": {"queue": "confirm"},
}

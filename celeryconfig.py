"""Celery configuration: broker from settings, JSON only, at-least-once delivery made safe.

Every task acknowledges late (after it ran), one message per worker process at a time, and is
idempotent; a message redelivered after a crash repeats nothing that was done. The beat
schedule only starts *scans* that pick up work by ledger state, so a lost message heals at the
next scan. Intervals are settings (``CORPACTIONS_SCHEDULE_*_SECONDS``).
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from celery.schedules import crontab

from corpactions.config import get_settings

_settings = get_settings()

broker_url = _settings.broker_url
# kombu's Redis transport with the fix that keeps a worker alive when Redis goes away while tasks
# run (see tasks/transport.py); the URL stays redis://... and the result backend is unchanged.
if urlsplit(broker_url).scheme in ("redis", "rediss"):
    broker_transport = "tasks.transport:Transport"
result_backend = _settings.broker_url
task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
worker_hijack_root_logger = False
result_expires = 24 * 3600
# Above any countdown or retry backoff the tasks use (at most minutes): an unacknowledged
# message is redelivered only after this long, and the scans heal much sooner.
broker_transport_options = {"visibility_timeout": 2 * 3600}
result_backend_transport_options = {"visibility_timeout": 2 * 3600}
task_time_limit = _settings.task_time_limit_seconds
task_soft_time_limit = _settings.task_time_limit_seconds * 9 // 10
timezone = "UTC"
enable_utc = True
broker_connection_retry_on_startup = True

task_routes = {
    "tasks.feeds.*": {"queue": "feeds"},
    "tasks.snapshots.*": {"queue": "snapshots"},
    "tasks.payouts.*": {"queue": "payouts"},
    "tasks.adjustments.*": {"queue": "payouts"},  # signs with the payout authority
    "tasks.confirm.*": {"queue": "confirm"},
    "tasks.meetings.*": {"queue": "payouts"},  # attesting signs with the payout authority
    "tasks.reserves.*": {"queue": "payouts"},  # the backing memo signs with the authority
    "tasks.notify.*": {"queue": "feeds"},  # outbound HTTP, no key
}
QUEUES = ("feeds", "snapshots", "payouts", "confirm")


def _every(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


beat_schedule = {
    "pull-feeds": {
        "task": "tasks.feeds.pull_all",
        "schedule": _every(_settings.schedule_feeds_seconds),
    },
    "take-due-snapshots": {
        "task": "tasks.snapshots.take_due",
        "schedule": _every(_settings.schedule_snapshots_seconds),
    },
    "compute-due-plans": {
        "task": "tasks.payouts.compute_due",
        "schedule": _every(_settings.schedule_snapshots_seconds),
    },
    "dispatch-approved-plans": {
        "task": "tasks.payouts.dispatch",
        "schedule": _every(_settings.schedule_payouts_seconds),
    },
    "dispatch-approved-multiplier-plans": {
        "task": "tasks.adjustments.dispatch",
        "schedule": _every(_settings.schedule_payouts_seconds),
    },
    "confirm-in-flight": {
        "task": "tasks.confirm.in_flight",
        "schedule": _every(_settings.schedule_confirm_seconds),
    },
    "close-due-meetings": {
        "task": "tasks.meetings.close_due",
        "schedule": _every(_settings.schedule_snapshots_seconds),
    },
    "deliver-webhooks": {
        "task": "tasks.notify.dispatch",
        "schedule": _every(_settings.schedule_webhooks_seconds),
    },
    "reconcile-and-release": {
        "task": "tasks.payouts.reconcile",
        "schedule": _every(_settings.schedule_reconcile_seconds),
    },
    "check-backing-monthly": {
        "task": "tasks.reserves.check_all",
        "schedule": crontab(minute="0", hour="6", day_of_month=str(_settings.schedule_backing_day)),
    },
    "publish-backing-checks": {
        "task": "tasks.reserves.publish",
        "schedule": _every(_settings.schedule_reconcile_seconds),
    },
    "retire-idle-lookup-tables": {
        "task": "tasks.payouts.retire_tables",
        "schedule": _every(_settings.schedule_reconcile_seconds),
    },
}

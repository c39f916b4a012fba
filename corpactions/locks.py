"""Cluster-wide mutual exclusion over Redis (the broker): one worker per batch, one per plan.

The ledger's compare-and-set transitions already make racing executors safe; these locks keep
them from doing the same work twice at the same moment. A lock expires by itself (settings'
``lock_ttl_seconds``) so a killed worker never blocks the others for long.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import redis
from redis.exceptions import LockError, RedisError

from corpactions.config import Settings, get_settings
from corpactions.errors import ConfigurationError
from corpactions.logs import get_logger

log = get_logger(__name__)
PREFIX = "corpactions:lock:"


@lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


class Exclusive:
    """A held lock; ``extend()`` pushes its expiry out again during long work."""

    def __init__(self, lock: redis.lock.Lock, ttl: int) -> None:
        self._lock = lock
        self._ttl = ttl

    def extend(self) -> None:
        try:
            self._lock.reacquire()
        except LockError:
            log.warning("lock expired while held; the ledger's checks still guard the work")


@contextmanager
def exclusive(name: str, settings: Settings | None = None) -> Iterator[Exclusive | None]:
    """Yield the held lock ``name``, or None when another worker holds it (never waits)."""
    settings = settings or get_settings()
    ttl = settings.lock_ttl_seconds
    try:
        lock = _client(settings.broker_url).lock(PREFIX + name, timeout=ttl, blocking=False)
        acquired = lock.acquire()
    except RedisError as exc:
        raise ConfigurationError(
            f"cannot reach Redis at {settings.broker_url} for lock {name}: {exc}",
            hint="start Redis or fix CORPACTIONS_BROKER_URL",
        ) from exc
    if not acquired:
        yield None
        return
    try:
        yield Exclusive(lock, ttl)
    finally:
        try:
            lock.release()
        except LockError:
            log.warning("lock expired before release", lock=name)


def claim(name: str, settings: Settings | None = None) -> bool:
    """Mark ``name`` as owned by a chain of tasks (spanning several tasks, unlike
    ``exclusive``); False when another chain owns it. Expires after ``lock_ttl_seconds``."""
    settings = settings or get_settings()
    try:
        return bool(
            _client(settings.broker_url).set(
                PREFIX + name, "1", nx=True, ex=settings.lock_ttl_seconds
            )
        )
    except RedisError as exc:
        raise ConfigurationError(
            f"cannot reach Redis at {settings.broker_url} for claim {name}: {exc}",
            hint="start Redis or fix CORPACTIONS_BROKER_URL",
        ) from exc


def renew(name: str, settings: Settings | None = None) -> None:
    """Push a claim's expiry out again (the chain is still alive)."""
    settings = settings or get_settings()
    _client(settings.broker_url).set(PREFIX + name, "1", ex=settings.lock_ttl_seconds)


def release(name: str, settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    _client(settings.broker_url).delete(PREFIX + name)

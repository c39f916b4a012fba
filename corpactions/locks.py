"""Cluster-wide mutual exclusion over Redis (the broker): one worker per batch, one per plan.

The ledger's compare-and-set transitions already make racing executors safe; these locks keep
them from doing the same work twice at the same moment. A lock expires by itself (settings'
``lock_ttl_seconds``) so a killed worker never blocks the others for long.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import lru_cache

import redis
from redis.exceptions import LockError, RedisError, WatchError

from corpactions.config import Settings, get_settings
from corpactions.errors import ConfigurationError
from corpactions.logs import get_logger

log = get_logger(__name__)
PREFIX = "corpactions:lock:"
WORKER_CHAIN = "1"  # the value a worker chain's claim holds


def plan_chain(plan_id: int) -> str:
    """The claim that keeps one executor (a worker chain or the CLI) per plan."""
    return f"chain:plan:{plan_id}"


@lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=5)


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


def claim(name: str, settings: Settings | None = None, *, owner: str = WORKER_CHAIN) -> bool:
    """Mark ``name`` as owned by a chain of tasks (spanning several tasks, unlike
    ``exclusive``); False when another chain owns it. Expires after ``lock_ttl_seconds``."""
    settings = settings or get_settings()
    try:
        return bool(
            _client(settings.broker_url).set(
                PREFIX + name, owner, nx=True, ex=settings.lock_ttl_seconds
            )
        )
    except RedisError as exc:
        raise ConfigurationError(
            f"cannot reach Redis at {settings.broker_url} for claim {name}: {exc}",
            hint="start Redis or fix CORPACTIONS_BROKER_URL",
        ) from exc


def renew(name: str, settings: Settings | None = None, *, owner: str = WORKER_CHAIN) -> None:
    """Push a claim's expiry out again (the chain is still alive)."""
    settings = settings or get_settings()
    _client(settings.broker_url).set(PREFIX + name, owner, ex=settings.lock_ttl_seconds)


def release(name: str, settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    _client(settings.broker_url).delete(PREFIX + name)


def holder(name: str, settings: Settings | None = None) -> str | None:
    """Who holds the claim: ``"1"`` for a worker chain, ``cli:HOST:PID`` for a command."""
    settings = settings or get_settings()
    value = _client(settings.broker_url).get(PREFIX + name)
    return value.decode() if isinstance(value, bytes) else None


def _dead_local_command(value: str | None) -> bool:
    """The claim was taken by a command on this host that is no longer running."""
    if value is None or not value.startswith(f"cli:{socket.gethostname()}:"):
        return False
    try:
        os.kill(int(value.rsplit(":", 1)[1]), 0)
    except ProcessLookupError:
        return True
    except (ValueError, PermissionError):
        return False
    return False


def _take_over(name: str, owner: str, settings: Settings) -> bool:
    """Take the claim from a command on this host that died holding it (killed terminal)."""
    key = PREFIX + name
    with _client(settings.broker_url).pipeline() as pipe:
        try:
            pipe.watch(key)  # type: ignore[no-untyped-call]
            value = pipe.get(key)
            if not _dead_local_command(value.decode() if isinstance(value, bytes) else None):
                return False
            pipe.multi()
            pipe.set(key, owner, ex=settings.lock_ttl_seconds)
            pipe.execute()
        except WatchError:
            return False
    log.info("claim taken over from a command that died holding it", claim=name)
    return True


@contextmanager
def held_by_command(name: str, settings: Settings | None = None) -> Iterator[bool]:
    """Hold claim ``name`` for a command's whole run (renewed in the background, released at
    the end); yields False when a worker chain or another live command holds it. A claim left
    by a command on this host that was killed is taken over at once; one from elsewhere
    expires after ``lock_ttl_seconds``."""
    settings = settings or get_settings()
    owner = f"cli:{socket.gethostname()}:{os.getpid()}"
    if not (claim(name, settings, owner=owner) or _take_over(name, owner, settings)):
        yield False
        return
    stop = threading.Event()

    def keep_alive() -> None:
        while not stop.wait(max(1.0, settings.lock_ttl_seconds / 3)):
            try:
                renew(name, settings, owner=owner)
            except RedisError as exc:
                log.warning("could not renew the claim", claim=name, error=str(exc))

    thread = threading.Thread(target=keep_alive, name=f"claim {name}", daemon=True)
    thread.start()
    try:
        yield True
    finally:
        stop.set()
        thread.join()
        with suppress(RedisError):
            release(name, settings)

"""kombu's Redis transport with one fix: a worker survives the broker going away mid-task.

The failure (kombu 5.7.0, celery 5.7.0, the newest releases): Redis stops while tasks run.
Tasks acknowledge late, so the consumer's channel holds unacknowledged messages and has a BRPOP
in flight. Celery's consumer then calls ``Connection.collect()`` and ``Connection.close()``:

1. ``collect`` closes the channels. The consumer's channel fails first in ``_brpop_read``, before
   it is marked closed; ``maybe_close_channel`` swallows that connection error. The transport's
   ``close_connection`` stops at the next channel whose close raises, so the consumer's channel
   is never closed again, and ``collect`` detaches the transport (``transport.client = None``).
2. ``close`` closes the consumer's channel a second time. It now restores its unacknowledged
   messages, which builds a Redis pool from ``self.connection.client.hostname``: an
   ``AttributeError`` on ``None``. That is neither a connection nor a channel error, so it
   escapes ``ignore_errors`` and Celery's reconnect loop, and the worker exits with
   ``Unrecoverable error: AttributeError("'NoneType' object has no attribute 'hostname'")``.

Here a channel whose transport is detached raises redis' ``ConnectionError`` instead: Celery
ignores that during the clean-up and reconnects. The messages that were not restored stay in
Redis' unacked set (restored after ``visibility_timeout``) or, if Redis lost them, are found
again by the beat scans; tasks are idempotent either way.

Used through ``broker_transport`` in ``celeryconfig``: broker URLs stay ``redis://...``.
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        transport = self.connection
        if transport is None or transport.client is None:
            raise RedisConnectionError("the broker connection is closed")
        params: dict[str, Any] = super()._connparams(asynchronous)  # type: ignore[no-untyped-call]
        return params


class Transport(kombu_redis.Transport):
    Channel = Channel

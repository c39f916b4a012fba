"""Webhook tasks: thin wrappers around ``corpactions.notify``.

``deliver`` POSTs one delivery and retries with exponential backoff (and jitter) while the
receiver is down or refuses, then records the delivery as failed; ``dispatch`` (beat) enqueues
every pending delivery, so a lost message or a worker killed mid-delivery only delays it.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from corpactions.config import get_settings
from corpactions.db import session_scope
from corpactions.errors import CorpactionsError, LedgerError, WebhookUnavailable
from corpactions.notify import claim_due_deliveries, give_up
from corpactions.notify import deliver as deliver_once
from tasks.app import app
from tasks.base import LedgerTask


class WebhookTask(LedgerTask):
    autoretry_for = (WebhookUnavailable, LedgerError)
    retry_backoff = 2
    retry_backoff_max = 600
    max_retries = 10

    def on_failure(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        super().on_failure(exc, task_id, args, kwargs, einfo)
        reason = exc.one_line() if isinstance(exc, CorpactionsError) else repr(exc)
        if args:
            with suppress(CorpactionsError):  # the ledger is down: the failure log tells it
                give_up(int(args[0]), reason, session_factory=session_scope)


@app.task(name="tasks.notify.deliver", base=WebhookTask)
def deliver(delivery_id: int) -> dict[str, Any]:
    return deliver_once(delivery_id, session_factory=session_scope, settings=get_settings())


@app.task(name="tasks.notify.dispatch", base=LedgerTask)
def dispatch() -> dict[str, Any]:
    """Enqueue new deliveries, and pending ones whose retries went quiet (a lost task)."""
    with session_scope() as session:
        pending = claim_due_deliveries(session)
    for delivery_id in pending:
        deliver.delay(delivery_id)
    return {"enqueued": pending}

"""What every task shares: retries on transient errors only, and a recorded final failure.

A task retries (with exponential backoff and jitter, up to ``max_retries``) exactly on the
project's transient errors: RPC trouble, a feed provider down, the ledger unreachable. The
retries span minutes (waits of up to 1, 2, 4 ... 256, 300, 300, 300 seconds, each drawn at random
below its bound: about 12 minutes in all on average, at most 23.5, and practically never under a
minute), so a ledger or RPC outage of that order is waited out by the task itself. Anything else, or
retries exhausted, ends the task: the failure is written to the ledger's
``taskfailure`` table, where ``corpactions status`` shows it to an operator. Nothing loops.
"""

from __future__ import annotations

from typing import Any

from celery import Task

from corpactions.db import session_scope
from corpactions.errors import CorpactionsError, LedgerError, TransientRpcError
from corpactions.feeds.http import FeedUnavailable
from corpactions.logs import get_logger
from corpactions.models import TaskFailure
from corpactions.notify import notify

log = get_logger(__name__)
TRANSIENT = (TransientRpcError, FeedUnavailable, LedgerError)


class LedgerTask(Task):  # type: ignore[misc]
    """Base class of the project's tasks (``@app.task(base=LedgerTask)``)."""

    acks_late = True
    autoretry_for: tuple[type[Exception], ...] = TRANSIENT
    retry_backoff: bool | int = True
    retry_backoff_max = 300
    retry_jitter = True
    max_retries = 12

    def on_failure(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        message = exc.one_line() if isinstance(exc, CorpactionsError) else repr(exc)
        log.error("task failed for good", task=self.name, task_id=task_id, error=message)
        try:
            with session_scope() as session:
                session.add(
                    TaskFailure(
                        task_name=self.name,
                        task_id=task_id,
                        arguments={"args": list(args or ()), "kwargs": dict(kwargs or {})},
                        error_type=type(exc).__name__,
                        error=message[:4000],
                        retries=int(self.request.retries or 0),
                    )
                )
                if not self.name.startswith("tasks.notify."):  # no webhook about webhooks
                    notify(
                        session,
                        "task.failed",
                        {"task": self.name, "task_id": task_id, "error": message[:4000]},
                    )
        except CorpactionsError as ledger_down:  # the log line above still tells the story
            log.exception("task failure not recorded", task=self.name, error=str(ledger_down))

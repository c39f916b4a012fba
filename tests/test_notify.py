"""Event webhooks: recorded with the change they announce, POSTed signed (HMAC-SHA256) to a
real local receiver, retried with backoff by a real Celery worker, each delivery recorded."""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
from sqlmodel import select

from corpactions import db
from corpactions.config import get_settings
from corpactions.errors import ConfigurationError, WebhookUnavailable
from corpactions.execution.protocol import execute_plan
from corpactions.models import WebhookDelivery
from corpactions.notify import deliver, notify
from tasks.app import app
from tests.celerykit import FAST, CeleryProcess, wait_for, worker
from tests.payflow import prepare

SECRET = "receiver-shared-secret"


class Receiver:
    """A local HTTP receiver: answers each POST with the next status of ``answers`` (then 200)
    and keeps what it received."""

    def __init__(self, answers: list[int] | None = None) -> None:
        self.answers = list(answers or [])
        self.received: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                outer.received.append((dict(self.headers.items()), body))
                status = outer.answers.pop(0) if outer.answers else 200
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    got = Receiver()
    yield got
    got.close()


def _configure(monkeypatch: pytest.MonkeyPatch, url: str, *, secret: str | None = SECRET) -> None:
    monkeypatch.setenv("CORPACTIONS_WEBHOOK_URLS", orjson.dumps([url]).decode())
    if secret is not None:
        monkeypatch.setenv("CORPACTIONS_WEBHOOK_SECRET", secret)
    get_settings.cache_clear()


def _recorded(event: str = "task.failed", **data: Any) -> int:
    with db.session_scope() as session:
        [delivery] = notify(session, event, data or {"task": "t", "error": "boom"})
        session.flush()
        return delivery.id or 0


def _delivery(delivery_id: int) -> WebhookDelivery:
    with db.session_scope() as session:
        stored = session.get(WebhookDelivery, delivery_id)
        assert stored is not None
        return stored


def test_a_delivery_is_posted_as_signed_json_and_recorded(
    pg_ledger: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    _configure(monkeypatch, receiver.url)
    delivery_id = _recorded("plan.attested", plan_id=7, paid="123")
    assert deliver(delivery_id, session_factory=db.session_scope)["status"] == "delivered"
    [(headers, body)] = receiver.received
    expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()  # independently
    assert headers["X-Corpactions-Signature"] == f"sha256={expected}"
    assert headers["X-Corpactions-Event"] == "plan.attested"
    payload = orjson.loads(body)
    assert payload["event"] == "plan.attested"
    assert payload["delivery_id"] == delivery_id
    assert payload["data"] == {"plan_id": 7, "paid": "123"}
    stored = _delivery(delivery_id)
    assert (stored.status, stored.attempts, stored.last_status_code) == ("delivered", 1, 200)
    deliver(delivery_id, session_factory=db.session_scope)  # delivered: not sent again
    assert len(receiver.received) == 1


def test_a_refused_delivery_is_recorded_and_raised_for_a_retry(
    pg_ledger: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    refusing = Receiver([503])
    try:
        _configure(monkeypatch, refusing.url)
        delivery_id = _recorded()
        with pytest.raises(WebhookUnavailable, match="the receiver answered HTTP 503"):
            deliver(delivery_id, session_factory=db.session_scope)
        stored = _delivery(delivery_id)
        assert (stored.status, stored.attempts, stored.last_status_code) == ("pending", 1, 503)
    finally:
        refusing.close()


def test_nothing_unsigned_is_sent(
    pg_ledger: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    _configure(monkeypatch, receiver.url, secret=None)
    delivery_id = _recorded()
    with pytest.raises(ConfigurationError, match="CORPACTIONS_WEBHOOK_SECRET"):
        deliver(delivery_id, session_factory=db.session_scope)
    assert receiver.received == []


def test_without_receivers_no_delivery_is_recorded(pg_ledger: str) -> None:
    with db.session_scope() as session:
        assert notify(session, "task.failed", {"task": "t"}) == []


def test_computing_and_attesting_a_plan_record_their_events(
    pg_ledger: str,
    localnet_url: str,
    tmp_path: Path,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _configure(monkeypatch, receiver.url)
    flow = prepare(monkeypatch, localnet_url, tmp_path / "keys", holders=4)
    execute_plan(flow.plan_id, session_factory=db.session_scope)
    with db.session_scope() as session:
        events = [
            (d.event, d.payload.get("plan_id"))
            for d in session.exec(select(WebhookDelivery).order_by(WebhookDelivery.id))
        ]
    assert events == [
        ("plan.ready_for_approval", flow.plan_id),
        ("plan.attested", flow.plan_id),
    ]


def test_a_worker_retries_a_refused_delivery_with_backoff_until_it_lands(
    pg_ledger: str,
    redis_client: redis.Redis,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    flaky = Receiver([500, 502])
    started: list[CeleryProcess] = []
    try:
        for key, value in FAST.items():
            monkeypatch.setenv(f"CORPACTIONS_{key.upper()}", value)
        _configure(monkeypatch, flaky.url)
        delivery_id = _recorded()
        started.append(worker(tmp_path / "worker.log", "hooks", "-Q", "feeds"))
        app.send_task("tasks.notify.deliver", args=[delivery_id], queue="feeds")

        def delivered() -> WebhookDelivery | None:
            stored = _delivery(delivery_id)
            return stored if stored.status == "delivered" else None

        stored = wait_for(delivered, "the webhook to land", processes=tuple(started))
        assert stored.attempts == 3  # refused twice (500, 502), then delivered
        assert [orjson.loads(body)["delivery_id"] for _, body in flaky.received] == [
            delivery_id
        ] * 3
    finally:
        for process in started:
            process.stop()
        flaky.close()

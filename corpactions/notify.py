"""Event webhooks: an outbox in the ledger, POSTed signed to every configured receiver.

``notify`` writes one ``WebhookDelivery`` per receiver (``CORPACTIONS_WEBHOOK_URLS``) in the
caller's transaction, so an event is announced exactly when its change is committed, and never
for a change rolled back. ``deliver`` POSTs one delivery: a JSON body ``{"event", "delivery_id",
"created_at", "data"}`` with ``X-Corpactions-Event``, ``X-Corpactions-Delivery`` and
``X-Corpactions-Signature: sha256=<hex HMAC-SHA256 of the body with CORPACTIONS_WEBHOOK_SECRET>``;
a 2xx answer marks it delivered, anything else is recorded on the row (attempts, status code,
error) and raised as ``WebhookUnavailable`` for the Celery task to retry with backoff; a
receiver that never answers ends ``failed``. Receivers should treat ``delivery_id`` as the
idempotency key: a delivery may arrive more than once, never zero times while retries last.

Events: ``plan.ready_for_approval``, ``plan.attested``, ``plan.discrepancy``, ``plan.tampered``,
``meeting.closed``, ``action.needs_operator``, ``task.failed``, ``instrument.backing_failed``.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
from sqlmodel import Session, col, select

from corpactions.config import Settings, get_settings
from corpactions.db import SessionFactory
from corpactions.errors import ConfigurationError, NotFound, WebhookUnavailable
from corpactions.logs import get_logger
from corpactions.models import WebhookDelivery

log = get_logger(__name__)
SIGNATURE_HEADER = "X-Corpactions-Signature"
EVENTS = frozenset(
    {
        "plan.ready_for_approval",
        "plan.attested",
        "plan.discrepancy",
        "plan.tampered",
        "meeting.closed",
        "action.needs_operator",
        "task.failed",
        "instrument.backing_failed",
    }
)


def notify(
    session: Session, event: str, data: dict[str, Any], *, settings: Settings | None = None
) -> list[WebhookDelivery]:
    """Record ``event`` for every configured receiver, in the caller's transaction."""
    assert event in EVENTS, event
    settings = settings or get_settings()
    deliveries = [
        WebhookDelivery(event=event, url=url, payload=orjson.loads(orjson.dumps(data)))
        for url in settings.webhook_urls
    ]
    for delivery in deliveries:
        session.add(delivery)
    return deliveries


def signature(body: bytes, secret: str) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of the exact body bytes."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def body_of(delivery: WebhookDelivery) -> bytes:
    return orjson.dumps(
        {
            "event": delivery.event,
            "delivery_id": delivery.id,
            "created_at": delivery.created_at.isoformat(),
            "data": delivery.payload,
        },
        option=orjson.OPT_SORT_KEYS,
    )


def claim_due_deliveries(
    session: Session, *, lost_after_seconds: float = 1800, limit: int = 500
) -> list[int]:
    """Deliveries never tried, and pending ones whose retries went quiet for longer than any
    backoff wait (their task was lost): stamped as tried now (so the next scan leaves them to
    their task) and returned, to be enqueued."""
    now = datetime.now(UTC)
    quiet = now - timedelta(seconds=lost_after_seconds)
    due = list(
        session.exec(
            select(WebhookDelivery)
            .where(
                WebhookDelivery.status == "pending",
                col(WebhookDelivery.tried_at).is_(None) | (col(WebhookDelivery.tried_at) < quiet),
            )
            .order_by(col(WebhookDelivery.id))
            .limit(limit)
        )
    )
    for delivery in due:
        delivery.tried_at = now
        session.add(delivery)
    return [int(d.id or 0) for d in due]


def deliver(
    delivery_id: int, *, session_factory: SessionFactory, settings: Settings | None = None
) -> dict[str, Any]:
    """POST one delivery once (see the module's docstring); idempotent once delivered."""
    settings = settings or get_settings()
    if settings.webhook_secret is None:
        raise ConfigurationError(
            "webhooks are configured without CORPACTIONS_WEBHOOK_SECRET; nothing unsigned is sent",
            hint="set CORPACTIONS_WEBHOOK_SECRET (shared with the receivers)",
        )
    with session_factory() as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        if delivery is None:
            raise NotFound(f"no webhook delivery {delivery_id}")
        if delivery.status != "pending":
            return {"delivery": delivery_id, "status": delivery.status}
        body = body_of(delivery)
        url, event = delivery.url, delivery.event
    headers = {
        "Content-Type": "application/json",
        "X-Corpactions-Event": event,
        "X-Corpactions-Delivery": str(delivery_id),
        SIGNATURE_HEADER: signature(body, settings.webhook_secret.get_secret_value()),
    }
    code: int | None = None
    error: str | None = None
    try:
        response = httpx.post(
            url, content=body, headers=headers, timeout=settings.webhook_timeout_seconds
        )
        code = response.status_code
        if not 200 <= code < 300:
            error = f"the receiver answered HTTP {code}"
    except httpx.HTTPError as exc:
        error = f"the receiver did not answer: {type(exc).__name__}"
    with session_factory() as session:
        stored = session.get(WebhookDelivery, delivery_id)
        assert stored is not None
        stored.attempts += 1
        stored.tried_at = datetime.now(UTC)
        stored.last_status_code = code
        stored.last_error = error
        if error is None:
            stored.status = "delivered"
            stored.delivered_at = datetime.now(UTC)
        session.add(stored)
    if error is not None:
        log.warning("webhook not delivered", delivery=delivery_id, webhook=event, error=error)
        raise WebhookUnavailable(f"webhook {delivery_id} ({event}) to {url}: {error}")
    log.info("webhook delivered", delivery=delivery_id, webhook=event, status=code)
    return {"delivery": delivery_id, "status": "delivered", "http_status": code}


def give_up(delivery_id: int, reason: str, *, session_factory: SessionFactory) -> None:
    """Retries exhausted (or a permanent refusal): the delivery ends ``failed`` with why."""
    with session_factory() as session:
        stored = session.get(WebhookDelivery, delivery_id)
        if stored is not None and stored.status == "pending":
            stored.status = "failed"
            stored.last_error = reason[:4000]
            session.add(stored)

"""Ledger data made by the real pipeline on the localnet, and the API served over HTTP."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from sqlmodel import select

from corpactions import db
from corpactions.config import get_settings
from corpactions.execution.protocol import execute_plan
from corpactions.feeds.ingest import ingest
from corpactions.feeds.ownformat import parse_csv
from corpactions.models import CorporateAction, Instrument, PayoutLine
from corpactions.payouts.plan import compute_plan
from snapshots.take import take_snapshot
from tests.chainkit import free_port
from tests.conftest import truncate_all
from tests.feed_corpus import csv_rows, own
from tests.operatorkit import approve_payout
from tests.payflow import Flow, prepare
from tests.walletkit import set_wallet

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
"""Debian's Chromium, headless, driven through Playwright by the browser tests."""


@dataclass
class ApiData:
    paid: Flow
    """The attested Q4 dividend plan."""
    pending_plan: int
    """A second dividend (Q1), approved, not paid yet: every holder has two lines."""
    owners: list[str]
    blocked: str
    """A holder whose Q1 line is escrowed."""


def build_api_data(
    pg_url: str, localnet_url: str, tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> ApiData:
    truncate_all(pg_url)
    monkeypatch.setenv("CORPACTIONS_DATA_DIR", str(tmp / "data"))
    monkeypatch.setenv("CORPACTIONS_DATABASE_URL", pg_url)
    get_settings.cache_clear()
    flow = prepare(monkeypatch, localnet_url, tmp / "keys", holders=6, rate="0.2475")
    execute_plan(flow.plan_id, session_factory=db.session_scope)
    with db.session_scope() as session:
        owners = sorted(
            line.owner
            for line in session.exec(select(PayoutLine).where(PayoutLine.plan_id == flow.plan_id))
        )
    set_wallet(owners[0], blocked=True, reason="KYC review")
    with db.session_scope() as session:
        ingest(
            parse_csv(
                csv_rows(
                    own(
                        reference="ISSUER-2027-Q1",
                        ex_date="2027-02-10",  # T+1: the ex-date is the record date
                        record_date="2027-02-10",
                        pay_date="2027-02-13",
                        gross_rate="0.25",
                    )
                )
            ),
            session=session,
        )
        action = session.exec(
            select(CorporateAction).where(CorporateAction.source_ref == "ISSUER-2027-Q1")
        ).one()
        instrument = session.exec(select(Instrument)).one()
        take_snapshot(session=session, instrument=instrument, action=action)
        plan = compute_plan(session=session, action_id=action.id or 0, maker="maker").plan
        approve_payout(session, plan.id or 0, "checker")
        pending_plan = plan.id or 0
    return ApiData(flow, pending_plan, owners, owners[0])


@contextmanager
def served(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port in a thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the API server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)

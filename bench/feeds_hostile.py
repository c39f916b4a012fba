"""10,000 hostile records mixed with 10,000 good ones (the project's CSV format): every good
record is stored, every bad one quarantined with its reasons, and the mixed file takes at most
twice the time of the good records alone (issue 20). Runs on the embedded SQLite ledger and on
PostgreSQL when one is reachable.

    .venv/bin/python bench/feeds_hostile.py [--records 10000] [--pg postgresql://postgres@127.0.0.1/test]
"""

from __future__ import annotations

import argparse
import csv
import io
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import date, timedelta

import psycopg
from _common import machine
from sqlmodel import func, select

from corpactions import db
from corpactions.feeds.calendar import next_business_day
from corpactions.feeds.formats import FeedFormat, parse_payload
from corpactions.feeds.ingest import ingest
from corpactions.instruments import add_instrument
from corpactions.models import CorporateAction, QuarantinedRecord

SYMBOLS = [f"T{i:03d}" for i in range(50)]
HEADER = [
    "reference",
    "symbol",
    "kind",
    "status",
    "ex_date",
    "record_date",
    "pay_date",
    "currency",
    "gross_rate",
    "sequence",
]
HOSTILE: list[Callable[[int, dict[str, str]], dict[str, str]]] = [
    lambda i, r: {**r, "gross_rate": "1e308"},
    lambda i, r: {**r, "gross_rate": "1E+999999999"},
    lambda i, r: {**r, "gross_rate": "0.1234567890123456789"},
    lambda i, r: {**r, "reference": f"B{i}\x00"},
    lambda i, r: {**r, "symbol": "ZZZZ"},
    lambda i, r: {**r, "record_date": "2026-02-30", "gross_rate": "abc"},
    lambda i, r: {**r, "sequence": "9" * 60},
    lambda i, r: {**r, "ex_date": r["pay_date"]},  # a deferred ex-date for a regular dividend
    lambda i, r: {**r, "currency": "EUR", "gross_rate": "-1"},
    lambda i, r: {**r, "reference": f"B{i}", "kind": "no_such_kind"},
]


def _good(i: int, prefix: str) -> dict[str, str]:
    day = date(2020, 1, 6) + timedelta(days=7 * (i % 300))  # Mondays
    return {
        "reference": f"{prefix}{i}",
        "symbol": SYMBOLS[i % len(SYMBOLS)],
        "kind": "cash_dividend",
        "status": "COMP",
        "ex_date": str(day),
        "record_date": str(day),
        "pay_date": str(day + timedelta(days=3)),
        "currency": "USD",
        "gross_rate": f"0.{i % 97 + 1:02d}",
        "sequence": "",
    }


def make(records: int, hostile: bool) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=HEADER)
    writer.writeheader()
    for i in range(records):
        writer.writerow(_good(i, "G"))
        if hostile:
            writer.writerow(HOSTILE[i % len(HOSTILE)](i, _good(i, "B")))
    return buffer.getvalue().encode()


def fresh(url: str) -> None:
    db.upgrade(url)
    with db.session_scope(url) as session:
        from solders.keypair import Keypair

        for symbol in SYMBOLS:
            add_instrument(session=session, symbol=symbol, mint=str(Keypair().pubkey()))


def timed_ingest(url: str, raw: bytes) -> tuple[float, int, int, bool]:
    start = time.perf_counter()
    with db.session_scope(url) as session:
        report = ingest(
            parse_payload(FeedFormat.csv, raw), session=session, origin="bench", fmt="csv"
        )
    elapsed = time.perf_counter() - start
    with db.session_scope(url) as session:
        actions = session.exec(select(func.count()).select_from(CorporateAction)).one()
        quarantined = session.exec(select(QuarantinedRecord)).all()
        every_reason = all(q.reasons and q.position and q.origin == "bench" for q in quarantined)
    assert report.quarantined == len(quarantined)
    return elapsed, int(actions), len(quarantined), every_reason


def run(label: str, make_url: Callable[[], str], records: int) -> None:
    good, mixed = make(records, hostile=False), make(records, hostile=True)
    url = make_url()
    fresh(url)
    base, stored, _, _ = timed_ingest(url, good)
    url = make_url()
    fresh(url)
    both, stored_mixed, quarantined, reasons = timed_ingest(url, mixed)
    ok = stored == stored_mixed == records and quarantined == records and reasons
    ratio = both / base
    print(
        f"{label:10s}: {records} good in {base:.2f} s; {records} good + {records} hostile in "
        f"{both:.2f} s (ratio {ratio:.2f}x, target <= 2x: {'met' if ratio <= 2 else 'MISSED'}); "
        f"stored {stored_mixed}, quarantined {quarantined} with reasons, origin and position: "
        f"{'all' if ok else 'NOT ALL'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    next_business_day(date(2020, 1, 6))  # load the NYSE calendar once, outside the timings
    with tempfile.TemporaryDirectory() as tmp:
        counter = iter(range(100))
        run("sqlite", lambda: f"sqlite:///{tmp}/ledger{next(counter)}.db", args.records)
        names: list[str] = []

        def pg_url() -> str:
            name = f"corpactions_bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(args.pg, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            names.append(name)
            return (
                args.pg.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
                + "/"
                + name
            )

        try:
            run("postgresql", pg_url, args.records)
        except psycopg.OperationalError as exc:
            print(f"postgresql: skipped ({exc})")
        finally:
            db.dispose_engines()
            with psycopg.connect(args.pg, autocommit=True) as conn:
                for name in names:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()

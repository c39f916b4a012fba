"""Ingest 100,000 dividend records from a file (the project's CSV format) into the embedded
SQLite ledger, and into PostgreSQL when one is reachable.

Target (issue: feeds): <= 20 s. Baseline, measured in the same run: the straightforward path
(validate, look the action up, insert action and version, flush, one record at a time) over the
first 10,000 records; the ratio compares records per second.

    .venv/bin/python bench/feeds_ingest.py [--records 100000] [--pg postgresql://postgres@127.0.0.1/test]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import psycopg
from _common import machine
from sqlmodel import Session, select

from corpactions import db
from corpactions.feeds.ingest import ingest
from corpactions.feeds.normalized import NormalizedAction
from corpactions.feeds.ownformat import parse_csv
from corpactions.feeds.validate import Rules, validate
from corpactions.instruments import add_instrument
from corpactions.models import CorporateAction, CorporateActionVersion

SYMBOLS = [f"T{i:03d}" for i in range(50)]


def make_file(path: Path, records: int) -> None:
    lines = ["reference,symbol,kind,status,ex_date,record_date,pay_date,currency,gross_rate"]
    start = date(2020, 1, 1)
    for i in range(records):
        day = start + timedelta(days=i % 2000)
        lines.append(
            f"R{i},{SYMBOLS[i % len(SYMBOLS)]},cash_dividend,COMP,{day},{day},{day + timedelta(days=3)},USD,0.{i % 97 + 1:02d}"
        )
    path.write_text("\n".join(lines) + "\n")


def fresh_ledger(url: str) -> None:
    db.upgrade(url)
    with db.session_scope(url) as session:
        from solders.keypair import Keypair

        for symbol in SYMBOLS:
            add_instrument(session=session, symbol=symbol, mint=str(Keypair().pubkey()))


def bulk(url: str, raw: bytes) -> float:
    start = time.perf_counter()
    with db.session_scope(url) as session:
        report = ingest(parse_csv(raw), session=session)
    elapsed = time.perf_counter() - start
    assert report.quarantined == 0, report.as_dict()
    return elapsed


def naive(url: str, raw: bytes, limit: int) -> float:
    records = [r for r in parse_csv(raw)[:limit] if isinstance(r, NormalizedAction)]
    start = time.perf_counter()
    with Session(db.get_engine(url)) as session:
        from corpactions.models import Instrument

        instruments = {i.symbol: i.id for i in session.exec(select(Instrument))}
        rules = Rules(known_symbols=instruments.keys())
        for record in records:
            validate(record, rules)
            action = session.exec(
                select(CorporateAction).where(
                    CorporateAction.source == record.source,
                    CorporateAction.source_ref == record.source_ref,
                )
            ).first()
            if action is None:
                action = CorporateAction(
                    instrument_id=instruments[record.symbol] or 0,
                    source=record.source,
                    source_ref=record.source_ref,
                    kind=record.kind,
                )
                session.add(action)
                session.flush()
            session.add(
                CorporateActionVersion(
                    action_id=action.id or 0,
                    version=1,
                    kind=record.kind,
                    record_date=record.record_date,
                    pay_date=record.pay_date,
                    ex_date=record.ex_date,
                    currency=record.currency,
                    gross_rate=record.gross_rate,
                    payload_sha256=record.payload_sha256,
                    sequence_key=record.sequence_key(1),
                    raw_payload=record.raw,
                )
            )
            session.flush()
        session.commit()
    return time.perf_counter() - start


def run(label: str, make_url, raw: bytes, records: int) -> None:  # type: ignore[no-untyped-def]
    url = make_url()
    fresh_ledger(url)
    fast = bulk(url, raw)
    url2 = make_url()
    fresh_ledger(url2)
    limit = min(records, 10_000)
    slow = naive(url2, raw, limit)
    fast_rate, slow_rate = records / fast, limit / slow
    print(
        f"{label:10s}: {records} records in {fast:.1f} s ({fast_rate:,.0f}/s); baseline {limit} records in {slow:.1f} s ({slow_rate:,.0f}/s); ratio {fast_rate / slow_rate:.1f}x; target <= 20 s: {'met' if fast <= 20 else 'MISSED'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "feed.csv"
        make_file(path, args.records)
        raw = path.read_bytes()
        counter = iter(range(100))
        run("sqlite", lambda: f"sqlite:///{tmp}/ledger{next(counter)}.db", raw, args.records)
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
            run("postgresql", pg_url, raw, args.records)
        except psycopg.OperationalError as exc:
            print(f"postgresql: skipped ({exc})")
        finally:
            db.dispose_engines()
            with psycopg.connect(args.pg, autocommit=True) as conn:
                for name in names:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()

"""Benchmark: 10,000 wallet-signed ballots verified, stored and tallied on PostgreSQL.

Target (issue: shareholder votes): ≥ 5,000 signature verifications per second. Measured:
(1) verification alone (parse + ed25519 check with solders) over all ballots; (2) the batch path
``cast_ballots`` (verify, weight from the snapshot read once, store) followed by the tally.
Baseline in the same run: the API's one-ballot path ``cast_ballot`` (a transaction per ballot,
the weight read from the snapshot file each time) on ``--baseline`` ballots, per ballot.

    .venv/bin/python bench/ballots_verify.py [--ballots 10000] [--baseline 500]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import polars as pl
import psycopg
from solders.keypair import Keypair
from sqlmodel import select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import machine
from corpactions import db
from corpactions.config import get_settings
from corpactions.feeds.ingest import ingest
from corpactions.feeds.ownformat import parse_json
from corpactions.meetings.agenda import parse_agenda
from corpactions.meetings.ballots import (
    BallotContext,
    ballot_context,
    canonical_message,
    cast_ballot,
    cast_ballots,
    verify_ballot,
)
from corpactions.meetings.tally import tally
from corpactions.models import CorporateAction, Instrument, Snapshot
from snapshots.store import write_holdings

AGENDA = [
    {"id": "1", "text": "Elect the board"},
    {"id": "2", "text": "Amend the charter", "majority": "two_thirds"},
    {"id": "3", "text": "Auditor", "choices": ["acme llp", "beta llp"]},
]


def setup(url: str, voters: list[Keypair], data_dir: Path) -> int:
    deadline = datetime.now(UTC) + timedelta(hours=1)
    with db.session_scope(url) as session:
        instrument = Instrument(symbol="AAPL", mint=str(Keypair().pubkey()))
        session.add(instrument)
        session.flush()
        payload = {
            "reference": "AGM-BENCH",
            "symbol": "AAPL",
            "kind": "meeting",
            "record_date": "2026-11-10",
            "meeting_date": "2027-03-01",
            "vote_deadline": deadline.isoformat(),
            "agenda": AGENDA,
        }
        ingest(parse_json(orjson.dumps([payload])), session=session)
        action = session.exec(select(CorporateAction)).one()
        holders = pl.DataFrame(
            {
                "owner": [bytes(v.pubkey()) for v in voters],
                "amount": [10**8 * (1 + i % 997) for i in range(len(voters))],
                "accounts": [1] * len(voters),
                "frozen_amount": [0] * len(voters),
                "frozen": [False] * len(voters),
                "excluded": [False] * len(voters),
            }
        )
        path, digest = write_holdings(holders, data_dir / "snapshots", name="AAPL-bench")
        session.add(
            Snapshot(
                instrument_id=instrument.id or 0,
                action_id=action.id,
                slot=1,
                supply=int(holders["amount"].sum()),
                account_count=len(voters),
                owner_count=len(voters),
                path=str(path),
                sha256=digest,
            )
        )
        return action.id or 0


def ballots_for(context: BallotContext, voters: list[Keypair], tag: str) -> list[dict[str, str]]:
    out = []
    for index, voter in enumerate(voters):
        choices = {
            "1": ("for", "against", "abstain")[index % 3],
            "2": ("for", "against")[index % 2],
            "3": ("acme llp", "beta llp")[index % 2],
        }
        message = canonical_message(context, str(voter.pubkey()), f"{tag}{index}", choices)
        out.append(
            {
                "wallet": str(voter.pubkey()),
                "message": message,
                "signature": str(voter.sign_message(message.encode())),
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--ballots", type=int, default=10_000)
    parser.add_argument("--baseline", type=int, default=500)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    name = f"corpactions_bench_{uuid.uuid4().hex[:10]}"
    data_dir = Path(f"/tmp/{name}")
    with psycopg.connect(args.pg, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = args.pg.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + "/" + name
    os.environ.update({"CORPACTIONS_DATABASE_URL": url, "CORPACTIONS_DATA_DIR": str(data_dir)})
    get_settings.cache_clear()
    try:
        db.upgrade(url)
        voters = [Keypair() for _ in range(args.ballots)]
        meeting_id = setup(url, voters, data_dir)
        with db.session_scope() as session:
            action = session.get(CorporateAction, meeting_id)
            assert action is not None
            context = ballot_context(session, action)
        ballots = ballots_for(context, voters, "a")
        agenda = parse_agenda({"agenda": AGENDA, "vote_deadline": "2100-01-01"})
        now = datetime.now(UTC)

        started = time.perf_counter()
        for ballot in ballots:
            verify_ballot(context, agenda, now=now, **ballot)
        verify_rate = len(ballots) / (time.perf_counter() - started)
        print(f"verification alone: {len(ballots):,} ballots, {verify_rate:,.0f} per second")

        started = time.perf_counter()
        with db.session_scope() as session:
            stored, refused = cast_ballots(session, meeting_id, ballots)
        cast_seconds = time.perf_counter() - started
        assert stored == len(ballots) and not refused, refused[:3]
        started = time.perf_counter()
        with db.session_scope() as session:
            result = tally(session, meeting_id)
        tally_seconds = time.perf_counter() - started
        assert result["ballots"] == len(ballots)
        batch_rate = len(ballots) / (cast_seconds + tally_seconds)
        print(
            f"batch path: {len(ballots):,} verified + stored in {cast_seconds:.2f} s, "
            f"tallied in {tally_seconds:.2f} s: {batch_rate:,.0f} ballots per second"
        )

        replacements = ballots_for(context, voters[: args.baseline], "b")
        started = time.perf_counter()
        for ballot in replacements:
            with db.session_scope() as session:
                cast_ballot(session, meeting_id, **ballot)
        single_rate = len(replacements) / (time.perf_counter() - started)
        print(f"baseline, one ballot per transaction: {single_rate:,.0f} ballots per second")
        verdict = "met" if verify_rate >= 5000 else "NOT met"
        print(
            f"verifications {verify_rate:,.0f}/s (target >= 5,000: {verdict}); "
            f"batch / one-by-one = {batch_rate / single_rate:.1f}x"
        )
    finally:
        db.dispose_engines()
        with psycopg.connect(args.pg, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()

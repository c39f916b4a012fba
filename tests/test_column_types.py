"""Money and time survive a round trip through both databases exactly."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlmodel import select

from corpactions import db
from corpactions.models import ActionKind, CorporateAction, CorporateActionVersion, Instrument
from corpactions.models.snapshots import Snapshot
from corpactions.models.types import U64_MAX

MINT = "So11111111111111111111111111111111111111112"


def _instrument() -> Instrument:
    return Instrument(symbol="AAPL", mint=MINT)


def test_u64_amounts_round_trip_up_to_the_largest_u64(ledger: str) -> None:
    with db.session_scope(ledger) as session:
        instrument = _instrument()
        session.add(instrument)
        session.flush()
        for supply in (0, 2**63 - 1, 2**63, U64_MAX):
            session.add(
                Snapshot(
                    instrument_id=instrument.id or 0,
                    slot=1,
                    supply=supply,
                    account_count=0,
                    owner_count=0,
                    path="x",
                    sha256="0" * 64,
                )
            )
    with db.session_scope(ledger) as session:
        supplies = sorted(s.supply for s in session.exec(select(Snapshot)))
    assert supplies == [0, 2**63 - 1, 2**63, U64_MAX]
    assert all(type(s) is int for s in supplies)


def test_a_u64_column_refuses_negative_and_oversized_values(ledger: str) -> None:
    with db.session_scope(ledger) as session:
        instrument = _instrument()
        session.add(instrument)
        session.flush()
        session.add(
            Snapshot(
                instrument_id=instrument.id or 0,
                slot=1,
                supply=U64_MAX + 1,
                account_count=0,
                owner_count=0,
                path="x",
                sha256="0" * 64,
            )
        )
        with pytest.raises(Exception, match="u64"):
            session.flush()
        session.rollback()


def test_rates_keep_every_decimal_digit(ledger: str) -> None:
    rate = Decimal("0.123456789012345678901234567")
    with db.session_scope(ledger) as session:
        instrument = _instrument()
        session.add(instrument)
        session.flush()
        action = CorporateAction(
            instrument_id=instrument.id or 0,
            source="csv",
            source_ref="r1",
            kind=ActionKind.cash_dividend,
        )
        session.add(action)
        session.flush()
        session.add(
            CorporateActionVersion(
                action_id=action.id or 0,
                version=1,
                kind=ActionKind.cash_dividend,
                gross_rate=rate,
                payload_sha256="0" * 64,
                raw_payload="{}",
            )
        )
    with db.session_scope(ledger) as session:
        stored = session.exec(select(CorporateActionVersion)).one()
    assert stored.gross_rate == rate
    assert str(stored.gross_rate) == "0.123456789012345678901234567"


def test_timestamps_come_back_timezone_aware_in_utc(ledger: str) -> None:
    when = datetime(2026, 3, 14, 15, 9, 26, tzinfo=UTC)
    with db.session_scope(ledger) as session:
        session.add(Instrument(symbol="MSFT", mint=MINT, created_at=when))
    with db.session_scope(ledger) as session:
        stored = session.exec(select(Instrument)).one()
    assert stored.created_at == when
    assert stored.created_at.tzinfo is not None


def test_naive_timestamps_are_refused(ledger: str) -> None:
    with db.session_scope(ledger) as session:
        session.add(Instrument(symbol="MSFT", mint=MINT, created_at=datetime(2026, 1, 1)))
        with pytest.raises(Exception, match="timezone-aware"):
            session.flush()
        session.rollback()

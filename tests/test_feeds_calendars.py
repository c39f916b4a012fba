"""US market calendars (FINRA Rule 11140, T+1): the rule each action follows by the size of the
distribution, a real NYSE business-day calendar (exchange_calendars), quarantine naming the
rule that a calendar breaks, and a snapshot cutoff that follows the entitlement."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlmodel import select
from typer.testing import CliRunner

from corpactions import db
from corpactions.actions import current_version, entitlement_of
from corpactions.cli import app
from corpactions.config import get_settings
from corpactions.feeds.calendar import is_business_day, next_business_day, previous_business_day
from corpactions.instruments import add_instrument
from corpactions.models import CorporateAction, QuarantinedRecord
from snapshots.take import due_actions
from tests.feed_corpus import MINTS, alpaca, alpaca_list, csv_rows, own

runner = CliRunner()


@pytest.fixture
def registered(sqlite_ledger: str) -> str:
    with db.session_scope() as session:
        for symbol, mint in MINTS.items():
            add_instrument(session=session, symbol=symbol, mint=mint)
    return sqlite_ledger


def _ingest(tmp_path: Path, payload: bytes, fmt: str) -> dict[str, Any]:
    path = tmp_path / f"feed.{fmt}"
    path.write_bytes(payload)
    result = runner.invoke(app, ["feeds", "ingest", str(path), "--format", fmt, "--json"])
    assert result.exit_code == 0, result.output
    return dict(orjson.loads(result.stdout))


def _show(action_id: int) -> dict[str, Any]:
    result = runner.invoke(app, ["actions", "show", str(action_id), "--json"])
    assert result.exit_code == 0, result.output
    return dict(orjson.loads(result.stdout))


def _only_action() -> CorporateAction:
    with db.session_scope() as session:
        return session.exec(select(CorporateAction)).one()


def _reasons() -> list[str]:
    with db.session_scope() as session:
        return [q.reason for q in session.exec(select(QuarantinedRecord))]


def test_the_nyse_calendar_is_the_exchanges_own() -> None:
    """Holidays and unscheduled closures come from the library, not a hand list."""
    assert is_business_day(date(2026, 11, 26)) is False  # Thanksgiving
    assert is_business_day(date(2025, 1, 9)) is False  # national day of mourning (Carter)
    assert is_business_day(date(2026, 11, 27)) is True  # the half day after Thanksgiving
    assert next_business_day(date(2026, 11, 25)) == date(2026, 11, 27)
    assert next_business_day(date(2025, 1, 8)) == date(2025, 1, 10)
    assert previous_business_day(date(2027, 1, 4)) == date(2026, 12, 31)  # New Year's Day
    assert is_business_day(date(1800, 1, 1)) is None  # outside the calendar: not guessed


def _alpaca_split(**overrides: Any) -> dict[str, Any]:
    return alpaca(
        **{
            "corporate_action_id": "AAPL-SPLIT-2020",
            "ca_type": "split",
            "ca_sub_type": "stock_split",
            "cash": None,
            "old_rate": "1",
            "new_rate": "4",
            **overrides,
        }
    )


def test_a_four_for_one_split_with_its_deferred_ex_date_is_taken_and_entitles_the_payable_date(
    registered: str, tmp_path: Path
) -> None:
    """Apple's 4-for-1 split of 2020 as published: record Monday 24 August, distributed
    Friday 28 August, split-adjusted trading (ex) Monday 31 August: record < pay < ex, the
    ex-date the first business day after pay (FINRA 11140(b)(2)). Before, this was
    quarantined as 'ex date is after pay date'."""
    split = _alpaca_split(
        declaration_date="2020-07-30",
        record_date="2020-08-24",
        payable_date="2020-08-28",
        ex_date="2020-08-31",
    )
    report = _ingest(tmp_path, alpaca_list(split), "alpaca")
    assert (report["accepted"], report["quarantined"]) == (1, 0), report
    shown = _show(_only_action().id or 0)
    rule = shown["entitlement"]
    assert rule["rule"] == "deferred" and rule["cutoff"] == "2020-08-28"
    assert "11140(b)(2)" in rule["why"] and "300 %" in rule["why"]
    assert "due bill" in rule["basis"]
    text = runner.invoke(app, ["actions", "show", str(shown["id"])]).output
    assert "deferred rule" in text and "payable date (due bill) 2020-08-28" in text


def test_record_monday_pay_thursday_ex_friday_and_the_snapshot_waits_for_the_payable_date(
    registered: str, tmp_path: Path
) -> None:
    """A 4-for-1 split in the common calendar shape: record Monday, pay Thursday, ex Friday.
    The holders entitled are those at the end of the payable date (the due bill's effect),
    so the snapshot is not due at the record date's cutoff, only at the payable date's."""
    split = _alpaca_split(
        corporate_action_id="SPLIT-MON-THU-FRI",
        record_date="2026-12-07",
        payable_date="2026-12-10",
        ex_date="2026-12-11",
    )
    assert _ingest(tmp_path, alpaca_list(split), "alpaca")["accepted"] == 1
    settings = get_settings()
    with db.session_scope() as session:
        after_record = datetime(2026, 12, 8, 12, tzinfo=UTC)  # the record date's cutoff passed
        assert due_actions(session, after_record, settings) == []
        after_pay = datetime(2026, 12, 11, 12, tzinfo=UTC)
        [due] = due_actions(session, after_pay, settings)
        version = current_version(session, due)
        assert version is not None and entitlement_of(version).cutoff == date(2026, 12, 10)


def test_a_large_distribution_given_the_regular_calendar_is_quarantined_naming_the_rule(
    registered: str, tmp_path: Path
) -> None:
    split = _alpaca_split(record_date="2026-12-07", payable_date="2026-12-10", ex_date="2026-12-07")
    report = _ingest(tmp_path, alpaca_list(split), "alpaca")
    assert report["quarantined"] == 1
    [reason] = _reasons()
    assert "FINRA Rule 11140(b)(2)" in reason and "2026-12-11, not 2026-12-07" in reason


def test_the_deferred_ex_date_skips_the_exchanges_holidays(registered: str, tmp_path: Path) -> None:
    """Paid the day before Thanksgiving: the ex-date is the Friday, not the Thursday."""
    wrong = _alpaca_split(
        corporate_action_id="S1",
        record_date="2026-11-23",
        payable_date="2026-11-25",
        ex_date="2026-11-26",
    )
    right = _alpaca_split(
        corporate_action_id="S2",
        record_date="2026-11-23",
        payable_date="2026-11-25",
        ex_date="2026-11-27",
    )
    report = _ingest(tmp_path, alpaca_list(wrong, right), "alpaca")
    assert (report["accepted"], report["quarantined"]) == (1, 1)
    [reason] = _reasons()
    assert "2026-11-27, not 2026-11-26" in reason


def test_a_five_percent_stock_dividend_follows_the_regular_rule(
    registered: str, tmp_path: Path
) -> None:
    good = own(
        reference="SD5",
        kind="stock_dividend",
        ratio_new="105",
        ratio_old="100",
        currency="",
        gross_rate="",
        ex_date="2026-11-30",
        record_date="2026-11-30",
        pay_date="2026-12-14",
    )
    deferred = {**good, "reference": "SD5-DEFERRED", "ex_date": "2026-12-15"}
    report = _ingest(tmp_path, csv_rows(good, deferred), "csv")
    assert (report["accepted"], report["quarantined"]) == (1, 1)
    [reason] = _reasons()
    assert "FINRA Rule 11140(b)(1)" in reason and "25 % or more" in reason
    rule = _show(_only_action().id or 0)["entitlement"]
    assert rule["rule"] == "regular" and rule["cutoff"] == "2026-11-30"
    assert "5 %" in rule["why"]


def test_a_cash_dividend_of_a_quarter_of_the_price_or_more_is_deferred(
    registered: str, tmp_path: Path
) -> None:
    special = own(
        reference="SPECIAL",
        gross_rate="30",
        price="100",
        ex_date="2026-12-14",  # the Monday after a Friday payable date
        record_date="2026-12-07",
        pay_date="2026-12-11",
    )
    assert _ingest(tmp_path, orjson.dumps([special]), "json")["accepted"] == 1
    rule = _show(_only_action().id or 0)["entitlement"]
    assert rule["rule"] == "deferred" and rule["cutoff"] == "2026-12-11"


def test_a_one_for_ten_reverse_split_takes_effect_at_the_open_of_its_effective_date(
    registered: str, tmp_path: Path
) -> None:
    """Citigroup's 1-for-10 reverse split of 2011: effective after the close of Friday 6 May,
    split-adjusted trading from Monday 9 May. Holders at the end of the 6th are converted."""
    reverse = own(
        reference="C-REVERSE-2011",
        kind="reverse_split",
        ratio_new="1",
        ratio_old="10",
        currency="",
        gross_rate="",
        ex_date="2011-05-09",
        effective_date="2011-05-09",
        record_date="",
        pay_date="",
    )
    on_a_holiday = {**reverse, "reference": "R-HOLIDAY", "effective_date": "2026-11-26"}
    on_a_holiday["ex_date"] = "2026-11-26"
    report = _ingest(tmp_path, csv_rows(reverse, on_a_holiday), "csv")
    assert (report["accepted"], report["quarantined"]) == (1, 1)
    [reason] = _reasons()
    assert "market open" in reason and "2026-11-26 is not an NYSE business day" in reason
    rule = _show(_only_action().id or 0)["entitlement"]
    assert rule["rule"] == "reverse_split" and rule["cutoff"] == "2011-05-06"

"""Every event type recognised: what corpactions does not carry out becomes an action that needs an
operator (never a quarantine entry, never silence), shown by ``status`` and the API with what it
is and what to do; a ticker change (CHAN) is carried out on the instrument, which keeps its mint."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlmodel import select
from typer.testing import CliRunner

from corpactions import db
from corpactions.api import queries
from corpactions.cli import app
from corpactions.config import get_settings
from corpactions.feeds.events import ALPACA_TYPES, ISO_EVENTS
from corpactions.feeds.symbols import apply_ticker_changes
from corpactions.instruments import add_instrument
from corpactions.models import (
    ActionKind,
    CorporateAction,
    Instrument,
    InstrumentSymbol,
    QuarantinedRecord,
)
from tests.feed_corpus import MINTS, alpaca, alpaca_list, own, polygon_dividend, polygon_page
from tests.feed_corpus import seev031 as seev_doc

runner = CliRunner()


@pytest.fixture
def registered(ledger: str) -> str:
    with db.session_scope() as session:
        for symbol, mint in MINTS.items():
            add_instrument(session=session, symbol=symbol, mint=mint)
    return ledger


@pytest.fixture
def pg_registered(pg_ledger: str) -> str:
    with db.session_scope() as session:
        for symbol, mint in MINTS.items():
            add_instrument(session=session, symbol=symbol, mint=mint)
    return pg_ledger


def _ingest(tmp_path: Path, name: str, payload: bytes, fmt: str) -> dict[str, Any]:
    path = tmp_path / name
    path.write_bytes(payload)
    result = runner.invoke(app, ["feeds", "ingest", str(path), "--format", fmt, "--json"])
    assert result.exit_code == 0, result.output
    return dict(orjson.loads(result.stdout))


def _notice(event: str, reference: str) -> bytes:
    return (
        "<B>" + seev_doc(event=event, reference=reference, gross=None, net=None, tax=None) + "</B>"
    ).encode()


@pytest.mark.parametrize(
    ("event", "kind", "words"),
    [
        ("MRGR", "merger", "merger"),
        ("SOFF", "spin_off", "spin-off"),
        ("RHTS", "rights", "rights issue"),
        ("DLST", "delisting", "delisted"),
        ("CAPD", "return_of_capital", "return of capital"),
        ("LIQU", "liquidation", "liquidation"),
        ("ZZZZ", "other", "source type ZZZZ"),
    ],
)
def test_an_iso_event_not_carried_out_needs_an_operator_and_says_what_to_do(
    pg_registered: str, tmp_path: Path, event: str, kind: str, words: str
) -> None:
    report = _ingest(tmp_path, "n.xml", _notice(event, f"EVT-{event}"), "seev031")
    assert (report["accepted"], report["quarantined"]) == (1, 0)
    with db.session_scope() as session:
        action = session.exec(select(CorporateAction)).one()
        assert session.exec(select(QuarantinedRecord)).all() == []
        detail = queries.action_detail(session, action.id or 0, settings=get_settings())
        listed = queries.list_actions(session, status="needs_operator")
    assert (str(action.kind), str(action.status)) == (kind, "needs_operator")
    reason = action.status_reason or ""
    assert words in reason and "corpactions does not carry it out" in reason
    assert detail.status == "needs_operator" and detail.status_reason == reason
    assert [item.id for item in listed.items] == [action.id]
    shown_action = orjson.loads(
        runner.invoke(app, ["actions", "show", str(action.id), "--json"]).stdout
    )
    assert shown_action["entitlement"]["rule"] == "none"
    assert shown_action["entitlement"]["cutoff"] is None
    status = orjson.loads(runner.invoke(app, ["status", "--json"]).stdout)
    [shown] = [a for a in status["open_actions"] if a["id"] == action.id]
    assert shown["status"] == "needs_operator" and words in shown["reason"]


def test_alpaca_mergers_and_spin_offs_are_kept_for_an_operator_not_quarantined(
    registered: str, tmp_path: Path
) -> None:
    merger = alpaca(corporate_action_id="M1", ca_type="merger", ca_sub_type="merger_update")
    spinoff = alpaca(corporate_action_id="S1", ca_type="spinoff", ca_sub_type="spinoff")
    report = _ingest(tmp_path, "a.json", alpaca_list(merger, spinoff), "alpaca")
    assert (report["accepted"], report["quarantined"]) == (2, 0)
    with db.session_scope() as session:
        kinds = {(str(a.kind), str(a.status)) for a in session.exec(select(CorporateAction))}
    assert kinds == {("merger", "needs_operator"), ("spin_off", "needs_operator")}


def test_every_mapped_type_is_a_kind() -> None:
    assert set(ISO_EVENTS.values()) | set(ALPACA_TYPES.values()) <= set(ActionKind)
    assert {"MRGR", "SOFF", "RHTS", "CHAN", "DLST", "CAPD", "LIQU"} <= set(ISO_EVENTS)


def _ticker_change(effective: str, new_symbol: str = "APPL2") -> bytes:
    row = own(
        reference="CHAN-1",
        kind="ticker_change",
        new_symbol=new_symbol,
        effective_date=effective,
        ex_date="",
        record_date="",
        pay_date="",
        currency="",
        gross_rate="",
    )
    return orjson.dumps([row])


def test_a_past_ticker_change_renames_the_instrument_which_keeps_its_mint(
    registered: str, tmp_path: Path
) -> None:
    report = _ingest(tmp_path, "chan.json", _ticker_change("2026-01-05"), "json")
    assert (report["accepted"], report["quarantined"]) == (1, 0), report
    with db.session_scope() as session:
        instrument = session.exec(select(Instrument).where(Instrument.mint == MINTS["AAPL"])).one()
        assert instrument.symbol == "APPL2"
        action = session.exec(select(CorporateAction)).one()
        assert str(action.status) == "applied" and "APPL2" in (action.status_reason or "")
        history = {(s.symbol, s.valid_from) for s in session.exec(select(InstrumentSymbol))}
    assert history == {("AAPL", None), ("APPL2", date(2026, 1, 5))}
    # feed records under either ticker are the same instrument's
    old = polygon_dividend(id="OLD")
    new = polygon_dividend(id="NEW", ticker="APPL2")
    again = _ingest(tmp_path, "p.json", polygon_page([old, new]), "polygon")
    assert (again["accepted"], again["quarantined"]) == (2, 0)
    with db.session_scope() as session:
        ids = {a.instrument_id for a in session.exec(select(CorporateAction))}
    assert ids == {instrument.id}


def test_a_future_ticker_change_takes_effect_on_its_day(registered: str, tmp_path: Path) -> None:
    _ingest(tmp_path, "chan.json", _ticker_change("2099-06-01"), "json")
    with db.session_scope() as session:
        assert apply_ticker_changes(session, date(2099, 5, 31)) == []
        aapl = session.exec(select(Instrument).where(Instrument.mint == MINTS["AAPL"])).one()
        assert aapl.symbol == "AAPL"
        renamed = apply_ticker_changes(session, date(2099, 6, 1))
        assert renamed == [(aapl.id, "AAPL", "APPL2")]


def test_a_future_ticker_change_cancelled_before_its_day_never_takes_effect(
    registered: str, tmp_path: Path
) -> None:
    _ingest(tmp_path, "chan.json", _ticker_change("2099-06-01"), "json")
    cancel = orjson.loads(_ticker_change("2099-06-01"))[0]
    cancel["function"] = "CANC"
    _ingest(tmp_path, "canc.json", orjson.dumps([cancel]), "json")
    with db.session_scope() as session:
        action = session.exec(select(CorporateAction)).one()
        assert str(action.status) == "cancelled"
        assert apply_ticker_changes(session, date(2099, 6, 2)) == []


def test_a_ticker_change_to_another_instruments_symbol_is_refused(
    registered: str, tmp_path: Path
) -> None:
    report = _ingest(tmp_path, "chan.json", _ticker_change("2026-01-05", "MSFT"), "json")
    assert report["quarantined"] == 1
    with db.session_scope() as session:
        [entry] = session.exec(select(QuarantinedRecord)).all()
    assert "already another registered instrument" in entry.reason


def test_a_seev031_chan_with_a_new_ticker_is_a_ticker_change(
    registered: str, tmp_path: Path
) -> None:
    document = seev_doc(
        event="CHAN", reference="CHAN-ISO", gross=None, net=None, tax=None, ratio=("1", "1")
    )
    document = document.replace(
        "<SctyDtls><FinInstrmId><ISIN>US0378331005</ISIN></FinInstrmId>",
        "<SctyDtls><FinInstrmId><ISIN>US0378331005</ISIN><OthrId><Id>APPL2</Id><Tp><Cd>TS</Cd>"
        "</Tp></OthrId></FinInstrmId>",
    )
    report = _ingest(tmp_path, "chan.xml", f"<B>{document}</B>".encode(), "seev031")
    assert report["accepted"] == 1, report
    with db.session_scope() as session:
        action = session.exec(select(CorporateAction)).one()
        assert str(action.kind) == "ticker_change"
        instrument = session.get(Instrument, action.instrument_id)
    assert instrument is not None and instrument.symbol == "APPL2"


def _alpaca_data(**lists: list[dict[str, Any]]) -> bytes:
    return orjson.dumps({"corporate_actions": lists, "next_page_token": None})


def test_alpaca_market_data_every_list_is_an_action_and_a_split_keeps_its_due_bill(
    registered: str, tmp_path: Path
) -> None:
    """The market-data shape (one list per type). Sempra's 2-for-1 split of 2023 as published:
    record 14 August, payable 21 August, ex 22 August (the business day after), due bill
    redeemed 23 August; the holders entitled are those at the end of the payable date."""
    split = {
        "id": "fs-1",
        "symbol": "AAPL",
        "cusip": "037833100",
        "new_rate": 2,
        "old_rate": 1,
        "process_date": "2023-08-22",
        "ex_date": "2023-08-22",
        "record_date": "2023-08-14",
        "payable_date": "2023-08-21",
        "due_bill_redemption_date": "2023-08-23",
    }
    dividend = {
        "id": "cd-1",
        "symbol": "MSFT",
        "cusip": "594918104",
        "rate": 0.83,
        "special": False,
        "foreign": False,
        "process_date": "2026-12-10",
        "ex_date": "2026-11-19",
        "record_date": "2026-11-19",
        "payable_date": "2026-12-10",
    }
    merger = {
        "id": "cm-1",
        "acquiree_symbol": "MSFT",
        "acquiree_cusip": "594918104",
        "rate": 5.37,
        "process_date": "2026-07-17",
        "effective_date": "2026-07-17",
        "payable_date": "2026-07-17",
    }
    payload = _alpaca_data(
        forward_splits=[split], cash_dividends=[dividend], cash_mergers=[merger], odd_lots=[{}]
    )
    report = _ingest(tmp_path, "ca.json", payload, "alpaca-data")
    assert (report["accepted"], report["quarantined"]) == (3, 1), report
    with db.session_scope() as session:
        actions = {a.source_ref: a for a in session.exec(select(CorporateAction))}
        [odd] = session.exec(select(QuarantinedRecord)).all()
    assert str(actions["fs-1"].status) == "announced"
    assert str(actions["cd-1"].kind) == "cash_dividend"
    assert str(actions["cm-1"].status) == "needs_operator"
    assert odd.position == "odd_lots 1" and "id is missing" in odd.reason
    shown = orjson.loads(
        runner.invoke(app, ["actions", "show", str(actions["fs-1"].id), "--json"]).stdout
    )
    assert shown["entitlement"]["rule"] == "deferred"
    assert shown["entitlement"]["cutoff"] == "2023-08-21"
    assert shown["details"]["due_bill_redemption_date"] == "2023-08-23"


def test_alpaca_market_data_name_change_is_a_ticker_change(registered: str, tmp_path: Path) -> None:
    change = {
        "id": "nc-1",
        "old_symbol": "AAPL",
        "old_cusip": "037833100",
        "new_symbol": "APPL2",
        "new_cusip": "037833999",
        "process_date": "2026-02-02",
    }
    report = _ingest(tmp_path, "ca.json", _alpaca_data(name_changes=[change]), "alpaca-data")
    assert report["accepted"] == 1, report
    with db.session_scope() as session:
        instrument = session.exec(select(Instrument).where(Instrument.mint == MINTS["AAPL"])).one()
    assert instrument.symbol == "APPL2"

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
    registered: str, tmp_path: Path, event: str, kind: str, words: str
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

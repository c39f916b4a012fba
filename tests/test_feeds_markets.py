"""Feeds as the markets really work: versions by receipt for sources without an ordering,
hostile values that cost one record (never the file), a quarantine with every reason, its
origin and position, and ``feeds requeue``."""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import date
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import httpx
import orjson
import pytest
import respx
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select
from typer.testing import CliRunner

from corpactions import db
from corpactions.cli import app
from corpactions.config import get_settings
from corpactions.feeds.formats import FeedFormat, parse_payload
from corpactions.feeds.ingest import ingest
from corpactions.feeds.normalized import MalformedPayload
from corpactions.feeds.pull import pull, quarantine_malformed
from corpactions.instruments import add_instrument
from corpactions.models import (
    CorporateAction,
    CorporateActionVersion,
    QuarantinedRecord,
)
from tests.feed_corpus import (
    MINTS,
    alpaca,
    alpaca_list,
    csv_rows,
    own,
    polygon_dividend,
    polygon_page,
    seev031,
)

runner = CliRunner()


def _register(session: Session, *symbols: str) -> None:
    for symbol, mint in MINTS.items():
        if not symbols or symbol in symbols:
            add_instrument(session=session, symbol=symbol, mint=mint)


@pytest.fixture
def registered(ledger: str) -> str:
    with db.session_scope() as session:
        _register(session)
    return ledger


@pytest.fixture
def pg_registered(pg_ledger: str) -> str:
    """PostgreSQL only: it is the ledger that refuses NUL and over-long values outright."""
    with db.session_scope() as session:
        _register(session)
    return pg_ledger


def _current(session: Session, source: str, ref: str) -> CorporateActionVersion:
    action = session.exec(
        select(CorporateAction).where(
            CorporateAction.source == source, CorporateAction.source_ref == ref
        )
    ).one()
    return session.exec(
        select(CorporateActionVersion).where(
            CorporateActionVersion.action_id == action.id,
            CorporateActionVersion.version == action.current_version,
        )
    ).one()


def _ingest(tmp_path: Path, name: str, payload: bytes, fmt: str) -> Any:
    path = tmp_path / name
    path.write_bytes(payload)
    result = runner.invoke(app, ["feeds", "ingest", str(path), "--format", fmt, "--json"])
    return result


# ----- versions by receipt --------------------------------------------------------------------


@pytest.fixture
def polygon_env(registered: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORPACTIONS_POLYGON_API_KEY", "test-key")
    monkeypatch.setenv("CORPACTIONS_POLYGON_BASE_URL", "https://polygon.test")
    get_settings.cache_clear()


def _polygon_pull(results: list[dict[str, Any]]) -> Any:
    with respx.mock() as mock:
        mock.get("https://polygon.test/v3/reference/dividends").mock(
            side_effect=lambda request: httpx.Response(
                200,
                content=polygon_page(
                    [r for r in results if r["ticker"] == request.url.params["ticker"]]
                ),
            )
        )
        mock.get("https://polygon.test/v3/reference/splits").mock(
            return_value=httpx.Response(200, content=polygon_page([]))
        )
        with db.session_scope() as session:
            return pull(session=session, source="polygon", since=date(2026, 1, 1))


@pytest.mark.parametrize("amounts", [("0.26", "0.27"), ("0.27", "0.26")], ids=str)
def test_a_polygon_dividend_republished_with_a_new_amount_takes_the_amount_received_last(
    polygon_env: None, amounts: tuple[str, str]
) -> None:
    """Polygon has no version sequence: the same ``id`` with a corrected ``cash_amount`` in the
    next pull is its current state, in either order of arrival (the old rule chose by payload
    hash, so one of these two orders paid the old amount)."""
    first, second = (polygon_dividend(cash_amount=json.loads(a)) for a in amounts)
    assert first["id"] == second["id"]
    assert _polygon_pull([first]).accepted == 1
    report = _polygon_pull([second])
    assert (report.accepted, report.amended) == (0, 1)
    with db.session_scope() as session:
        current = _current(session, "polygon", first["id"])
        assert str(current.gross_rate) == amounts[1]
        assert (current.version, current.superseded_at) == (2, None)
        older = session.exec(
            select(CorporateActionVersion).where(CorporateActionVersion.version == 1)
        ).one()
        assert older.superseded_at is not None and str(older.gross_rate) == amounts[0]
    # the same state sent again is a duplicate and changes nothing
    again = _polygon_pull([second])
    assert (again.amended, again.duplicate) == (0, 1)


@pytest.mark.parametrize("amounts", [("0.26", "0.31"), ("0.31", "0.26")], ids=str)
def test_an_alpaca_cash_correction_without_updated_at_takes_the_one_received_last(
    registered: str, tmp_path: Path, amounts: tuple[str, str]
) -> None:
    for number, cash in enumerate(amounts):
        announcement = alpaca(id=f"ann-{cash}", cash=cash)
        result = _ingest(tmp_path, f"a{number}.json", alpaca_list(announcement), "alpaca")
        assert result.exit_code == 0, result.output
    with db.session_scope() as session:
        assert str(_current(session, "alpaca", "48251W104_AA21").gross_rate) == amounts[1]


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_alpaca_with_updated_at_is_ordered_by_it_whatever_the_arrival(
    registered: str, tmp_path: Path, order: tuple[int, int]
) -> None:
    versions = [
        alpaca(id="ann-1", cash="0.26", updated_at="2026-10-30T12:00:00Z"),
        alpaca(id="ann-2", cash="0.31", updated_at="2026-11-02T12:00:00Z"),
    ]
    for number in order:
        _ingest(tmp_path, f"a{number}.json", alpaca_list(versions[number]), "alpaca")
    with db.session_scope() as session:
        assert str(_current(session, "alpaca", "48251W104_AA21").gross_rate) == "0.31"


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 1, 0), (1, 2, 0)])
def test_a_seev031_chain_newm_repl_canc_ends_cancelled_in_any_order(
    registered: str, tmp_path: Path, order: tuple[int, int, int]
) -> None:
    chain = [
        seev031(),
        seev031(function="REPL", created="2026-11-01T09:00:00Z", gross="0.27"),
        seev031(function="CANC", created="2026-11-05T09:00:00Z"),
    ]
    for number in order:
        _ingest(tmp_path, f"n{number}.xml", chain[number].encode(), "seev031")
    with db.session_scope() as session:
        action = session.exec(select(CorporateAction)).one()
        assert str(action.status) == "cancelled"
        assert _current(session, "seev031", "EVT-AAPL-DVCA-2026Q4").function == "CANC"


# ----- hostile values cost one record ---------------------------------------------------------

GOOD = [own(reference=f"G{i}", gross_rate=f"0.{i + 10}") for i in range(5)]


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (own(reference="H1", gross_rate="1e308"), "out of bounds"),
        (own(reference="H2", gross_rate="1E+999999999"), "out of bounds"),
        (own(reference="H3", gross_rate="0.1234567890123456789"), "out of bounds"),
        (own(reference="H4\x00", gross_rate="0.2"), "control character"),
        (own(reference="H5", symbol="AA\x00PL"), "control character"),
        (own(reference="H6", sequence="9" * 41), "longer than 40"),
        (own(reference="H7", record_date="x" * 20_000), "characters long"),
    ],
    ids=["1e308", "1E+999999999", "19-digits", "NUL-ref", "NUL-symbol", "sequence", "huge"],
)
def test_a_hostile_csv_value_quarantines_its_row_and_the_good_rows_are_stored(
    pg_registered: str, tmp_path: Path, row: dict[str, Any], reason: str
) -> None:
    started = time.perf_counter()
    result = _ingest(tmp_path, "f.csv", csv_rows(*GOOD[:2], row, *GOOD[2:]), "csv")
    assert time.perf_counter() - started < 10
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout)["accepted"] == len(GOOD)
    with db.session_scope() as session:
        [entry] = session.exec(select(QuarantinedRecord)).all()
        assert len(session.exec(select(CorporateAction)).all()) == len(GOOD)
    assert any(reason in r for r in entry.reasons), entry.reasons
    assert entry.position == "line 4" and entry.origin and "f.csv" in entry.origin
    assert "\x00" not in entry.raw_payload and "\x00" not in (entry.source_ref or "")
    if "\x00" in json.dumps(row):
        assert "\\u0000" in entry.raw_payload  # kept, escaped


def test_hostile_json_values_quarantine_their_record_only(
    pg_registered: str, tmp_path: Path
) -> None:
    deep: Any = "x"
    for _ in range(40):
        deep = [deep]
    records = [
        own(reference="J1"),
        {**own(reference="J2"), "sequence": 2**64 + 1},
        {**own(reference="J3"), "agenda_note": deep},
        {**own(reference="J4"), "gross_rate": 10**400},
        own(reference="J5", gross_rate="NaN"),
        own(reference="J6"),
    ]
    payload = json.dumps(records).replace('"NaN"', "NaN").encode()
    result = _ingest(tmp_path, "f.json", payload, "json")
    assert result.exit_code == 0, result.output
    report = orjson.loads(result.stdout)
    assert (report["accepted"], report["quarantined"]) == (2, 4)
    with db.session_scope() as session:
        entries = {q.source_ref: q for q in session.exec(select(QuarantinedRecord))}
    assert "64-bit" in entries["J2"].reason and entries["J2"].position == "record 2"
    assert "nested deeper" in entries["J3"].reason
    assert "64-bit" in entries["J4"].reason
    assert "not a number" in entries["J5"].reason or "finite" in entries["J5"].reason


@pytest.mark.parametrize(
    ("payload", "fmt"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "json"),
        (b"reference,symbol\nA\x00,AAPL\n" + b"\xff\xfe", "csv"),
        (seev031().replace("AAPL", "AA\x00PL").encode(), "seev031"),
        (b'{"results": [\x00]}', "polygon"),
        (b"<a>" * 5000 + b"</a>" * 5000, "seev031"),
    ],
    ids=["100k-deep-json", "csv-not-utf8", "xml-with-NUL", "json-with-NUL", "deep-xml"],
)
def test_a_file_that_cannot_be_read_is_one_quarantine_entry_and_exit_2(
    pg_registered: str, tmp_path: Path, payload: bytes, fmt: str
) -> None:
    result = _ingest(tmp_path, f"f.{fmt}", payload, fmt)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "internal" not in lines[0]
    with db.session_scope() as session:
        [entry] = session.exec(select(QuarantinedRecord)).all()
    assert entry.position == "file" and entry.format == fmt
    assert "\x00" not in entry.raw_payload


def test_a_file_over_the_size_limit_is_refused_whole_keeping_its_head(
    pg_registered: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CORPACTIONS_FEED_MAX_BYTES", "4096")
    get_settings.cache_clear()
    rows = csv_rows(*[own(reference=f"R{i}") for i in range(200)])
    assert len(rows) > 4096
    result = _ingest(tmp_path, "big.csv", rows, "csv")
    assert result.exit_code == 2 and "CORPACTIONS_FEED_MAX_BYTES" in result.output
    with db.session_scope() as session:
        [entry] = session.exec(select(QuarantinedRecord)).all()
        assert session.exec(select(CorporateAction)).all() == []
    assert entry.raw_payload.startswith("reference,symbol") and len(entry.raw_payload) <= 4096


def test_a_seev031_with_an_absurd_exponent_is_refused_at_once(
    pg_registered: str, tmp_path: Path
) -> None:
    started = time.perf_counter()
    result = _ingest(tmp_path, "n.xml", seev031(gross="1E+999999999").encode(), "seev031")
    assert time.perf_counter() - started < 5  # was 21 s and 2 GB
    assert result.exit_code == 0, result.output
    with db.session_scope() as session:
        [entry] = session.exec(select(QuarantinedRecord)).all()
    assert "GrssDvddRate" in entry.reason and "out of bounds" in entry.reason
    assert entry.position == "Document 1"


# ----- the quarantine: every reason, origin, position; requeue ----------------------------------


def test_a_record_with_several_faults_lists_every_reason(
    pg_registered: str, tmp_path: Path
) -> None:
    row = own(
        reference="M1",
        symbol="ZZZZ",
        record_date="2026-13-45",
        gross_rate="abc",
        currency="EUR",
    )
    result = _ingest(tmp_path, "m.csv", csv_rows(row), "csv")
    assert result.exit_code == 0
    listed = orjson.loads(runner.invoke(app, ["feeds", "quarantine", "--json"]).stdout)
    [entry] = listed
    text = " | ".join(entry["reasons"])
    assert "record_date" in text and "gross_rate" in text
    assert len(entry["reasons"]) >= 2
    assert entry["position"] == "line 2" and entry["origin"].endswith("m.csv")
    assert entry["format"] == "csv"


def test_requeue_takes_a_record_in_once_its_instrument_is_registered(
    ledger: str, tmp_path: Path
) -> None:
    with db.session_scope() as session:
        _register(session, "AAPL")
    result = _ingest(
        tmp_path, "p.json", polygon_page([polygon_dividend(id="D-MSFT", ticker="MSFT")]), "polygon"
    )
    assert orjson.loads(result.stdout)["quarantined"] == 1
    [entry] = orjson.loads(runner.invoke(app, ["feeds", "quarantine", "--json"]).stdout)
    assert "unknown ticker MSFT" in entry["reason"] and entry["position"] == "record 1"
    still = runner.invoke(app, ["feeds", "requeue", str(entry["id"])])
    assert still.exit_code == 2 and "still refused" in still.output
    assert "Traceback" not in still.output
    with db.session_scope() as session:
        _register(session, "MSFT")
    taken = runner.invoke(app, ["feeds", "requeue", str(entry["id"]), "--json"])
    assert taken.exit_code == 0, taken.output
    assert orjson.loads(taken.stdout)["accepted"] == 1
    with db.session_scope() as session:
        version = _current(session, "polygon", "D-MSFT")
        assert str(version.gross_rate) == "0.26"
        row = session.get(QuarantinedRecord, entry["id"])
        assert row is not None and row.requeued_at is not None
        assert row.requeued_action_id == version.action_id
    twice = runner.invoke(app, ["feeds", "requeue", str(entry["id"])])
    assert twice.exit_code == 2 and "already taken in" in twice.output
    missing = runner.invoke(app, ["feeds", "requeue", "999999"])
    assert missing.exit_code == 2 and missing.output.startswith("error: no quarantined record")
    bad = runner.invoke(app, ["feeds", "requeue", "abc"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output


# ----- property: whatever arrives, records are stored or quarantined, nothing escapes ----------

_HOSTILE_TEXT = st.one_of(
    st.text(max_size=30),
    st.text(min_size=120, max_size=200),  # past the columns' lengths
    st.sampled_from(["merger", "ticker_change", "other", "cash_dividend", "EURO", "USD"]),
    st.sampled_from(["1e308", "1E+999999999", "-0", "NaN", "Infinity", "0,24", "9" * 40]),
    st.text(alphabet=st.characters(max_codepoint=0x1F), max_size=5),
)
_JSON = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**80), max_value=2**80),
        _HOSTILE_TEXT,
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
_FIELDS = ["ticker", "cash_amount", "record_date", "pay_date", "ex_dividend_date", "id", "currency"]


@st.composite
def _payloads(draw: st.DrawFn) -> tuple[str, bytes]:
    fmt = draw(st.sampled_from(["polygon", "alpaca", "json", "csv", "seev031"]))
    kind = draw(st.sampled_from(["bytes", "mutated", "spliced"]))
    if kind == "bytes":
        return fmt, draw(st.binary(max_size=600))
    if fmt == "polygon":
        record: dict[str, Any] = polygon_dividend()
        for name in draw(st.lists(st.sampled_from(_FIELDS), max_size=3)):
            record[name] = draw(_JSON)
        good = json.dumps({"results": [polygon_dividend(id="OK"), record]}).encode()
    elif fmt == "alpaca":
        record = alpaca()
        for name in draw(st.lists(st.sampled_from(["cash", "ex_date", "updated_at"]), max_size=3)):
            record[name] = draw(_JSON)
        good = json.dumps([record]).encode()
    elif fmt == "json":
        record = own()
        for name in draw(st.lists(st.sampled_from([*own(), "sequence"]), max_size=3)):
            record[name] = draw(_JSON)
        good = json.dumps([own(reference="OK"), record]).encode()
    elif fmt == "csv":
        record = own()
        for name in draw(st.lists(st.sampled_from(list(own())), max_size=3)):
            record[name] = draw(_HOSTILE_TEXT)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(own()))
        writer.writeheader()
        writer.writerow(own(reference="OK"))
        writer.writerow(record)
        good = buffer.getvalue().encode()
    else:
        gross = draw(_HOSTILE_TEXT.map(escape))
        created = draw(st.one_of(st.just("2026-10-30T09:00:00Z"), _HOSTILE_TEXT.map(escape)))
        event = draw(st.sampled_from(["DVCA", "MRGR", "CHAN", "ZZZZ"]))
        good = seev031(gross=gross, created=created, event=event).encode()
    if kind == "spliced":
        at = draw(st.integers(min_value=0, max_value=len(good)))
        good = good[:at] + draw(st.binary(min_size=1, max_size=8)) + good[at:]
    return fmt, good


@pytest.fixture(scope="module")
def property_engine(pg_url: str) -> Any:
    from tests.conftest import truncate_all

    truncate_all(pg_url)
    engine = db.get_engine(pg_url)
    with Session(engine) as session:
        _register(session)
        session.commit()
    yield engine
    truncate_all(pg_url)


@settings(max_examples=300, deadline=None)
@given(payload=_payloads())
def test_any_payload_ends_as_stored_plus_quarantined_records_and_nothing_escapes(
    property_engine: Any, payload: tuple[str, bytes]
) -> None:
    """Random bytes and random JSON/CSV/XML mutations, on PostgreSQL (which refuses NUL in
    text): every record is stored or quarantined, a payload that cannot be read is exactly
    one quarantine entry, and no exception escapes."""
    fmt, raw = payload
    with Session(property_engine) as session:
        try:
            try:
                records = parse_payload(FeedFormat(fmt), raw)
            except MalformedPayload as exc:
                report = quarantine_malformed(session, fmt, exc, raw, origin="test", fmt=fmt)
                assert report.quarantined == 1
                records = []
            else:
                report = ingest(records, session=session, origin="test", fmt=fmt)
                assert len(records) == (
                    report.accepted + report.amended + report.duplicate + report.quarantined
                )
            session.flush()
            stored = session.exec(select(QuarantinedRecord)).all()
            assert len(stored) == report.quarantined
            assert all(q.reasons and "\x00" not in q.raw_payload for q in stored)
        finally:
            session.rollback()


def test_a_polygon_correction_after_the_plan_marks_the_plan_stale_and_keeps_the_snapshot(
    pg_ledger: str,
) -> None:
    from decimal import Decimal

    from corpactions.feeds import polygon
    from corpactions.models import ActionStatus, Instrument, PayoutPlan, PlanStatus, Snapshot

    with db.session_scope() as session:
        _register(session)
        ingest(polygon.parse_page(polygon_page([polygon_dividend()])).records, session=session)
        action = session.exec(select(CorporateAction)).one()
        instrument = session.exec(select(Instrument).where(Instrument.symbol == "AAPL")).one()
        snapshot = Snapshot(
            instrument_id=instrument.id or 0,
            action_id=action.id,
            slot=1,
            supply=1,
            account_count=1,
            owner_count=1,
            path="x",
            sha256="0" * 64,
        )
        session.add(snapshot)
        session.flush()
        session.add(
            PayoutPlan(
                action_id=action.id or 0,
                action_version=1,
                snapshot_id=snapshot.id or 0,
                rate_per_share=Decimal("0.26"),
                gross_pool=1,
                plan_hash="h",
                created_by="maker",
            )
        )
        action.status = ActionStatus.planned
    with db.session_scope() as session:
        corrected = polygon.parse_page(polygon_page([polygon_dividend(cash_amount=0.27)]))
        report = ingest(corrected.records, session=session)
        assert report.amended == 1
        plan = session.exec(select(PayoutPlan)).one()
        assert plan.status == PlanStatus.stale and "version 2" in (plan.stale_reason or "")
        assert session.exec(select(Snapshot)).one().stale_reason is None  # same record date
        action = session.exec(select(CorporateAction)).one()
        assert (action.status, action.current_version) == (ActionStatus.snapshotted, 2)
        assert str(_current(session, "polygon", polygon_dividend()["id"]).gross_rate) == "0.27"


def test_an_oversized_provider_response_is_read_no_further_and_quarantined_as_one_record(
    polygon_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CORPACTIONS_FEED_MAX_BYTES", "2048")
    get_settings.cache_clear()
    big = [polygon_dividend(id=f"D{i}") for i in range(60)]
    assert len(polygon_page(big)) > 2048
    report = _polygon_pull(big)
    assert (report.accepted, report.quarantined) == (0, 1)
    with db.session_scope() as session:
        [entry] = session.exec(select(QuarantinedRecord)).all()
    assert "CORPACTIONS_FEED_MAX_BYTES" in entry.reason and entry.position == "page 1"
    assert entry.origin is not None and entry.origin.startswith("polygon pull at ")
    assert len(entry.raw_payload) <= 4096

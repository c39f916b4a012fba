"""Corporate-action feeds: every documented payload shape, versioning, quarantine, HTTP pulls."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import httpx
import orjson
import pytest
import redis
import respx
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from python_iso20022.seev.seev_031_001_14.models import (  # type: ignore[import-untyped]
    CorporateActionNotificationV14Seev03100114,
)
from python_iso20022.seev.seev_039_001_12.models import (  # type: ignore[import-untyped]
    CorporateActionCancellationAdviceV12Seev03900112,
)
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, SQLModel, select
from typer.testing import CliRunner

from corpactions import db
from corpactions.cli import app
from corpactions.config import get_settings
from corpactions.errors import ConfigurationError, FeedError
from corpactions.feeds import alpaca, ownformat, polygon, seev031
from corpactions.feeds.http import FeedUnavailable, retry_after_seconds
from corpactions.feeds.inbox import ingest_inbox
from corpactions.feeds.ingest import ingest
from corpactions.feeds.normalized import NormalizedAction, Rejected
from corpactions.feeds.pull import pull
from corpactions.instruments import add_instrument
from corpactions.models import (
    ActionKind,
    ActionStatus,
    CorporateAction,
    CorporateActionVersion,
    Instrument,
    PayoutPlan,
    PlanStatus,
    QuarantinedRecord,
    Snapshot,
)
from tests.feed_corpus import (
    CASES,
    MINTS,
    Case,
    alpaca_list,
    csv_rows,
    own,
    polygon_dividend,
    polygon_page,
    seev039,
)
from tests.feed_corpus import seev031 as seev_doc
from tests.isoschema import problems

runner = CliRunner()


def _register(session: Session) -> None:
    for symbol, mint in MINTS.items():
        add_instrument(session=session, symbol=symbol, mint=mint)


@pytest.fixture
def registered(sqlite_ledger: str) -> str:
    with db.session_scope() as session:
        _register(session)
    return sqlite_ledger


def test_the_corpus_covers_every_format_with_at_least_forty_cases() -> None:
    assert len(CASES) >= 40
    assert set(Counter(case.fmt for case in CASES)) == {
        "polygon",
        "alpaca",
        "seev031",
        "csv",
        "json",
    }
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_feed_case(case: Case, registered: str, tmp_path: Path) -> None:
    path = tmp_path / f"feed.{case.fmt}"
    path.write_bytes(case.payload)
    result = runner.invoke(app, ["feeds", "ingest", str(path), "--format", case.fmt, "--json"])
    assert result.exit_code == case.exit_code, result.output
    with db.session_scope() as session:
        quarantined = session.exec(select(QuarantinedRecord)).all()
        actions = session.exec(select(CorporateAction)).all()
        assert len(quarantined) == case.quarantined
        if case.reason:
            assert (
                any(case.reason in q.reason for q in quarantined) or case.reason in result.output
            ), (
                [q.reason for q in quarantined],
                result.output,
            )
        assert all(q.raw_payload for q in quarantined)  # nothing is lost
        if case.exit_code == 0:
            report = orjson.loads(result.stdout)
            counts = {
                k: report[k]
                for k in ("accepted", "amended", "duplicate", "quarantined", "cancelled")
            }
            assert counts == {
                "accepted": case.accepted,
                "amended": case.amended,
                "duplicate": case.duplicate,
                "quarantined": case.quarantined,
                "cancelled": case.cancelled,
            }
        else:
            lines = [line for line in result.output.splitlines() if line.strip()]
            assert len(lines) == 1 and lines[0].startswith("error: ") and case.reason in lines[0]
            assert actions == []
        if case.expect:
            assert len(actions) == 1
            action = actions[0]
            version = session.exec(
                select(CorporateActionVersion).where(
                    CorporateActionVersion.action_id == action.id,
                    CorporateActionVersion.version == action.current_version,
                )
            ).one()
            for key, want in case.expect.items():
                if key == "status":
                    got: Any = str(action.status)
                elif key == "special":
                    got = version.details.get("special", False)
                else:
                    got = getattr(version, key)
                if isinstance(got, date):
                    got = got.isoformat()
                elif got is not None and not isinstance(got, bool | str):
                    got = str(got)
                assert got == want, (key, got, want)


@pytest.mark.parametrize(
    "shape",
    [
        {},
        {"function": "REPL", "created": "2026-11-01T09:00:00Z", "gross": "0.27"},
        {"status": ("INCO", "UCON")},
        {"event": "DVSE", "gross": None, "net": None, "tax": None, "additional": ("1", "20")},
        {"event": "SPLF", "gross": None, "net": None, "tax": None, "ratio": ("2", "1")},
        {
            "event": "SPLR",
            "gross": None,
            "net": None,
            "tax": None,
            "ratio": ("1", "10"),
            "fraction": "CINL",
        },
    ],
    ids=["DVCA", "DVCA-REPL", "DVCA-unconfirmed", "DVSE", "SPLF", "SPLR-CINL"],
)
def test_the_seev031_test_payloads_are_valid_seev_031_001_14(shape: dict[str, Any]) -> None:
    """The payloads the reader is tested with are the real message: valid against the
    schema's generated model (so the reader's paths are the real ones)."""
    document = ET.fromstring(seev_doc(**shape))
    message = document.find("{*}Document/{*}CorpActnNtfctn")
    assert message is not None
    assert problems(message, CorporateActionNotificationV14Seev03100114, "/CorpActnNtfctn") == []


@pytest.mark.parametrize("reason", ["WITH", "PROC"])
def test_the_seev039_test_payloads_are_valid_seev_039_001_12(reason: str) -> None:
    document = ET.fromstring(seev039(reason=reason))
    advice = document.find("{*}Document/{*}CorpActnCxlAdvc")
    assert advice is not None
    assert problems(advice, CorporateActionCancellationAdviceV12Seev03900112, "/CxlAdvc") == []


def test_the_same_file_twice_changes_nothing(registered: str, tmp_path: Path) -> None:
    path = tmp_path / "feed.csv"
    path.write_bytes(csv_rows(own(), own(reference="B", gross_rate="0.5")))
    first = orjson.loads(
        runner.invoke(app, ["feeds", "ingest", str(path), "--format", "csv", "--json"]).stdout
    )
    second = orjson.loads(
        runner.invoke(app, ["feeds", "ingest", str(path), "--format", "csv", "--json"]).stdout
    )
    assert (first["accepted"], second["accepted"], second["duplicate"]) == (2, 0, 2)


def test_an_unreadable_file_exits_2_with_one_line(registered: str, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["feeds", "ingest", str(tmp_path / "missing.csv"), "--format", "csv"]
    )
    assert result.exit_code == 2
    assert result.output.strip().startswith("error: cannot read")


def test_stdin_is_read_with_a_dash(registered: str) -> None:
    result = runner.invoke(
        app, ["feeds", "ingest", "-", "--format", "csv", "--json"], input=csv_rows(own()).decode()
    )
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout)["accepted"] == 1


def test_quarantine_and_action_history_are_listed(registered: str, tmp_path: Path) -> None:
    path = tmp_path / "feed.csv"
    path.write_bytes(
        csv_rows(
            own(),
            own(sequence=2, gross_rate="0.30", function="REPL"),
            own(symbol="ZZZZ", reference="Z"),
        )
    )
    runner.invoke(app, ["feeds", "ingest", str(path), "--format", "csv"])
    quarantine = orjson.loads(runner.invoke(app, ["feeds", "quarantine", "--json"]).stdout)
    assert [q["source_ref"] for q in quarantine] == ["Z"] and "ZZZZ" in quarantine[0]["raw_payload"]
    listed = orjson.loads(runner.invoke(app, ["actions", "list", "--json"]).stdout)
    assert len(listed) == 1 and listed[0]["gross_rate"] == "0.30"
    shown = orjson.loads(
        runner.invoke(app, ["actions", "show", str(listed[0]["id"]), "--json"]).stdout
    )
    assert [(v["version"], v["current"]) for v in shown["history"]] == [(1, False), (2, True)]
    assert shown["history"][0]["superseded_at"] is not None
    bad = runner.invoke(app, ["actions", "list", "--status", "nope"])
    assert bad.exit_code == 2 and "not one of" in bad.output


# ----- order does not matter --------------------------------------------------------------------


def _mixed_records() -> list[NormalizedAction | Rejected]:
    records: list[NormalizedAction | Rejected] = []
    records += seev031.parse_notifications(
        (
            "<B>"
            + seev_doc()
            + seev_doc(function="REPL", created="2026-11-01T00:00:00Z", gross="0.27")
            + "</B>"
        ).encode()
    )
    records += seev031.parse_notifications(
        (
            "<B>"
            + seev_doc(reference="E2")
            + seev_doc(reference="E2", function="CANC", created="2026-11-05T00:00:00Z")
            + "</B>"
        ).encode()
    )
    records += ownformat.parse_csv(
        csv_rows(
            own(sequence=1),
            own(sequence=3, gross_rate="0.31"),
            own(sequence=2, gross_rate="0.29"),
            own(reference="X", symbol="ZZZZ"),
        )
    )
    records += polygon.parse_page(
        polygon_page(
            [
                polygon_dividend(),
                polygon_dividend(),
                polygon_dividend(cash_amount=0.3),
                polygon_dividend(id="bad", record_date=None),
            ]
        )
    ).records
    records += alpaca.parse_announcements(alpaca_list(*json.loads(alpaca_list())))
    return records


def _state(session: Session) -> Any:
    actions = {}
    for action in session.exec(select(CorporateAction)):
        versions = session.exec(
            select(CorporateActionVersion).where(CorporateActionVersion.action_id == action.id)
        ).all()
        current = next(v for v in versions if v.version == action.current_version)
        actions[(action.source, action.source_ref)] = (
            str(action.status),
            current.payload_sha256,
            frozenset(v.payload_sha256 for v in versions),
            frozenset(v.payload_sha256 for v in versions if v.superseded_at is None),
        )
    quarantined = frozenset(
        (q.source, q.payload_sha256, q.reason) for q in session.exec(select(QuarantinedRecord))
    )
    return actions, quarantined


@pytest.fixture(scope="module")
def memory_engine() -> Iterator[sa.Engine]:
    engine = sa.create_engine(
        "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
    )
    SQLModel.metadata.create_all(engine)
    yield engine
    engine.dispose()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    order=st.permutations(list(range(len(_mixed_records())))), chunk=st.sampled_from([1, 3, 1000])
)
def test_any_order_of_the_same_records_ends_in_the_same_state(
    memory_engine: sa.Engine, order: list[int], chunk: int
) -> None:
    """Sources with an ordering of their own (seev.031 creation dates, the own format's
    sequence) end in the same state whatever the order of arrival; sources without one
    (Polygon, Alpaca without updated_at) end on the version received last."""
    records = _mixed_records()
    states = []
    for sequence in (list(range(len(records))), order):
        with memory_engine.begin() as conn:
            for table in reversed(SQLModel.metadata.sorted_tables):
                conn.execute(table.delete())
        with Session(memory_engine) as session:
            _register(session)
            session.commit()
            arrived = [records[i] for i in sequence]
            ingest(arrived, session=session, chunk_size=chunk)
            session.commit()
            actions, quarantined = _state(session)
        last_new: dict[tuple[str, str], str] = {}
        seen: set[tuple[str, str, str]] = set()
        for record in arrived:
            if isinstance(record, NormalizedAction) and record.sequence == "":
                key = (record.source, record.source_ref)
                if key not in actions:
                    continue  # quarantined
                if (*key, record.payload_sha256) not in seen:
                    seen.add((*key, record.payload_sha256))
                    last_new[key] = record.payload_sha256
        for key, sha in last_new.items():
            assert actions[key][1] == sha, key  # the one received last is current
        ordered = {k: v for k, v in actions.items() if k not in last_new}
        unordered = {k: (v[0], v[2]) for k, v in actions.items() if k in last_new}
        states.append((ordered, unordered, quarantined))
    assert states[0] == states[1]
    ordered, unordered, quarantined = states[0]
    assert ordered[("seev031", "E2")][0] == "cancelled"
    assert ("polygon", polygon_dividend()["id"]) in unordered
    assert len(quarantined) == 2


def _stored(session: Session) -> tuple[Any, Any, Any]:
    """Every stored column of actions, versions and quarantined records, minus row ids and
    times of writing, keyed by what identifies them."""
    skip = {"id", "action_id", "created_at", "updated_at", "received_at"}

    def rows(model: Any) -> list[dict[str, Any]]:
        return [
            dict(r) for r in session.connection().execute(sa.select(model.__table__)).mappings()
        ]

    keys = {}
    actions = {}
    for action in rows(CorporateAction):
        keys[action["id"]] = (action["source"], action["source_ref"])
        actions[keys[action["id"]]] = {k: v for k, v in action.items() if k not in skip}
    versions = {}
    for version in rows(CorporateActionVersion):
        version["superseded_at"] = version["superseded_at"] is not None
        versions[(*keys[version["action_id"]], version["version"])] = {
            k: v for k, v in version.items() if k not in skip
        }
    quarantined = {
        (q["source"], q["payload_sha256"]): {k: v for k, v in q.items() if k not in skip}
        for q in rows(QuarantinedRecord)
    }
    return actions, versions, quarantined


def test_postgresql_copy_stores_exactly_what_an_insert_stores(
    pg_ledger: str, memory_engine: sa.Engine
) -> None:
    """On PostgreSQL new rows go in by COPY (after each column's bind processing); read back,
    every column equals what the portable INSERT path stored in SQLite."""
    records = _mixed_records()
    with memory_engine.begin() as conn:
        for table in reversed(SQLModel.metadata.sorted_tables):
            conn.execute(table.delete())
    stored = []
    for engine in (db.get_engine(pg_ledger), memory_engine):
        with Session(engine) as session:
            _register(session)
            session.commit()
            ingest(records, session=session, chunk_size=3)  # later chunks amend earlier ones
            session.commit()
            stored.append(_stored(session))
    assert stored[0] == stored[1]
    actions, versions, quarantined = stored[0]
    assert (len(actions), len(versions), len(quarantined)) == (4, 9, 2)


# ----- amendments after a snapshot or plan ------------------------------------------------------


def test_an_amendment_after_snapshot_and_plan_marks_them_stale(
    pg_ledger: str, tmp_path: Path
) -> None:
    with db.session_scope() as session:
        _register(session)
        ingest(ownformat.parse_csv(csv_rows(own(sequence=1))), session=session)
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
        plan = PayoutPlan(
            action_id=action.id or 0,
            action_version=1,
            snapshot_id=snapshot.id or 0,
            rate_per_share=__import__("decimal").Decimal("0.26"),
            gross_pool=1,
            plan_hash="h",
            created_by="maker",
        )
        session.add(plan)
        action.status = ActionStatus.planned
    with db.session_scope() as session:  # a pay-date change: plan stale, snapshot still fits
        report = ingest(
            ownformat.parse_csv(csv_rows(own(sequence=2, pay_date="2026-11-20", function="REPL"))),
            session=session,
        )
        assert report.amended == 1
        assert session.exec(select(PayoutPlan)).one().status == PlanStatus.stale
        assert session.exec(select(Snapshot)).one().stale_reason is None
        assert session.exec(select(CorporateAction)).one().status == ActionStatus.snapshotted
    with db.session_scope() as session:  # a record-date change: the snapshot no longer fits
        ingest(
            ownformat.parse_csv(
                csv_rows(
                    own(
                        sequence=3,
                        record_date="2026-11-12",
                        ex_date="2026-11-12",
                        pay_date="2026-11-20",
                        function="REPL",
                    )
                )
            ),
            session=session,
        )
        assert "record date" in (session.exec(select(Snapshot)).one().stale_reason or "")
        action = session.exec(select(CorporateAction)).one()
        assert action.status == ActionStatus.confirmed and action.current_version == 3


# ----- HTTP pulls ---------------------------------------------------------------------------------


@pytest.fixture
def polygon_settings(registered: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORPACTIONS_POLYGON_API_KEY", "test-key")
    monkeypatch.setenv("CORPACTIONS_POLYGON_BASE_URL", "https://polygon.test")
    monkeypatch.setenv("CORPACTIONS_FEED_MAX_RETRIES", "3")
    get_settings.cache_clear()
    with db.session_scope() as session:
        session.exec(select(Instrument).where(Instrument.symbol == "MSFT")).one().active = False


def test_a_three_page_polygon_listing_is_read_to_the_end(polygon_settings: None) -> None:
    pages = [
        polygon_page(
            [polygon_dividend(id="P1")], "https://polygon.test/v3/reference/dividends?cursor=p2"
        ),
        polygon_page(
            [
                polygon_dividend(
                    id="P2",
                    ex_dividend_date="2026-08-10",
                    record_date="2026-08-10",
                    pay_date="2026-08-13",
                )
            ],
            "https://polygon.test/v3/reference/dividends?cursor=p3",
        ),
        polygon_page(
            [
                polygon_dividend(
                    id="P3",
                    ex_dividend_date="2026-05-10",
                    record_date="2026-05-10",
                    pay_date="2026-05-13",
                ),
                polygon_dividend(id="P4", ticker="ZZZZ"),
            ]
        ),
    ]
    with respx.mock(assert_all_called=True) as mock:
        by_cursor = {None: pages[0], "p2": pages[1], "p3": pages[2]}
        first = mock.get("https://polygon.test/v3/reference/dividends").mock(
            side_effect=lambda request: httpx.Response(
                200, content=by_cursor[request.url.params.get("cursor")]
            )
        )
        mock.get("https://polygon.test/v3/reference/splits").mock(
            return_value=httpx.Response(200, content=polygon_page([]))
        )
        with db.session_scope() as session:
            report = pull(session=session, source="polygon", since=date(2026, 1, 1))
        request = first.calls[0].request
        assert request.headers["authorization"] == "Bearer test-key"
        assert request.url.params["ex_dividend_date.gte"] == "2026-01-01"
    assert (report.accepted, report.quarantined) == (3, 1)


def test_a_429_with_retry_after_is_waited_out(
    polygon_settings: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr("corpactions.feeds.http.asyncio.sleep", fake_sleep)
    with respx.mock() as mock:
        mock.get("https://polygon.test/v3/reference/dividends").mock(
            side_effect=[
                httpx.Response(429, headers={"Retry-After": "7"}),
                httpx.Response(503),
                httpx.Response(200, content=polygon_page([polygon_dividend()])),
            ]
        )
        mock.get("https://polygon.test/v3/reference/splits").mock(
            return_value=httpx.Response(200, content=polygon_page([]))
        )
        with db.session_scope() as session:
            report = pull(session=session, source="polygon", since=date(2026, 1, 1))
    assert report.accepted == 1
    assert waits[0] >= 7 and len(waits) == 2


def test_a_provider_that_stays_down_is_a_transient_error(
    polygon_settings: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def no_sleep(_seconds: float) -> None:
        return None

    monkeypatch.setattr("corpactions.feeds.http.asyncio.sleep", no_sleep)
    with respx.mock() as mock:
        route = mock.get("https://polygon.test/v3/reference/dividends").mock(
            return_value=httpx.Response(502)
        )
        with (
            db.session_scope() as session,
            pytest.raises(FeedUnavailable, match="HTTP 502") as caught,
        ):
            pull(session=session, source="polygon")
    assert route.call_count == 4 and caught.value.transient


def test_rejected_credentials_name_the_setting(polygon_settings: None) -> None:
    with respx.mock() as mock:
        mock.get("https://polygon.test/v3/reference/dividends").mock(
            return_value=httpx.Response(401)
        )
        with (
            db.session_scope() as session,
            pytest.raises(FeedError, match="CORPACTIONS_POLYGON_API_KEY"),
        ):
            pull(session=session, source="polygon")


def test_alpaca_pulls_in_windows_of_ninety_days(
    registered: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CORPACTIONS_ALPACA_KEY_ID", "kid")
    monkeypatch.setenv("CORPACTIONS_ALPACA_SECRET_KEY", "secret")
    monkeypatch.setenv("CORPACTIONS_ALPACA_BASE_URL", "https://alpaca.test")
    get_settings.cache_clear()
    with respx.mock() as mock:
        route = mock.get("https://alpaca.test/v2/corporate_actions/announcements").mock(
            side_effect=lambda request: httpx.Response(
                200,
                content=alpaca_list(
                    *(json.loads(alpaca_list()) if request.url.params["symbol"] == "MSFT" else [])
                ),
            ),
        )
        with db.session_scope() as session:
            pull(session=session, source="alpaca", since=date(2026, 1, 1), until=date(2026, 7, 1))
    windows = {(c.request.url.params["since"], c.request.url.params["until"]) for c in route.calls}
    assert windows == {
        ("2026-01-01", "2026-03-31"),
        ("2026-04-01", "2026-06-29"),
        ("2026-06-30", "2026-07-01"),
    }
    assert {c.request.headers["APCA-API-KEY-ID"] for c in route.calls} == {"kid"}


def test_pulling_without_credentials_says_which_setting(registered: str) -> None:
    with (
        db.session_scope() as session,
        pytest.raises(ConfigurationError, match="CORPACTIONS_POLYGON_API_KEY"),
    ):
        pull(session=session, source="polygon")
    result = runner.invoke(app, ["feeds", "pull", "--source", "alpaca"])
    assert result.exit_code == 2 and "CORPACTIONS_ALPACA_KEY_ID" in result.output
    bad = runner.invoke(app, ["feeds", "pull", "--source", "polygon", "--since", "yesterday"])
    assert bad.exit_code == 2 and "not a date" in bad.output


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("3", now=now) == 3
    assert retry_after_seconds("Thu, 26 Nov 2026 12:00:10 GMT", now=now) == 10
    assert retry_after_seconds("soon", now=now) == 0
    assert retry_after_seconds(None) == 0


def test_kinds_are_the_issue_minimum() -> None:
    assert {k.value for k in ActionKind} >= {
        "cash_dividend",
        "stock_dividend",
        "forward_split",
        "reverse_split",
        "meeting",
    }


def test_the_pull_task_pulls_each_configured_source_then_asks_for_due_snapshots(
    polygon_settings: None, redis_client: redis.Redis
) -> None:
    from tasks.feeds import pull_all

    with respx.mock() as mock:
        mock.get("https://polygon.test/v3/reference/dividends").mock(
            return_value=httpx.Response(200, content=polygon_page([polygon_dividend()]))
        )
        mock.get("https://polygon.test/v3/reference/splits").mock(
            return_value=httpx.Response(200, content=polygon_page([]))
        )
        result = pull_all.apply().get()
    assert set(result) == {"inbox", "polygon"} and result["polygon"]["accepted"] == 1
    [message] = [orjson.loads(m) for m in redis_client.lrange("snapshots", 0, -1)]
    assert message["headers"]["task"] == "tasks.snapshots.take_due"


def test_inbox_files_are_ingested_by_their_ending_and_filed_away(registered: str) -> None:
    inbox = get_settings().inbox_dir
    inbox.mkdir(parents=True)
    (inbox / "issuer.csv").write_bytes(csv_rows(own()))
    (inbox / "vendor.polygon.json").write_bytes(polygon_page([polygon_dividend()]))
    (inbox / "notes.txt").write_text("not a feed")
    reports = ingest_inbox(session_factory=db.session_scope)
    assert reports["issuer.csv"]["accepted"] == 1
    assert reports["vendor.polygon.json"]["accepted"] == 1
    assert sorted(p.name.split("-", 1)[1] for p in (inbox / "done").iterdir()) == [
        "issuer.csv",
        "vendor.polygon.json",
    ]
    assert (inbox / "notes.txt").exists()  # unknown format: left for a person
    assert ingest_inbox(session_factory=db.session_scope) == {}  # nothing waits any more


def test_an_inbox_file_that_is_not_its_format_is_rejected_and_quarantined_whole(
    registered: str,
) -> None:
    inbox = get_settings().inbox_dir
    inbox.mkdir(parents=True)
    (inbox / "broken.json").write_bytes(b"{not json")
    reports = ingest_inbox(session_factory=db.session_scope)
    assert "rejected" in reports["broken.json"]
    [moved] = (inbox / "rejected").iterdir()
    assert moved.read_bytes() == b"{not json"
    with db.session_scope() as session:
        [record] = session.exec(select(QuarantinedRecord)).all()
    assert record.raw_payload == "{not json"

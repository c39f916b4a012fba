"""The holder payout-history API, over ledger data the real pipeline produced on the localnet."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from corpactions import db
from corpactions.api.app import create_app
from corpactions.config import get_settings
from corpactions.execution.protocol import execute_plan
from corpactions.models import PayoutLine, PayoutPlan
from tests.apikit import ApiData
from tests.chainkit import free_port
from tests.payflow import prepare

NOT_BASE58 = "0OIl" + "1" * 40


@pytest.fixture(scope="module")
def client(api_data: ApiData) -> Iterator[TestClient]:
    with TestClient(create_app()) as test_client:
        yield test_client


def _line(plan_id: int, owner: str) -> PayoutLine:
    with db.session_scope() as session:
        return session.exec(
            select(PayoutLine).where(PayoutLine.plan_id == plan_id, PayoutLine.owner == owner)
        ).one()


def _plan(plan_id: int) -> PayoutPlan:
    with db.session_scope() as session:
        plan = session.get(PayoutPlan, plan_id)
        assert plan is not None
        return plan


def _usdc(base_units: int) -> str:
    return f"{base_units // 10**6}.{base_units % 10**6:06d}"


def test_a_paid_line_shows_action_shares_amounts_status_signature_and_slot(
    client: TestClient, api_data: ApiData
) -> None:
    owner = api_data.owners[1]
    line = _line(api_data.paid.plan_id, owner)
    body = client.get(f"/v1/holders/{owner}/payouts").json()
    [item] = [i for i in body["items"] if i["plan_id"] == api_data.paid.plan_id]
    assert item["action"]["symbol"] == "AAPL"
    assert item["action"]["kind"] == "cash_dividend"
    assert item["action"]["pay_date"] == "2026-11-13"
    assert item["action"]["rate_per_share"] == "0.2475"
    assert item["shares"]["raw"] == str(line.shares)
    assert item["shares"]["ui_amount"] == f"{line.shares / 10**8:.8f}"
    assert item["gross"] == {
        "base_units": str(line.gross),
        "display": _usdc(line.gross),
        "asset": "USDC",
        "unit": "USDC",
    }
    assert item["withholding"]["base_units"] == str(line.withholding)
    assert item["net"]["base_units"] == str(line.gross - line.withholding)
    assert item["status"] == "paid"
    assert item["signature"] == line.signature and item["slot"] == line.slot
    assert item["carried_into_plan"] is None
    assert line.signature is not None


def test_history_is_newest_first_and_pages_with_a_cursor(
    client: TestClient, api_data: ApiData
) -> None:
    owner = api_data.owners[2]
    first = client.get(f"/v1/holders/{owner}/payouts", params={"limit": 1}).json()
    assert [i["plan_id"] for i in first["items"]] == [api_data.pending_plan]
    assert first["items"][0]["status"] == "pending"
    assert first["items"][0]["signature"] is None
    second = client.get(
        f"/v1/holders/{owner}/payouts", params={"limit": 1, "cursor": first["next_cursor"]}
    ).json()
    assert [i["plan_id"] for i in second["items"]] == [api_data.paid.plan_id]
    assert second["next_cursor"] is None


def test_filters_by_symbol_and_pay_date(client: TestClient, api_data: ApiData) -> None:
    owner = api_data.owners[2]
    url = f"/v1/holders/{owner}/payouts"
    assert client.get(url, params={"symbol": "MSFT"}).json()["items"] == []
    assert len(client.get(url, params={"symbol": "aapl"}).json()["items"]) == 2
    in_2027 = client.get(url, params={"from": "2027-01-01"}).json()["items"]
    assert [i["plan_id"] for i in in_2027] == [api_data.pending_plan]
    in_2026 = client.get(url, params={"from": "2026-01-01", "to": "2026-12-31"}).json()["items"]
    assert [i["plan_id"] for i in in_2026] == [api_data.paid.plan_id]


def test_an_escrowed_line_says_so_with_its_reason(client: TestClient, api_data: ApiData) -> None:
    items = client.get(f"/v1/holders/{api_data.blocked}/payouts").json()["items"]
    [escrowed] = [i for i in items if i["plan_id"] == api_data.pending_plan]
    assert escrowed["status"] == "escrowed"
    assert escrowed["status_reason"] == "wallet blocked: KYC review"


def test_a_wallet_without_payouts_has_an_empty_history(client: TestClient) -> None:
    stranger = "11111111111111111111111111111111"
    assert client.get(f"/v1/holders/{stranger}/payouts").json()["items"] == []
    assert client.get(f"/v1/holders/{stranger}/summary").json()["rows"] == []


def test_the_summary_totals_each_symbol_and_year_and_counts_only_paid_as_paid(
    client: TestClient, api_data: ApiData
) -> None:
    owner = api_data.owners[3]
    paid = _line(api_data.paid.plan_id, owner)
    pending = _line(api_data.pending_plan, owner)
    rows = {
        (r["symbol"], r["year"]): r
        for r in client.get(f"/v1/holders/{owner}/summary").json()["rows"]
    }
    assert set(rows) == {("AAPL", 2026), ("AAPL", 2027)}
    assert rows[("AAPL", 2026)]["gross"]["base_units"] == str(paid.gross)
    assert rows[("AAPL", 2026)]["withheld"]["base_units"] == str(paid.withholding)
    assert rows[("AAPL", 2026)]["net"]["base_units"] == str(paid.net)
    assert rows[("AAPL", 2026)]["paid"]["base_units"] == str(paid.amount_due)
    assert rows[("AAPL", 2027)]["gross"]["base_units"] == str(pending.gross)
    assert rows[("AAPL", 2027)]["paid"]["base_units"] == "0"


@pytest.mark.parametrize(
    ("params", "headers"), [({"format": "csv"}, {}), ({}, {"Accept": "text/csv"})]
)
def test_the_summary_is_a_csv_file_when_asked(
    client: TestClient, api_data: ApiData, params: dict[str, str], headers: dict[str, str]
) -> None:
    owner = api_data.owners[3]
    response = client.get(f"/v1/holders/{owner}/summary", params=params, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    lines = response.text.splitlines()
    assert lines[0].startswith("symbol,year,lines,gross,gross_display")
    paid = _line(api_data.paid.plan_id, owner)
    assert lines[1].split(",")[:4] == ["AAPL", "2026", "1", str(paid.gross)]


@pytest.mark.parametrize(
    ("wallet", "fragment"),
    [
        (NOT_BASE58, "not base58"),
        ("1111", "decodes to 4 bytes, not 32"),
        ("So1111111111111111111111111111111111111111112", "not 32"),
    ],
)
def test_a_wallet_that_is_not_a_32_byte_base58_key_is_a_422_saying_why(
    client: TestClient, wallet: str, fragment: str
) -> None:
    for route in ("payouts", "summary"):
        response = client.get(f"/v1/holders/{wallet}/{route}")
        assert response.status_code == 422
        assert fragment in response.json()["detail"]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/holders/11111111111111111111111111111111/payouts?cursor=0",
        "/v1/holders/11111111111111111111111111111111/payouts?cursor=99999999999999999999",
        "/v1/holders/11111111111111111111111111111111/payouts?limit=501",
        "/v1/holders/11111111111111111111111111111111/payouts?from=2026-13-01",
        "/v1/holders/11111111111111111111111111111111/payouts?symbol=A%00PL",
        "/v1/holders/11111111111111111111111111111111/summary?format=xml",
        "/v1/actions?status=bogus",
        "/v1/actions/99999999999",
    ],
)
def test_bad_parameters_are_422_never_500(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], str)  # one readable line


def test_a_validation_error_names_the_parameter_and_the_rule(client: TestClient) -> None:
    owner = "11111111111111111111111111111111"
    detail = client.get(f"/v1/holders/{owner}/payouts?limit=501").json()["detail"]
    assert detail == "limit: Input should be less than or equal to 500"


def test_unknown_ids_are_404_and_an_unpaid_plans_ledger_is_409(
    client: TestClient, api_data: ApiData
) -> None:
    assert client.get("/v1/actions/424242").status_code == 404
    assert client.get("/v1/plans/424242/ledger").status_code == 404
    response = client.get(f"/v1/plans/{api_data.pending_plan}/ledger")
    assert response.status_code == 409
    assert "no attested ledger" in response.json()["detail"]


def test_actions_are_listed_newest_first_and_filtered(client: TestClient) -> None:
    items = client.get("/v1/actions").json()["items"]
    assert [i["pay_date"] for i in items] == ["2027-02-13", "2026-11-13"]
    assert (
        client.get("/v1/actions", params={"status": "attested"}).json()["items"][0]["pay_date"]
        == "2026-11-13"
    )
    assert client.get("/v1/actions", params={"symbol": "MSFT"}).json()["items"] == []


def test_an_action_shows_versions_snapshot_plan_totals_and_attestation(
    client: TestClient, api_data: ApiData
) -> None:
    plan = _plan(api_data.paid.plan_id)
    body: dict[str, Any] = client.get(f"/v1/actions/{plan.action_id}").json()
    assert body["status"] == "attested"
    assert [v["version"] for v in body["versions"]] == [1]
    assert body["snapshot"]["owner_count"] >= len(api_data.owners)
    assert int(body["snapshot"]["supply"]) > 0
    [shown] = body["plans"]
    assert shown["plan_hash"] == plan.plan_hash
    assert shown["sent_total"]["base_units"] == str(plan.sent_total)
    assert shown["attestation_signature"] == plan.attestation_signature
    assert shown["ledger_sha256"] == plan.ledger_sha256


def test_the_ledger_endpoint_serves_the_exact_attested_file(
    client: TestClient, api_data: ApiData
) -> None:
    response = client.get(f"/v1/plans/{api_data.paid.plan_id}/ledger")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert (
        hashlib.sha256(response.content).hexdigest() == _plan(api_data.paid.plan_id).ledger_sha256
    )


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}


def test_the_only_route_that_writes_is_casting_a_ballot(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    writes = {
        (path, method)
        for path, operations in paths.items()
        for method in operations
        if method not in {"get", "head", "parameters"}
    }
    assert writes == {("/v1/meetings/{meeting_id}/ballots", "post")}
    owner = "11111111111111111111111111111111"
    assert client.post(f"/v1/holders/{owner}/payouts").status_code == 405


def test_cors_is_off_by_default_and_on_for_configured_origins(
    api_data: ApiData, monkeypatch: pytest.MonkeyPatch
) -> None:
    with TestClient(create_app()) as closed:
        response = closed.get("/healthz", headers={"Origin": "https://wallet.example"})
        assert "access-control-allow-origin" not in response.headers
    monkeypatch.setenv("CORPACTIONS_API_CORS_ORIGINS", '["https://wallet.example"]')
    get_settings.cache_clear()
    try:
        with TestClient(create_app()) as open_:
            response = open_.get("/healthz", headers={"Origin": "https://wallet.example"})
            assert response.headers["access-control-allow-origin"] == "https://wallet.example"
    finally:
        monkeypatch.delenv("CORPACTIONS_API_CORS_ORIGINS")
        get_settings.cache_clear()


def test_the_holder_page_is_served_at_the_root_with_the_explorer_link(
    client: TestClient,
) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert 'content="https://explorer.solana.com/tx/{signature}"' in response.text


def test_the_api_serves_the_embedded_sqlite_ledger_too(
    sqlite_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = prepare(monkeypatch, localnet_url, tmp_path / "keys", holders=3)
    execute_plan(flow.plan_id, session_factory=db.session_scope)
    with db.session_scope() as session:
        line = session.exec(select(PayoutLine).where(PayoutLine.plan_id == flow.plan_id)).first()
        assert line is not None
    with TestClient(create_app()) as sqlite_client:
        [item] = sqlite_client.get(f"/v1/holders/{line.owner}/payouts").json()["items"]
        assert item["status"] == "paid" and item["signature"] == line.signature
        assert item["net"]["base_units"] == str(line.net)
        [row] = sqlite_client.get(f"/v1/holders/{line.owner}/summary").json()["rows"]
        assert row["paid"]["base_units"] == str(line.amount_due)


def test_money_objects_say_their_asset_and_unit(client: TestClient, api_data: ApiData) -> None:
    owner = api_data.owners[1]
    [item, *_] = client.get(f"/v1/holders/{owner}/payouts").json()["items"]
    for key in ("gross", "withholding", "net", "carried_in", "amount_due"):
        assert (item[key]["asset"], item[key]["unit"]) == ("USDC", "USDC")
    assert (item["kind"], item["kind_label"]) == ("cash_dividend", "cash dividend")
    assert item["rate_meaning"] == "USD per share"
    summary = client.get(f"/v1/holders/{owner}/summary").json()
    assert {r["gross"]["unit"] for r in summary["rows"]} == {"USDC"}
    assert summary["shares_received"] == []
    action_id = _plan(api_data.paid.plan_id).action_id
    [plan, *_] = client.get(f"/v1/actions/{action_id}").json()["plans"]
    assert (plan["gross_pool"]["asset"], plan["kind_label"]) == ("USDC", "cash dividend")


def test_every_get_route_answers_head_without_a_body(client: TestClient, api_data: ApiData) -> None:
    owner = api_data.owners[1]
    for path in (f"/v1/holders/{owner}/payouts", "/v1/actions", "/healthz", "/"):
        got = client.get(path)
        head = client.head(path)
        assert head.status_code == got.status_code == 200, path
        assert head.content == b""
        assert head.headers["content-type"] == got.headers["content-type"]
    assert client.head("/v1/actions/999999").status_code == 404


def test_a_ballot_body_over_its_limit_is_refused_before_it_is_parsed(
    client: TestClient,
) -> None:
    from corpactions.api.limits import BALLOT_BODY_LIMIT

    too_big = b"{" + b" " * BALLOT_BODY_LIMIT + b"}"  # valid JSON would still be refused
    response = client.post(
        "/v1/meetings/1/ballots", content=too_big, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json() == {
        "detail": f"request body over {BALLOT_BODY_LIMIT} bytes; nothing was read"
    }

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"wallet": "'
        yield b"1" * BALLOT_BODY_LIMIT
        yield b'"}'

    chunked = client.post(
        "/v1/meetings/1/ballots", content=chunks(), headers={"content-type": "application/json"}
    )
    assert chunked.status_code == 413


def test_a_ledger_outage_is_a_503_naming_no_host_or_driver(
    api_data: ApiData, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql://corpactions:secret@127.0.0.1:{port}/ledger"
    monkeypatch.setenv("CORPACTIONS_DATABASE_URL", url)
    get_settings.cache_clear()
    owner = api_data.owners[1]
    try:
        with TestClient(create_app()) as down:
            for path in (
                f"/v1/holders/{owner}/payouts",
                f"/v1/holders/{owner}/summary",
                "/v1/actions",
                "/v1/meetings",
                "/healthz",
                "/readyz",
            ):
                response = down.get(path)
                assert response.status_code == 503, path
                text = response.text
                assert "unavailable" in text
                for secret in ("127.0.0.1", str(port), "psycopg", "postgresql", "secret"):
                    assert secret not in text, (path, text)
    finally:
        db.dispose_engines()
        get_settings.cache_clear()

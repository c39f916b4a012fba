"""The API served over HTTP by uvicorn: schemathesis against its OpenAPI schema, and the holder
page driven in headless Chromium (Debian's, through Playwright)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from playwright.sync_api import sync_playwright
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
)
from sqlmodel import select

from corpactions import db
from corpactions.api.app import create_app
from corpactions.feeds.ingest import ingest
from corpactions.feeds.ownformat import parse_json
from corpactions.models import Ballot, CorporateAction, Instrument, PayoutLine
from snapshots.take import take_snapshot
from tests.apikit import CHROMIUM, CHROMIUM_ARGS, ApiData, served

CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
"""No 5xx, and every response (200, 404, 409, 422) has the documented shape and media type."""


@pytest.fixture(scope="module")
def base_url(api_data: ApiData) -> Iterator[str]:
    with served(create_app()) as url:
        yield url


@pytest.fixture(scope="module")
def api_schema(base_url: str) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{base_url}/openapi.json")


@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode), ids=str)
def test_no_generated_request_gets_a_server_error(
    api_schema: schemathesis.BaseSchema, mode: schemathesis.GenerationMode
) -> None:
    """Valid and deliberately invalid requests to every operation of the served schema
    (negative cases only where an operation has parameters to get wrong)."""
    tried: dict[str, int] = {}
    for result in api_schema.get_all_operations():
        operation = result.ok()
        if (
            mode == schemathesis.GenerationMode.NEGATIVE
            and not operation.path_parameters
            and (not operation.query)
        ):
            continue

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=80,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case) -> None:
            response = case.call(timeout=10)
            tried[case.operation.label] = tried.get(case.operation.label, 0) + 1
            assert response.status_code < 500, (case.as_curl_command(), response.text[:300])
            case.validate_response(response, checks=CHECKS)

        run()
    assert len(tried) >= 5 and all(count > 0 for count in tried.values()), tried


def test_the_holder_page_shows_a_wallets_payouts_in_a_real_browser(
    base_url: str, api_data: ApiData
) -> None:
    owner = api_data.owners[1]
    with db.session_scope() as session:
        paid = session.exec(
            select(PayoutLine).where(
                PayoutLine.plan_id == api_data.paid.plan_id, PayoutLine.owner == owner
            )
        ).one()
    net = f"{paid.net // 10**6}.{paid.net % 10**6:06d}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(base_url + "/")
            page.fill("#wallet", owner)
            page.click("#show")
            page.wait_for_selector("#payouts tbody tr", timeout=15_000)
            rows = page.locator("#payouts tbody tr")
            assert rows.count() == 2  # the paid dividend and the approved one still to pay
            paid_row = page.locator(f'#payouts tbody tr[data-line="{paid.id}"]')
            cells = paid_row.locator("td").all_inner_texts()
            assert cells[1] == "AAPL"
            assert cells[2] == "cash dividend"
            assert cells[7] == f"{net} USDC"
            assert cells[8] == "paid"
            link = paid_row.locator("a").get_attribute("href")
            assert link == f"https://explorer.solana.com/tx/{paid.signature}"
            totals = page.locator("#totals tbody tr").all_inner_texts()
            assert any(t.startswith("AAPL\t2026") for t in totals)

            page.fill("#wallet", "not-a-wallet")
            page.click("#show")
            page.wait_for_function(  # past the "Loading…" the page shows while it asks
                "(m => m.length > 0 && !m.startsWith('Loading'))"
                "(document.getElementById('message').textContent)",
                timeout=15_000,
            )
            assert "not base58" in page.inner_text("#message")
        finally:
            browser.close()


PKCS8_ED25519_PREFIX = bytes.fromhex("302e020100300506032b657004220420")
INJECTED_WALLET = """
(() => {
  const wallet = %(wallet)s;
  const pkcs8 = Uint8Array.from(%(pkcs8)s);
  const publicKey = { toString: () => wallet };
  window.solana = {
    isPhantom: true,
    publicKey,
    connect: async () => ({ publicKey }),
    signMessage: async (bytes) => {
      const algorithm = { name: "Ed25519" };
      const key = await crypto.subtle.importKey("pkcs8", pkcs8, algorithm, false, ["sign"]);
      const signature = await crypto.subtle.sign(algorithm, key, bytes);
      return { signature: new Uint8Array(signature) };
    },
  };
})();
"""


def test_a_holder_votes_from_the_page_with_an_injected_wallet(
    base_url: str, api_data: ApiData, tmp_path: Path
) -> None:
    """The page builds the ballot, the wallet (WebCrypto Ed25519 with the holder's real key)
    signs it, the API verifies it: the ballot is stored with the holder's weight, and the page,
    opened again, shows the wallet's own current ballot."""
    meeting_id = _open_meeting()
    secrets = dict(
        (wallet, bytes(secret))
        for wallet, secret in orjson.loads(
            (Path(api_data.paid.seeded.keys_dir) / "holders.json").read_bytes()
        )
    )
    voter = next(w for w in api_data.owners if w in secrets and w != api_data.blocked)
    script = INJECTED_WALLET % {
        "wallet": orjson.dumps(voter).decode(),
        "pkcs8": list(PKCS8_ED25519_PREFIX + secrets[voter][:32]),
    }
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.add_init_script(script)
            page.goto(base_url + "/")
            page.fill("#wallet", voter)
            page.click("#show")
            box = page.locator(f'.meeting[data-meeting="{meeting_id}"]')
            box.wait_for(timeout=15_000)
            box.locator('select[data-item="1"]').select_option("against")
            box.locator("button.sign").click()
            page.wait_for_selector(".result.recorded", timeout=15_000)
            assert "Vote recorded" in box.locator(".result").inner_text()
            assert page.locator(".own-ballot").count() == 1
            fresh = browser.new_page()
            fresh.goto(base_url + "/?wallet=" + voter)
            own = fresh.locator(f'.meeting[data-meeting="{meeting_id}"] .own-ballot')
            own.wait_for(timeout=15_000)
            assert "Your current vote: item 1: against" in own.inner_text()
            shown = fresh.locator(f'.meeting[data-meeting="{meeting_id}"] select[data-item="1"]')
            assert shown.input_value() == "against"
        finally:
            browser.close()
    with db.session_scope() as session:
        [ballot] = session.exec(select(Ballot).where(Ballot.wallet == voter)).all()
    assert ballot.choices == {"1": "against"}
    assert ballot.weight > 0


def _open_meeting() -> int:
    deadline = datetime.now(UTC) + timedelta(hours=1)
    with db.session_scope() as session:
        ingest(
            parse_json(
                orjson.dumps(
                    [
                        {
                            "reference": "AGM-PAGE",
                            "symbol": "AAPL",
                            "kind": "meeting",
                            "record_date": "2026-11-10",
                            "meeting_date": "2027-03-01",
                            "vote_deadline": deadline.isoformat(),
                            "agenda": [{"id": "1", "text": "Elect the board"}],
                        }
                    ]
                )
            ),
            session=session,
        )
        action = session.exec(
            select(CorporateAction).where(CorporateAction.source_ref == "AGM-PAGE")
        ).one()
        instrument = session.exec(select(Instrument)).one()
        take_snapshot(session=session, instrument=instrument, action=action)
        return action.id or 0


def test_the_holder_page_says_the_token_is_backed_1_to_1_as_of_the_check(
    base_url: str, api_data: ApiData
) -> None:
    from corpactions.reserves.backing import check_instrument
    from corpactions.reserves.ingest import ingest_statement

    def statement(shares: str, statement_id: str, hours_ago: int) -> None:
        as_of = (datetime.now(UTC) - timedelta(hours=hours_ago)).isoformat()
        row = {"instrument": "AAPL", "shares": shares, "as_of": as_of}
        row |= {"custodian": "Custodian Bank NA", "statement_id": statement_id}
        with db.session_scope() as session:
            ingest_statement(session=session, payload=orjson.dumps([row]), fmt="json")

    statement("1", "CB-PROBE", 2)  # what the chain holds is read by a first check
    probe = check_instrument(session_factory=db.session_scope, symbol="AAPL")
    statement(format(probe.outstanding, "f"), "CB-PAGE", 1)
    assert check_instrument(session_factory=db.session_scope, symbol="AAPL").verdict == "backed"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(base_url + "/")
            page.fill("#wallet", api_data.owners[1])
            page.click("#show")
            page.wait_for_selector("#backing li", timeout=15_000)
            line = page.inner_text("#backing li")
        finally:
            browser.close()
    assert line == f"AAPL: backed 1:1 as of {datetime.now(UTC).date().isoformat()}"

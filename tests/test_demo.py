"""The README's first command: the whole product on embedded defaults, as a person runs it."""

from __future__ import annotations

import base64
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson
from solders.pubkey import Pubkey
from spl.token._layouts import ACCOUNT_LAYOUT
from spl.token.instructions import get_associated_token_address

from tests.chainkit import ROOT, free_port


def _demo(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORPACTIONS_")}
    env["CORPACTIONS_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "corpactions.cli", "demo", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_demo_pays_every_holder_and_the_chain_matches_the_plan(tmp_path: Path) -> None:
    result = _demo(tmp_path, "--holders", "60", "--json")
    assert result.returncode == 0, result.stderr
    summary = orjson.loads(result.stdout)
    assert summary["status"] == "attested"
    assert summary["chain_matches_plan"] is True
    assert summary["holders_paid"] > 40 and summary["usdc_paid"] > 0
    assert summary["attestation_signature"]
    ledgers = list((Path(summary["run_dir"]) / "ledgers").glob("plan-*.csv"))
    assert len(ledgers) == 1 and summary["ledger_sha256"][:16] in ledgers[0].name


def test_the_demos_holders_are_paid_in_the_usdc_accounts_solana_py_derives(tmp_path: Path) -> None:
    """Read the demo's saved chain state with spl's layout at spl's derived addresses."""
    result = _demo(tmp_path, "--holders", "25", "--json")
    assert result.returncode == 0, result.stderr
    run_dir = Path(orjson.loads(result.stdout)["run_dir"])
    with sqlite3.connect(run_dir / "ledger.db") as conn:
        paid = conn.execute(
            "SELECT owner, amount_due FROM payoutline WHERE status = 'paid'"
        ).fetchall()
    usdc_mint = Pubkey.from_string(
        orjson.loads((run_dir / "keys" / "seed.json").read_bytes())["usdc_mint"]
    )
    accounts = {
        key: base64.b64decode(data)
        for key, _, _, data in orjson.loads((run_dir / "chain.json").read_bytes())["accounts"]
    }
    assert len(paid) > 15
    for owner, amount in paid:
        address = get_associated_token_address(Pubkey.from_string(owner), usdc_mint)
        parsed = ACCOUNT_LAYOUT.parse(accounts[str(address)])
        assert (parsed.mint, parsed.owner) == (bytes(usdc_mint), bytes(Pubkey.from_string(owner)))
        assert parsed.amount == amount


def test_each_step_says_what_it_did_and_where(tmp_path: Path) -> None:
    result = _demo(tmp_path, "--holders", "20", "--program", "token2022")
    assert result.returncode == 0, result.stderr
    for step in range(1, 9):
        assert f"{step}/8 " in result.stdout
    assert "chain balances equal the plan: yes" in result.stdout
    assert str(tmp_path) in result.stdout


def test_a_second_run_starts_afresh_and_never_pays_twice(tmp_path: Path) -> None:
    first = orjson.loads(_demo(tmp_path, "--holders", "10", "--json").stdout)
    second = orjson.loads(_demo(tmp_path, "--holders", "10", "--json").stdout)
    assert first["run_dir"] != second["run_dir"]
    assert first["chain_matches_plan"] and second["chain_matches_plan"]


def test_a_bad_program_is_one_line(tmp_path: Path) -> None:
    result = _demo(tmp_path, "--program", "erc20")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: --program must be token or token2022, not 'erc20'"


def test_keep_running_serves_the_holder_page_and_api_until_interrupted(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORPACTIONS_")}
    env["CORPACTIONS_DATA_DIR"] = str(tmp_path)
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "corpactions.cli",
            "demo",
            "--holders",
            "15",
            "--keep-running",
            "--port",
            str(port),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        page_url = ""
        deadline = time.monotonic() + 120
        while not page_url and time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line or proc.poll() is None, "the demo exited early"
            if line.startswith("demo: holder page "):
                page_url = line.split()[-1]
        assert page_url.startswith(f"http://127.0.0.1:{port}/?wallet=")
        wallet = page_url.split("=", 1)[1]
        deadline = time.monotonic() + 20
        while True:
            try:
                page = httpx.get(page_url, timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the API did not come up"
                time.sleep(0.2)
        assert page.status_code == 200 and "Dividend payout history" in page.text
        assert "cluster=custom" in page.text  # explorer links point at the local chain
        history = httpx.get(f"http://127.0.0.1:{port}/v1/holders/{wallet}/payouts").json()
        assert history["items"][0]["status"] == "paid"
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()
    assert code == 130  # stopped by Ctrl-C, as a terminal reports it
    assert list(tmp_path.glob("demo/run-*/chain.json"))  # the chain was saved on the way out

"""What an operator sees when something is wrong: one line naming the cause and what to do."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from corpactions.chain.rpc import Rpc
from corpactions.config import get_settings
from corpactions.errors import ConfigurationError, TransientRpcError
from tests.chainkit import ROOT, free_port


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "corpactions.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


def _clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORPACTIONS_")}
    return {**env, "CORPACTIONS_DATA_DIR": str(tmp_path / "data"), **extra}


def _one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode != 0
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: ")
    return line


def test_a_bad_choice_setting_names_the_variable_and_the_allowed_values(tmp_path: Path) -> None:
    line = _one_line(_cli("status", env=_clean_env(tmp_path, CORPACTIONS_COMMITMENT="final")))
    assert "CORPACTIONS_COMMITMENT='final' is not allowed" in line
    assert "'processed', 'confirmed' or 'finalized'" in line


def test_a_setting_that_is_not_json_names_the_variable(tmp_path: Path) -> None:
    line = _one_line(_cli("status", env=_clean_env(tmp_path, CORPACTIONS_TAX_RATES="{bad")))
    assert "CORPACTIONS_TAX_RATES is not valid JSON" in line


def test_an_out_of_range_setting_names_the_variable_and_the_rule(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CORPACTIONS_TAX_RATES", '{"treaty_15": "1.5"}')
    get_settings.cache_clear()
    with pytest.raises(ConfigurationError) as raised:
        get_settings()
    assert raised.value.one_line().startswith(
        "CORPACTIONS_TAX_RATES is not valid: tax rate of class 'treaty_15' must be a fraction"
    )


def test_a_read_command_without_a_ledger_names_the_url_and_creates_nothing(
    tmp_path: Path,
) -> None:
    ledger = tmp_path / "data" / "ledger.db"
    for command in (["status"], ["payouts", "show", "1"], ["actions", "list"]):
        line = _one_line(_cli(*command, env=_clean_env(tmp_path)))
        assert f"no ledger at sqlite:///{ledger}" in line
        assert "CORPACTIONS_DATABASE_URL is not set" in line
        assert "corpactions db upgrade" in line
    assert not ledger.exists()


@pytest.fixture
def refusing_node() -> Iterator[str]:
    """An HTTP server that answers every JSON-RPC request with 429 Too Many Requests."""

    class Refuse(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            self.send_response(429)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Refuse)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


async def _slot(url: str) -> None:
    async with Rpc(url, max_retries=1, backoff_seconds=0.01) as rpc:
        await rpc.call_json("getSlot", [])


def test_an_rpc_node_that_does_not_answer_is_named_so_with_its_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(TransientRpcError) as raised:
        asyncio.run(_slot(url))
    line = raised.value.one_line()
    assert f"RPC getSlot at {url}: the node did not answer" in line
    assert "check CORPACTIONS_RPC_URL" in line
    assert "request rate" not in line


def test_an_rpc_node_that_refuses_is_named_so_with_the_rate_hint(refusing_node: str) -> None:
    with pytest.raises(TransientRpcError) as raised:
        asyncio.run(_slot(refusing_node))
    line = raised.value.one_line()
    assert "the node refused: too many requests (HTTP 429)" in line
    assert "lower the request rate" in line


def test_api_on_a_taken_port_prints_no_success_line(pg_ledger: str, tmp_path: Path) -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    try:
        env = {**os.environ, "CORPACTIONS_DATABASE_URL": pg_ledger}
        done = _cli("api", "--host", "127.0.0.1", "--port", str(port), env=env)
    finally:
        holder.close()
    assert done.stdout == ""
    line = _one_line(done)
    assert f"cannot listen on 127.0.0.1:{port}" in line
    assert "give another --port" in line

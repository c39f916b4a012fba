"""``corpactions localnet`` as a process: seeding, clean SIGTERM, state kept across restarts."""

from __future__ import annotations

import gc
import signal
import socket
import subprocess
import sys
import warnings
from pathlib import Path

import orjson
import pytest
from solders.pubkey import Pubkey

from corpactions.chain import layout
from corpactions.chain.rpc import Rpc
from corpactions.localnet.server import bind_socket
from tests.chainkit import ROOT, LocalnetProcess


def _seed(url: str, keys: Path, holders: int, program: str) -> dict[str, object]:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "corpactions.cli",
            "localnet",
            "seed",
            "--rpc",
            url,
            "--holders",
            str(holders),
            "--program",
            program,
            "--keys-dir",
            str(keys),
            "--json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return orjson.loads(result.stdout)  # type: ignore[no-any-return]


async def _holdings(url: str, mint: str, program: Pubkey) -> dict[str, tuple[int, int]]:
    async with Rpc(url) as rpc:
        raw = await rpc.call_json(
            "getProgramAccounts",
            [
                str(program),
                {"encoding": "jsonParsed", "filters": [{"memcmp": {"offset": 0, "bytes": mint}}]},
            ],
        )
    out = {}
    for item in raw:
        info = item["account"]["data"]["parsed"]["info"]
        out[item["pubkey"]] = (
            int(info["tokenAmount"]["amount"]),
            2 if info["state"] == "frozen" else 1,
        )
    return out


async def test_seed_creates_the_advertised_holder_set_on_token_2022(
    localnet_url: str, tmp_path: Path
) -> None:
    seeded = _seed(localnet_url, tmp_path / "keys", 60, "token2022")
    holdings = await _holdings(
        localnet_url, str(seeded["stock_mint"]), layout.TOKEN_2022_PROGRAM_ID
    )
    assert sum(amount for amount, _ in holdings.values()) == seeded["supply"]
    assert len(holdings) == seeded["token_accounts"]
    frozen = {k for k, (_, state) in holdings.items() if state == 2}
    assert frozen == set(seeded["frozen_accounts"])  # type: ignore[arg-type]
    assert sum(1 for amount, _ in holdings.values() if amount == 0) == len(
        seeded["zero_balance_owners"]
    )  # type: ignore[arg-type]
    assert seeded["multi_account_owners"]
    async with Rpc(localnet_url) as rpc:
        mint = await rpc.account(Pubkey.from_string(str(seeded["stock_mint"])))
        treasury = await rpc.call_json("getTokenAccountBalance", [seeded["treasury"]])
    assert mint is not None
    scaled = layout.decode_mint(bytes(mint.data)).scaled_ui_amount
    assert scaled is not None and scaled.multiplier == 1.0
    assert int(treasury["value"]["amount"]) == seeded["treasury_usdc"]
    keys = tmp_path / "keys"
    assert {p.name for p in keys.iterdir()} >= {
        "payout-authority.json",
        "holders.json",
        "seed.json",
    }
    assert len(orjson.loads((keys / "payout-authority.json").read_bytes())) == 64
    secret_files = ["payout-authority.json", "usdc-mint.json", "stock-mint.json", "issuer.json"]
    for name in [*secret_files, "holders.json"]:
        assert (keys / name).stat().st_mode & 0o777 == 0o600, name


async def test_sigterm_saves_the_state_and_a_restart_keeps_accounts_and_history(
    tmp_path: Path,
) -> None:
    state = tmp_path / "chain.json"
    first = LocalnetProcess("--slot-ms", "50", state=state)
    try:
        seeded = _seed(first.url, tmp_path / "keys", 10, "token")
        before = await _holdings(first.url, str(seeded["stock_mint"]), layout.TOKEN_PROGRAM_ID)
        async with Rpc(first.url) as rpc:
            slot_before = await rpc.slot()
            airdrop = await rpc.airdrop(Pubkey.from_string(str(seeded["issuer_wallet"])), 10**9)
            await rpc.wait_landed([airdrop])
    finally:
        assert first.stop(signal.SIGTERM) == 0
    assert state.exists()
    second = LocalnetProcess("--slot-ms", "50", state=state)
    try:
        after = await _holdings(second.url, str(seeded["stock_mint"]), layout.TOKEN_PROGRAM_ID)
        async with Rpc(second.url) as rpc:
            assert await rpc.slot() >= slot_before
            status = (await rpc.signature_statuses([airdrop], search_history=True))[0]
    finally:
        second.stop()
    assert after == before
    assert status is not None


def test_a_port_in_use_is_one_clear_line(tmp_path: Path) -> None:
    holder = LocalnetProcess("--slot-ms", "0")
    try:
        result = subprocess.run(
            [sys.executable, "-m", "corpactions.cli", "localnet", "--port", str(holder.port)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    finally:
        holder.stop()
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: cannot listen on 127.0.0.1")
    assert "Traceback" not in result.stderr


def test_a_state_file_from_before_the_program_id_fix_is_refused_in_one_line(
    tmp_path: Path,
) -> None:
    state = tmp_path / "chain.json"
    state.write_bytes(
        orjson.dumps({"version": 1, "slot": 9, "block_height": 9, "accounts": [], "history": []})
    )
    result = subprocess.run(
        [sys.executable, "-m", "corpactions.cli", "localnet", "--port", "0", "--state", str(state)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "wrong program id" in lines[0] and "cannot be migrated" in lines[0]


def test_a_port_in_use_leaves_no_socket_open_behind() -> None:
    """The neighbour of a free port is often taken: the refused socket is closed at once, not
    left to the garbage collector (whose ResourceWarning fails whatever test it lands in)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ResourceWarning)
            with pytest.raises(OSError):
                bind_socket("127.0.0.1", taken.getsockname()[1])
            gc.collect()
    assert [str(w.message) for w in caught if w.category is ResourceWarning] == []

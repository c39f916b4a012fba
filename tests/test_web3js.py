"""@solana/web3.js (npm) confirms transactions over the local chain's websocket PubSub.

The client is installed at test time into .corpactions/npm (gitignored; npm's cache makes a
second run quick) and driven by tests/js/web3js_confirm.cjs against a real ``corpactions
localnet`` process with a long finality lag, so a "finalized" confirmation cannot come from the
one status read web3.js makes when it subscribes: the signature notification has to settle it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from solders.signature import Signature

from corpactions.chain.rpc import Rpc
from corpactions.localnet.server import websocket_url
from tests.chainkit import ROOT, LocalnetProcess

WEB3JS = "@solana/web3.js@1.98.0"
NPM_DIR = ROOT / ".corpactions" / "npm"


def _web3js() -> Path:
    modules = NPM_DIR / "node_modules"
    package = modules / "@solana" / "web3.js" / "package.json"
    wanted = WEB3JS.rsplit("@", 1)[1]
    if not package.exists() or json.loads(package.read_text())["version"] != wanted:
        NPM_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["npm", "install", "--prefix", str(NPM_DIR), "--no-audit", "--no-fund", WEB3JS],
            check=True,
            capture_output=True,
            timeout=300,
        )
    return modules


@pytest.fixture(scope="module")
def node_modules() -> Path:
    assert shutil.which("node") and shutil.which("npm"), "the web3.js test needs node and npm"
    return _web3js()


async def test_web3js_confirms_over_websockets(node_modules: Path) -> None:
    chain = LocalnetProcess("--slot-ms", "100", "--finality-lag", "10")
    try:
        result = subprocess.run(
            [
                "node",
                str(ROOT / "tests" / "js" / "web3js_confirm.cjs"),
                chain.url,
                websocket_url(chain.url),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={**os.environ, "NODE_PATH": str(node_modules)},
        )
        assert result.returncode == 0, result.stderr[-3000:]
        seen = json.loads(result.stdout.strip().splitlines()[-1])
        async with Rpc(chain.url) as rpc:
            statuses = await rpc.signature_statuses(
                [Signature.from_string(seen["signature"]), Signature.from_string(seen["airdrop"])]
            )
    finally:
        chain.stop()
    # Not final when web3.js first looked: the finalized confirmation came over the websocket.
    assert seen["statusAtSend"] in ("processed", "confirmed")
    assert seen["airdropErr"] is None and seen["airdropFinal"] == "finalized"
    assert seen["transferErr"] is None
    assert seen["onSignature"] == {"err": None, "slot": seen["transferSlot"]}
    assert seen["account"] == {"lamports": 2_000_000, "slot": seen["transferSlot"]}
    assert seen["failedErr"] == {"InstructionError": [0, {"Custom": 1}]}
    transfer, airdrop = statuses
    assert transfer is not None and transfer.slot == seen["transferSlot"]
    assert airdrop is not None and airdrop.err is None


def test_web3js_sends_a_v0_transaction_through_a_lookup_table(node_modules: Path) -> None:
    chain = LocalnetProcess("--slot-ms", "100")
    try:
        result = subprocess.run(
            ["node", str(ROOT / "tests" / "js" / "web3js_v0.cjs"), chain.url],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={**os.environ, "NODE_PATH": str(node_modules)},
        )
    finally:
        chain.stop()
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["tableAddresses"] == seen["recipients"]
    assert seen["simulatedErr"] is None and seen["err"] is None
    assert seen["version"] == 0
    (lookup,) = seen["lookups"]
    assert lookup["accountKey"] == seen["table"]
    assert seen["loadedWritable"] == [seen["tableAddresses"][i] for i in lookup["writableIndexes"]]
    assert sorted(seen["loadedWritable"]) == sorted(seen["recipients"])
    assert seen["balances"] == [1_000_000] * 30
    # 30 recipients at one byte each: the whole transaction is smaller than 30 static keys
    assert seen["size"] < 30 * 32

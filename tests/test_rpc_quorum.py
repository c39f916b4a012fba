"""Several RPC endpoints: reads fail over between them, and a transaction's final fate (landed,
failed, expired) needs CORPACTIONS_RPC_QUORUM of them to agree. One node that hides a landed
transaction must not be able to make it "expired", which would have it signed and paid again."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import ValidationError
from solders.keypair import Keypair
from solders.message import Message
from solders.transaction import Transaction

from corpactions.chain import tokens
from corpactions.chain.rpc import Rpc
from corpactions.config import Settings
from corpactions.errors import TransientRpcError
from corpactions.execution.sendonce import Attempt, fate
from corpactions.localnet.chain import ChainConfig
from corpactions.localnet.server import LocalnetThread
from tests.chainkit import free_port, funded_keypair
from tests.lyingrpc import LyingRpc


@pytest.fixture
def chain() -> Iterator[LocalnetThread]:
    with LocalnetThread(config=ChainConfig(slot_ms=0, finality_lag=0)) as thread:
        yield thread


def _settings(urls: list[str], quorum: int) -> Settings:
    return Settings(rpc_urls=urls, rpc_quorum=quorum)


async def _landed_then_expired(chain: LocalnetThread) -> Attempt:
    """A memo transaction that landed (finalized), with the chain then moved past its last
    valid block height: the moment a hidden landing would read as "expired"."""
    async with Rpc(chain.url) as rpc:
        payer: Keypair = await funded_keypair(rpc)
        blockhash = await rpc.latest_blockhash()
        tx = Transaction(
            [payer], Message([tokens.memo("quorum")], payer.pubkey()), blockhash.blockhash
        )
        await rpc.wait_landed([await rpc.send_raw(bytes(tx))], finalized=True)
        height = await rpc.block_height("finalized")
        await rpc.call_json(
            "localnet_advanceSlots", [blockhash.last_valid_block_height - height + 5]
        )
        assert await rpc.block_height("finalized") > blockhash.last_valid_block_height
        return Attempt(str(tx.signatures[0]), blockhash.last_valid_block_height)


async def test_a_node_hiding_a_landed_transaction_alone_would_make_it_expired(
    chain: LocalnetThread,
) -> None:
    """The attack the quorum exists for: believed alone, the hiding node says "expired"."""
    attempt = await _landed_then_expired(chain)
    with LyingRpc(chain.url, "hide") as liar:
        async with Rpc(liar.url) as rpc:
            assert (await fate(rpc, attempt)).state == "expired"


async def test_a_quorum_outvotes_a_node_hiding_a_landed_transaction(
    chain: LocalnetThread,
) -> None:
    attempt = await _landed_then_expired(chain)
    with LyingRpc(chain.url, "hide") as liar, LyingRpc(chain.url, "honest") as second:
        settings = _settings([liar.url, chain.url, second.url], 2)
        async with Rpc(settings=settings) as rpc:
            found = await fate(rpc, attempt)
    assert found.state == "landed" and found.err is None


async def test_without_enough_agreeing_endpoints_the_fate_stays_pending(
    chain: LocalnetThread,
) -> None:
    """Three endpoints, quorum three, one of them hiding: nothing terminal is decided."""
    attempt = await _landed_then_expired(chain)
    with LyingRpc(chain.url, "hide") as liar, LyingRpc(chain.url, "honest") as second:
        async with Rpc(settings=_settings([liar.url, chain.url, second.url], 3)) as rpc:
            assert (await fate(rpc, attempt)).state == "pending"


async def test_a_quorum_that_too_few_endpoints_answer_is_a_transient_error(
    chain: LocalnetThread,
) -> None:
    attempt = await _landed_then_expired(chain)
    dead = f"http://127.0.0.1:{free_port()}"
    settings = _settings([dead, chain.url], 2)
    async with Rpc(settings=settings, max_retries=1, backoff_seconds=0.01) as rpc:
        with pytest.raises(TransientRpcError, match="only 1 of 2 RPC endpoints answered"):
            await fate(rpc, attempt)


async def test_reads_fail_over_to_the_next_endpoint(chain: LocalnetThread) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    async with Rpc(settings=_settings([dead, chain.url], 1), backoff_seconds=0.01) as rpc:
        assert await rpc.slot() >= 0
        assert rpc.url == chain.url


def test_a_quorum_larger_than_the_endpoints_is_refused() -> None:
    with pytest.raises(ValidationError, match="CORPACTIONS_RPC_URLS"):
        Settings(rpc_quorum=2)


def test_endpoints_are_read_comma_separated_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CORPACTIONS_RPC_URLS", "http://a:1, http://b:2")
    monkeypatch.setenv("CORPACTIONS_RPC_QUORUM", "2")
    settings = Settings()
    assert settings.rpc_endpoints == ["http://a:1", "http://b:2"]
    assert settings.rpc_quorum == 2

"""Fault injection reproduces what real RPC nodes do to a sender: drops, late landing, 429/503."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from solders.keypair import Keypair
from solders.message import Message
from solders.transaction import Transaction

from corpactions.chain import tokens
from corpactions.chain.rpc import Rpc
from corpactions.errors import TransientRpcError
from corpactions.localnet.chain import ChainConfig
from corpactions.localnet.server import LocalnetThread
from tests.chainkit import funded_keypair


@pytest.fixture
def chain() -> Iterator[LocalnetThread]:
    with LocalnetThread(config=ChainConfig(slot_ms=0, finality_lag=0)) as thread:
        yield thread


async def _memo_tx(rpc: Rpc, payer: Keypair, text: str) -> Transaction:
    blockhash = (await rpc.latest_blockhash()).blockhash
    return Transaction([payer], Message([tokens.memo(text)], payer.pubkey()), blockhash)


async def test_a_dropped_transaction_is_never_found(chain: LocalnetThread) -> None:
    async with Rpc(chain.url) as rpc:
        payer = await funded_keypair(rpc)
        await rpc.call_json("localnet_setFaults", [{"drop_next": 1}])
        tx = await _memo_tx(rpc, payer, "dropped")
        signature = await rpc.send_raw(bytes(tx))
        assert signature == tx.signatures[0]
        await rpc.call_json("localnet_advanceSlots", [200])
        assert (await rpc.signature_statuses([signature], search_history=True)) == [None]
        # the same bytes re-broadcast after the fault land once
        tx2 = await _memo_tx(rpc, payer, "kept")
        landed = await rpc.wait_landed([await rpc.send_raw(bytes(tx2))])
        assert landed[0].err is None


async def test_a_delayed_transaction_lands_after_the_delay(chain: LocalnetThread) -> None:
    async with Rpc(chain.url) as rpc:
        payer = await funded_keypair(rpc)
        await rpc.call_json("localnet_setFaults", [{"land_delay_slots": 3}])
        signature = await rpc.send_raw(bytes(await _memo_tx(rpc, payer, "late")))
        assert (await rpc.signature_statuses([signature])) == [None]
        await rpc.call_json("localnet_advanceSlots", [3])
        status = (await rpc.signature_statuses([signature]))[0]
        assert status is not None and status.err is None


async def test_an_http_429_storm_only_slows_the_client(chain: LocalnetThread) -> None:
    async with Rpc(chain.url, backoff_seconds=0.01) as rpc:
        await rpc.call_json(
            "localnet_setFaults", [{"http_error_next": 4, "http_error_status": 429}]
        )
        assert await rpc.slot() >= 1  # four 429s, then served
        assert chain.chain.faults.http_error_next == 0


async def test_a_503_storm_longer_than_the_retry_budget_is_a_transient_error(
    chain: LocalnetThread,
) -> None:
    async with Rpc(chain.url, backoff_seconds=0.01, max_retries=2) as rpc:
        await rpc.call_json(
            "localnet_setFaults", [{"http_error_next": 10, "http_error_status": 503}]
        )
        with pytest.raises(TransientRpcError, match="HTTP 503") as caught:
            await rpc.slot()
        assert caught.value.transient


async def test_unknown_fault_settings_are_refused(chain: LocalnetThread) -> None:
    from corpactions.errors import RpcRefused

    async with Rpc(chain.url) as rpc:
        with pytest.raises(RpcRefused, match="unknown fault settings: nonsense"):
            await rpc.call_json("localnet_setFaults", [{"nonsense": 1}])
        with pytest.raises(RpcRefused, match="drop_rate"):
            await rpc.call_json("localnet_setFaults", [{"drop_rate": 2}])


async def test_a_drop_rate_drops_about_that_fraction(chain: LocalnetThread) -> None:
    async with Rpc(chain.url) as rpc:
        payer = await funded_keypair(rpc)
        await rpc.call_json("localnet_setFaults", [{"drop_rate": 0.5, "seed": 7}])
        sent = [await rpc.send_raw(bytes(await _memo_tx(rpc, payer, f"m{i}"))) for i in range(60)]
        statuses = await rpc.signature_statuses(sent)
    dropped = sum(1 for s in statuses if s is None)
    assert 15 <= dropped <= 45

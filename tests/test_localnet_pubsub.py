"""Websocket PubSub of the local chain (HTTP port + 1), read through solana-py's SolanaWsClient.

A real ``corpactions localnet`` process whose clock does not tick during a test (the test closes
slots with ``localnet_advanceSlots``), finality lag 2: each subscription must be notified exactly
when the transaction's slot reaches its commitment, and not before.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import httpx
import orjson
import pytest
from solana.rpc.commitment import Confirmed, Finalized, Processed
from solana.rpc.websocket_api import SolanaWsClient
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.rpc.config import RpcTransactionLogsFilterMentions
from solders.rpc.responses import (
    AccountNotification,
    LogsNotification,
    ProgramNotification,
    RootNotification,
    SignatureNotification,
    SlotNotification,
)
from solders.signature import Signature
from websockets.asyncio.client import connect

from corpactions.chain import layout
from corpactions.chain.rpc import Rpc
from corpactions.localnet.server import websocket_url
from tests.chainkit import LocalnetProcess, create_mint, funded_keypair, mint_to_owner

QUIET_SECONDS = 0.4


@pytest.fixture(scope="module")
def chain() -> Iterator[LocalnetProcess]:
    process = LocalnetProcess("--slot-ms", "600000", "--finality-lag", "2")
    yield process
    process.stop()


@pytest.fixture
async def ws(chain: LocalnetProcess) -> AsyncIterator[SolanaWsClient]:
    async with SolanaWsClient(uri=websocket_url(chain.url)) as client:
        yield client


def _advance(url: str, slots: int = 1) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "localnet_advanceSlots", "params": [slots]}
    assert "result" in httpx.post(url, json=body).json()


async def _next(ws: SolanaWsClient) -> object:
    return await asyncio.wait_for(ws.recv(), 5)


async def _quiet(ws: SolanaWsClient) -> None:
    """Nothing arrives for a while."""
    with pytest.raises(TimeoutError):
        message = await asyncio.wait_for(ws.recv(), QUIET_SECONDS)
        pytest.fail(f"unexpected notification {message}")


async def _airdrop(url: str, to: Pubkey, lamports: int) -> str:
    async with Rpc(url, commitment="processed") as rpc:
        signature = await rpc.airdrop(to, lamports)
        await rpc.wait_landed([signature])
    return str(signature)


async def test_each_commitment_is_notified_when_the_slot_reaches_it(
    chain: LocalnetProcess, ws: SolanaWsClient
) -> None:
    target = Keypair().pubkey()
    processed = await ws.account_subscribe(pubkey=target, commitment=Processed)
    confirmed = await ws.account_subscribe(pubkey=target, commitment=Confirmed, encoding="base64")
    logs = await ws.logs_subscribe(
        filter_=RpcTransactionLogsFilterMentions(target), commitment=Confirmed
    )
    finalized = await ws.account_subscribe(pubkey=target, commitment=Finalized)
    signature = await _airdrop(chain.url, target, 3 * 10**9)
    await ws.signature_subscribe(signature=Signature.from_string(signature), commitment=Finalized)

    first = await _next(ws)
    assert isinstance(first, AccountNotification)
    assert first.subscription == processed.subscription_id
    assert first.result.value.lamports == 3 * 10**9
    landed_slot = first.result.context.slot
    await _quiet(ws)

    _advance(chain.url)  # the block closes: confirmed
    seen = {(await _next(ws)).subscription for _ in range(2)}  # type: ignore[attr-defined]
    assert seen == {confirmed.subscription_id, logs.subscription_id}
    await _quiet(ws)

    _advance(chain.url)  # two slots after landing: finalized (lag 2)
    final = [await _next(ws) for _ in range(2)]
    by_type = {type(m): m for m in final}
    account = by_type[AccountNotification]
    assert isinstance(account, AccountNotification)
    assert account.subscription == finalized.subscription_id
    assert account.result.context.slot == landed_slot
    status = by_type[SignatureNotification]
    assert isinstance(status, SignatureNotification)
    assert status.result.value.err is None and status.result.context.slot == landed_slot
    await _quiet(ws)


async def test_logs_mention_only_their_address_and_carry_the_programs_logs(
    chain: LocalnetProcess, ws: SolanaWsClient
) -> None:
    target, other = Keypair().pubkey(), Keypair().pubkey()
    await ws.logs_subscribe(filter_=RpcTransactionLogsFilterMentions(target), commitment=Processed)
    await _airdrop(chain.url, other, 10**9)
    wanted = await _airdrop(chain.url, target, 10**9)
    message = await _next(ws)
    assert isinstance(message, LogsNotification)
    assert str(message.result.value.signature) == wanted
    assert message.result.value.logs[0] == "Program 11111111111111111111111111111111 invoke [1]"
    await _quiet(ws)


async def test_a_signature_already_final_is_answered_at_once_and_the_subscription_ends(
    chain: LocalnetProcess,
) -> None:
    signature = await _airdrop(chain.url, Keypair().pubkey(), 10**9)
    _advance(chain.url, 2)
    async with connect(websocket_url(chain.url)) as raw:
        await raw.send(
            orjson.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": 7,
                    "method": "signatureSubscribe",
                    "params": [signature, {"commitment": "finalized"}],
                }
            ).decode()
        )
        reply = orjson.loads(await raw.recv())
        assert reply["id"] == 7 and isinstance(reply["result"], int)
        notification = orjson.loads(await raw.recv())
        assert notification["method"] == "signatureNotification"
        assert notification["params"]["subscription"] == reply["result"]
        assert notification["params"]["result"]["value"] == {"err": None}
        for request in (
            {"method": "signatureUnsubscribe", "params": [reply["result"]]},
            {"method": "voteSubscribe", "params": []},
            {"method": "accountSubscribe", "params": ["not-a-key"]},
        ):
            await raw.send(orjson.dumps({"jsonrpc": "2.0", "id": 8, **request}).decode())
            error = orjson.loads(await raw.recv())["error"]
            assert error["code"] in (-32602, -32601), error


async def test_program_slot_and_root_subscriptions(
    chain: LocalnetProcess, ws: SolanaWsClient
) -> None:
    async with Rpc(chain.url, commitment="processed") as rpc:
        payer = await funded_keypair(rpc, 10**10)
        mint = await create_mint(rpc, payer, 2)
    program = await ws.program_subscribe(
        program_id=layout.TOKEN_PROGRAM_ID, commitment=Processed, encoding="base64"
    )
    async with Rpc(chain.url, commitment="processed") as rpc:
        holder = Keypair().pubkey()
        ata = await mint_to_owner(rpc, payer, mint, holder, 42, 2)
    seen = set()
    for _ in range(2):  # the new token account and the mint's supply
        message = await _next(ws)
        assert isinstance(message, ProgramNotification)
        assert message.subscription == program.subscription_id
        seen.add(message.result.value.pubkey)
    assert seen == {ata, mint}
    await ws.unsubscribe(program)
    slot = await ws.slot_subscribe()
    root = await ws.root_subscribe()
    before = httpx.post(
        chain.url, json={"jsonrpc": "2.0", "id": 1, "method": "getSlot", "params": []}
    ).json()["result"]
    _advance(chain.url)
    got = {type(m): m for m in [await _next(ws), await _next(ws)]}
    slot_info = got[SlotNotification]
    assert isinstance(slot_info, SlotNotification)
    assert slot_info.subscription == slot.subscription_id
    assert slot_info.result.slot == slot_info.result.parent + 1
    assert slot_info.result.root == before + 1  # finalized follows the open slot by the lag
    root_info = got[RootNotification]
    assert isinstance(root_info, RootNotification) and root_info.result == before + 1
    assert root_info.subscription == root.subscription_id

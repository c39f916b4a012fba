"""Blocks, signatures of an address, commitment levels and the cluster methods of the local chain.

A real ``corpactions localnet`` process whose clock never ticks on its own during a test (one slot
per ten minutes), so a test decides when a slot closes (``localnet_advanceSlots``): several
transactions land in one slot, as on a cluster. Every answer is read through solana-py's
AsyncClient, whose solders parsers fail on any shape an Agave node would not send.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed, Finalized, Processed
from solana.rpc.core import RPCException
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import Transaction
from spl.token.constants import WRAPPED_SOL_MINT

from corpactions.chain import tokens
from corpactions.chain.rpc import Rpc
from tests.chainkit import LocalnetProcess, create_mint, funded_keypair, mint_to_owner

FINALITY_LAG = 2


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalnetProcess]:
    state = tmp_path_factory.mktemp("history") / "chain.json"
    process = LocalnetProcess(
        "--slot-ms", "600000", "--finality-lag", str(FINALITY_LAG), state=state
    )
    yield process
    process.stop()


def _call(url: str, method: str, params: list[object] | None = None) -> dict[str, object]:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}
    return httpx.post(url, json=body).json()  # type: ignore[no-any-return]


def _advance(url: str, slots: int = 1) -> None:
    assert "result" in _call(url, "localnet_advanceSlots", [slots])


async def _send_memos(rpc: Rpc, payer: Keypair, texts: list[str]) -> list[Signature]:
    """Send one memo transaction per text without waiting between them; wait until all landed."""
    blockhash = (await rpc.latest_blockhash()).blockhash
    signatures = []
    for text in texts:
        tx = Transaction(
            [payer], Message([tokens.memo(text, (payer.pubkey(),))], payer.pubkey()), blockhash
        )
        signatures.append(await rpc.send_raw(bytes(tx)))
    await rpc.wait_landed(signatures)
    return signatures


async def _funded(url: str) -> Keypair:
    async with Rpc(url, commitment="processed") as rpc:
        return await funded_keypair(rpc, 10 * 10**9)


async def test_several_transactions_land_in_one_slot_and_its_block_lists_them(
    chain: LocalnetProcess,
) -> None:
    _advance(chain.url)  # past the first slot, so the block has a parent block
    payer = await _funded(chain.url)
    async with Rpc(chain.url, commitment="processed") as rpc:
        signatures = await _send_memos(rpc, payer, ["one", "two", "three"])
        statuses = await rpc.signature_statuses(signatures)
    slots = {s.slot for s in statuses if s is not None}
    assert len(slots) == 1
    slot = slots.pop()
    assert {str(s.confirmation_status) for s in statuses if s} == {
        "TransactionConfirmationStatus.Processed"
    }
    async with AsyncClient(chain.url) as client:
        # The open slot has no block yet, at any level a block can be asked at.
        with pytest.raises(RPCException, match="not available"):
            await client.get_block(slot, commitment=Confirmed)
        assert (await client.get_transaction(signatures[0], commitment=Confirmed)).value is None
        _advance(chain.url)
        block = (await client.get_block(slot, commitment=Confirmed)).value
        # The airdrop that funded the payer landed in the same slot, before them.
        assert [t.transaction.signatures[0] for t in block.transactions][-3:] == signatures
        assert len(block.transactions) == 4
        assert all(t.meta is not None and t.meta.fee == 5000 for t in block.transactions)
        assert block.parent_slot == slot - 1
        parent = (await client.get_block(slot - 1, commitment=Confirmed)).value
        assert block.previous_blockhash == parent.blockhash
        assert block.block_height == parent.block_height + 1  # type: ignore[operator]
        # Confirmed, not yet finalized: the finalized view does not have it.
        with pytest.raises(RPCException, match="not available"):
            await client.get_block(slot, commitment=Finalized)
        assert (await client.get_transaction(signatures[0], commitment=Finalized)).value is None
        statuses_now = (await client.get_signature_statuses(signatures)).value
        assert {str(s.confirmation_status) for s in statuses_now if s} == {
            "TransactionConfirmationStatus.Confirmed"
        }
        _advance(chain.url, FINALITY_LAG)
        final = (await client.get_block(slot, commitment=Finalized)).value
        assert final.blockhash == block.blockhash
        assert (await client.get_transaction(signatures[1], commitment=Finalized)).value
        assert slot in (await client.get_blocks(slot - 1, slot + 1)).value
        time = (await client.get_block_time(slot)).value
        assert time == block.block_time
    only = _call(chain.url, "getBlock", [slot, {"transactionDetails": "signatures"}])
    assert only["result"]["signatures"][-3:] == [str(s) for s in signatures]  # type: ignore[index]
    refused = _call(chain.url, "getBlock", [slot, {"commitment": "processed"}])
    assert refused["error"]["code"] == -32602  # type: ignore[index]


async def test_commitment_levels_pick_the_open_the_last_closed_and_the_finalized_slot(
    chain: LocalnetProcess,
) -> None:
    _advance(chain.url, 3)
    async with AsyncClient(chain.url) as client:
        processed = (await client.get_slot(Processed)).value
        assert (await client.get_slot(Confirmed)).value == processed - 1
        assert (await client.get_slot(Finalized)).value == processed - FINALITY_LAG
        assert (await client.get_slot()).value == processed - FINALITY_LAG  # default: finalized
        height = (await client.get_block_height(Processed)).value
        assert (await client.get_block_height(Finalized)).value == height - FINALITY_LAG
        finalized_block = (
            await client.get_block(processed - FINALITY_LAG, commitment=Finalized)
        ).value
        latest_final = (await client.get_latest_blockhash(Finalized)).value
        assert latest_final.blockhash == finalized_block.blockhash
        latest = (await client.get_latest_blockhash(Processed)).value
        assert latest.blockhash != latest_final.blockhash
        assert latest.last_valid_block_height > latest_final.last_valid_block_height
        balance = await client.get_balance(WRAPPED_SOL_MINT, Confirmed)
        assert balance.context.slot == processed - 1


async def test_signatures_for_address_newest_first_with_before_until_and_limit(
    chain: LocalnetProcess,
) -> None:
    payer = await _funded(chain.url)
    async with Rpc(chain.url, commitment="processed") as rpc:
        sent = await _send_memos(rpc, payer, [f"memo {i}" for i in range(5)])
    address = payer.pubkey()
    async with AsyncClient(chain.url) as client:
        # Still in the open slot: not confirmed, so not listed.
        assert (await client.get_signatures_for_address(address, commitment=Confirmed)).value == []
        _advance(chain.url)
        listed = (await client.get_signatures_for_address(address, commitment=Confirmed)).value
        newest_first = list(reversed(sent))
        assert [i.signature for i in listed[:5]] == newest_first
        assert len(listed) == 6  # and the airdrop that funded it
        assert listed[0].memo == "[6] memo 4"
        assert str(listed[0].confirmation_status) == "TransactionConfirmationStatus.Confirmed"
        two = await client.get_signatures_for_address(address, limit=2, commitment=Confirmed)
        assert [i.signature for i in two.value] == newest_first[:2]
        older = await client.get_signatures_for_address(
            address, before=sent[2], commitment=Confirmed
        )
        assert [i.signature for i in older.value][:2] == [sent[1], sent[0]]
        between = await client.get_signatures_for_address(
            address, before=sent[4], until=sent[1], commitment=Confirmed
        )
        assert [i.signature for i in between.value] == [sent[3], sent[2]]
        # Finalized (the default) does not list what is only confirmed.
        assert (await client.get_signatures_for_address(address)).value == []
        _advance(chain.url, FINALITY_LAG)
        final = (await client.get_signatures_for_address(address, limit=1)).value
        assert final[0].signature == sent[4]
        assert str(final[0].confirmation_status) == "TransactionConfirmationStatus.Finalized"
    unknown = Signature.from_bytes(bytes(64))
    assert (
        _call(chain.url, "getSignaturesForAddress", [str(address), {"before": str(unknown)}])[
            "result"
        ]
        == []
    )
    for bad in ({"commitment": "processed"}, {"limit": 1001}, {"limit": 0}):
        answer = _call(chain.url, "getSignaturesForAddress", [str(address), bad])
        assert answer["error"]["code"] == -32602  # type: ignore[index]


async def test_a_transaction_failing_in_execution_lands_and_pays_its_fee(
    chain: LocalnetProcess,
) -> None:
    payer = await _funded(chain.url)
    async with Rpc(chain.url, commitment="processed") as rpc:
        mint = await create_mint(rpc, payer, 6)
        holder = Keypair()
        source = await mint_to_owner(rpc, payer, mint, holder.pubkey(), 10, 6)
        before = await rpc.balance(payer.pubkey())
        blockhash = (await rpc.latest_blockhash()).blockhash
        tx = Transaction(
            [payer, holder],
            Message(
                [tokens.transfer_checked(source, mint, source, holder.pubkey(), 11, 6)],
                payer.pubkey(),
            ),
            blockhash,
        )
        signature = await rpc.send_raw(bytes(tx), skip_preflight=True)
        status = (await rpc.wait_landed([signature]))[0]
        after = await rpc.balance(payer.pubkey())
    assert status.err is not None
    assert before - after == 2 * 5000  # two signatures, charged although it failed
    _advance(chain.url)
    async with AsyncClient(chain.url) as client:
        landed = (await client.get_transaction(signature, commitment=Confirmed)).value
        assert landed is not None and landed.transaction.meta is not None
        assert landed.transaction.meta.fee == 10_000 and landed.transaction.meta.err is not None
        block = (await client.get_block(status.slot, commitment=Confirmed)).value
        assert signature in [t.transaction.signatures[0] for t in block.transactions]


async def test_cluster_methods_parse_and_agree_with_the_chain(chain: LocalnetProcess) -> None:
    payer = await _funded(chain.url)
    async with Rpc(chain.url, commitment="processed") as rpc:
        mint = await create_mint(rpc, payer, 2)
        owners = [Keypair().pubkey() for _ in range(3)]
        for amount, owner in zip((5, 700, 30), owners, strict=True):
            await mint_to_owner(rpc, payer, mint, owner, amount, 2)
    _advance(chain.url, FINALITY_LAG)
    async with AsyncClient(chain.url) as client:
        largest = (await client.get_token_largest_accounts(mint)).value
        assert [int(a.amount.amount) for a in largest] == [700, 30, 5]
        assert largest[0].address == tokens.associated_token_address(owners[1], mint)
        wrapped = (await client.get_token_supply(WRAPPED_SOL_MINT)).value
        assert wrapped.decimals == 9 and wrapped.amount == "0"
        info = (await client.get_epoch_info(Confirmed)).value
        schedule = (await client.get_epoch_schedule()).value
        assert info.absolute_slot == (await client.get_slot(Confirmed)).value
        assert info.transaction_count == (await client.get_transaction_count(Confirmed)).value
        assert info.slot_index < info.slots_in_epoch
        assert schedule.slots_per_epoch == 432_000 and schedule.warmup
        identity = (await client.get_identity()).value.identity
        assert (await client.get_slot_leader()).value == identity
        leaders = (await client.get_leader_schedule()).value
        assert leaders is not None and len(leaders[identity]) == info.slots_in_epoch
        votes = (await client.get_vote_accounts()).value
        assert [v.node_pubkey for v in votes.current] == [identity] and not votes.delinquent
        nodes = (await client.get_cluster_nodes()).value
        assert [n.pubkey for n in nodes] == [identity]
        supply = (await client.get_supply()).value
        assert supply.total == supply.circulating > 0
        accounts = (await client.get_largest_accounts()).value
        lamports = [a.lamports for a in accounts]
        assert lamports == sorted(lamports, reverse=True) and len(lamports) <= 20
        governor = (await client.get_inflation_governor()).value
        rate = (await client.get_inflation_rate()).value
        assert rate.total == governor.initial and rate.epoch == info.epoch
        assert (await client.get_inflation_reward([payer.pubkey()])).value == [None]
        samples = (await client.get_recent_performance_samples(720)).value
        landed = sum(s.num_transactions for s in samples)
        assert landed == (await client.get_transaction_count(Processed)).value
        commitment = (await client.get_block_commitment(info.absolute_slot)).value
        assert commitment.total_stake > 0 and commitment.commitment is not None
        first = (await client.get_first_available_block()).value
        assert first == 1
        genesis = (await client.get_genesis_hash()).value
    assert _call(chain.url, "getGenesisHash")["result"] == str(genesis)


async def test_blocks_and_the_address_index_survive_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "chain.json"
    first = LocalnetProcess("--slot-ms", "600000", "--finality-lag", "0", state=state)
    try:
        payer = await _funded(first.url)
        async with Rpc(first.url, commitment="processed") as rpc:
            sent = await _send_memos(rpc, payer, ["kept"])
        _advance(first.url)
        async with AsyncClient(first.url) as client:
            genesis = (await client.get_genesis_hash()).value
            slot = (await client.get_signature_statuses(sent)).value[0].slot  # type: ignore[union-attr]
            block = (await client.get_block(slot)).value
    finally:
        assert first.stop(signal.SIGTERM) == 0
    second = LocalnetProcess("--slot-ms", "600000", "--finality-lag", "0", state=state)
    try:
        async with AsyncClient(second.url) as client:
            assert (await client.get_genesis_hash()).value == genesis
            again = (await client.get_block(slot)).value
            listed = (await client.get_signatures_for_address(payer.pubkey())).value
    finally:
        second.stop()
    assert again.blockhash == block.blockhash
    assert [t.transaction.signatures[0] for t in again.transactions][-1:] == sent
    assert listed[0].signature == sent[0]


def test_an_address_no_transaction_touched_has_no_signatures(chain: LocalnetProcess) -> None:
    nobody = Pubkey.from_bytes(bytes(range(32)))
    answer = _call(chain.url, "getSignaturesForAddress", [str(nobody), {"limit": 5}])
    assert answer["result"] == []

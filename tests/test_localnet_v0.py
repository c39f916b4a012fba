"""The local chain serves v0 transactions with address lookup tables end to end.

The tables are created and extended, the transfers built and the results read by solana-py and
solders alone (tests/independent.py): the lookup-table instructions come from solders' system
program builders, the table is read as getAccountInfo serves it, the transaction as
getTransaction serves it with ``maxSupportedTransactionVersion``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import orjson
import pytest
from solana.rpc.commitment import Confirmed
from solana.rpc.core import RPCException
from solana.rpc.models import TxOpts
from solders.address_lookup_table_account import AddressLookupTable
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction
from spl.token import instructions as spl
from spl.token import models
from spl.token.constants import TOKEN_PROGRAM_ID

from corpactions.localnet.chain import ChainConfig
from corpactions.localnet.server import LocalnetThread
from tests.chainkit import run
from tests.independent import Chain, ata


@dataclass
class World:
    url: str
    thread: LocalnetThread
    payer: Keypair
    mint: Pubkey
    owners: list[Pubkey]
    table: Pubkey


RECIPIENTS = 40


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    thread = LocalnetThread(config=ChainConfig(slot_ms=0, finality_lag=0)).start()

    async def build() -> World:
        async with Chain(thread.url) as chain:
            payer = await chain.funded()
            mint = await chain.create_mint(payer, payer.pubkey(), 6)
            owners = [Keypair().pubkey() for _ in range(RECIPIENTS)]
            await chain.open_associated(payer, owners, mint, TOKEN_PROGRAM_ID)
            source = ata(payer.pubkey(), mint)
            await chain.open_associated(payer, [payer.pubkey()], mint, TOKEN_PROGRAM_ID)
            await chain.mint_to(payer, payer, mint, [(source, 10**12)], 6)
            table = await chain.create_lookup_table(payer, [ata(o, mint) for o in owners])
            return World(thread.url, thread, payer, mint, owners, table)

    yield run(build())
    thread.stop()


def _transfers(world: World, amount: int) -> list:  # type: ignore[type-arg]
    source = ata(world.payer.pubkey(), world.mint)
    return [
        spl.transfer_checked(
            models.TransferCheckedParams(
                program_id=TOKEN_PROGRAM_ID,
                source=source,
                mint=world.mint,
                dest=ata(owner, world.mint),
                owner=world.payer.pubkey(),
                amount=amount,
                decimals=6,
            )
        )
        for owner in world.owners
    ]


async def test_a_lookup_table_reads_back_through_get_account_info(world: World) -> None:
    async with Chain(world.url) as chain:
        table = await chain.lookup_table(world.table)
        info = (await chain.client.get_account_info(world.table)).value
    assert info is not None and str(info.owner) == "AddressLookupTab1e1111111111111111111111111"
    decoded = AddressLookupTable.deserialize(bytes(info.data))
    assert decoded.meta.authority == world.payer.pubkey()
    assert list(table.addresses) == [ata(o, world.mint) for o in world.owners]


async def test_v0_transfers_through_a_lookup_table_land_with_loaded_addresses(
    world: World,
) -> None:
    async with Chain(world.url) as chain:
        table = await chain.lookup_table(world.table)
        before = await chain.balances([ata(o, world.mint) for o in world.owners])
        signature = await chain.send_v0(world.payer, _transfers(world, 7), [table])
        after = await chain.balances([ata(o, world.mint) for o in world.owners])
        got = await chain.client.get_transaction(
            signature, "json", Confirmed, max_supported_transaction_version=0
        )
    assert [b - a for a, b in zip(before, after, strict=True)] == [7] * RECIPIENTS  # type: ignore[operator]
    tx = got.value
    assert tx is not None and tx.transaction.version == 0
    meta = tx.transaction.meta
    assert meta is not None and meta.err is None
    assert meta.loaded_addresses is not None
    message = tx.transaction.transaction.message
    (lookup,) = message.address_table_lookups or []
    assert lookup.account_key == world.table
    assert list(meta.loaded_addresses.writable) == [
        table.addresses[i] for i in lookup.writable_indexes
    ]
    assert set(meta.loaded_addresses.writable) == {ata(o, world.mint) for o in world.owners}
    assert list(meta.loaded_addresses.readonly) == []
    # token balances index the loaded accounts after the static keys, as a node's do
    static = len(message.account_keys)
    post = {b.account_index: int(b.ui_token_amount.amount) for b in meta.post_token_balances or []}
    by_account = dict(zip([ata(o, world.mint) for o in world.owners], after, strict=True))
    for offset, address in enumerate(meta.loaded_addresses.writable):
        assert post[static + offset] == by_account[address]


async def test_v0_simulation_resolves_lookups(world: World) -> None:
    async with Chain(world.url) as chain:
        table = await chain.lookup_table(world.table)
        blockhash = (await chain.client.get_latest_blockhash()).value.blockhash
        message = MessageV0.try_compile(
            world.payer.pubkey(), _transfers(world, 1), [table], blockhash
        )
        simulated = await chain.client.simulate_transaction(
            VersionedTransaction(message, [world.payer])
        )
    assert simulated.value.err is None
    invoked = [line for line in simulated.value.logs or [] if f"{TOKEN_PROGRAM_ID} invoke" in line]
    assert len(invoked) == RECIPIENTS and (simulated.value.units_consumed or 0) > 0


async def test_a_table_extended_in_this_slot_is_not_usable_yet(world: World) -> None:
    async with Chain(world.url) as chain:
        table_address = world.table
        fresh = [Keypair().pubkey() for _ in range(2)]
        await chain.client.get_latest_blockhash()
        with world.thread.chain.lock:  # extend and use within one slot (time stands still)
            world.thread.chain.config.slot_ms = 1
        try:
            from solders.system_program import extend_lookup_table

            await chain.send(
                world.payer,
                [
                    extend_lookup_table(
                        {
                            "payer_address": world.payer.pubkey(),
                            "lookup_table_address": table_address,
                            "authority_address": world.payer.pubkey(),
                            "new_addresses": fresh,
                        }
                    )
                ],
            )
            table = await chain.lookup_table(table_address)
            from solders.system_program import TransferParams, transfer

            pay_new = [
                transfer(
                    TransferParams(from_pubkey=world.payer.pubkey(), to_pubkey=k, lamports=10**6)
                )
                for k in fresh
            ]
            with pytest.raises(RPCException, match="InvalidAddressLookupTableIndex"):
                await chain.send_v0(world.payer, pay_new, [table])
            world.thread.chain.advance(1)
            await chain.send_v0(world.payer, pay_new, [table])
            assert (await chain.client.get_balance(fresh[0], Confirmed)).value == 10**6
        finally:
            with world.thread.chain.lock:
                world.thread.chain.config.slot_ms = 0


async def test_get_transaction_of_v0_without_max_version_is_refused(world: World) -> None:
    async with Chain(world.url) as chain:
        table = await chain.lookup_table(world.table)
        signature = await chain.send_v0(world.payer, _transfers(world, 1)[:3], [table])
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "getTransaction",
        "params": [str(signature), {"commitment": "confirmed"}],
    }
    answer = orjson.loads(httpx.post(world.url, json=body).content)
    assert answer["error"]["code"] == -32015


async def test_prioritization_fees_follow_the_write_locked_accounts(world: World) -> None:
    from solders.compute_budget import set_compute_unit_price

    async with Chain(world.url) as chain:
        table = await chain.lookup_table(world.table)
        hot = ata(world.owners[0], world.mint)
        with world.thread.chain.lock:
            world.thread.chain.config.slot_ms = 1  # both transactions in one block
        try:
            await chain.send_v0(
                world.payer, [set_compute_unit_price(5_000), _transfers(world, 1)[0]], [table]
            )
            await chain.send_v0(
                world.payer, [set_compute_unit_price(100), _transfers(world, 1)[1]], [table]
            )
            slot = world.thread.chain.slot
        finally:
            with world.thread.chain.lock:
                world.thread.chain.config.slot_ms = 0
            world.thread.chain.advance(1)
        plain = {
            f.slot: f.prioritization_fee
            for f in (await chain.client.get_recent_prioritization_fees()).value
        }
        for_hot = {
            f.slot: f.prioritization_fee
            for f in (await chain.client.get_recent_prioritization_fees([hot])).value
        }
        other = {
            f.slot: f.prioritization_fee
            for f in (
                await chain.client.get_recent_prioritization_fees(
                    [ata(world.owners[1], world.mint)]
                )
            ).value
        }
    assert plain[slot] == 100  # the block's lowest price
    assert for_hot[slot] == 5_000  # the lowest price that write-locked the hot account
    assert other[slot] == 100


async def test_skip_preflight_v0_with_an_unknown_table_never_lands(world: World) -> None:
    async with Chain(world.url) as chain:
        table = await chain.lookup_table(world.table)
        from solders.address_lookup_table_account import AddressLookupTableAccount

        ghost = AddressLookupTableAccount(Keypair().pubkey(), list(table.addresses))
        blockhash = (await chain.client.get_latest_blockhash()).value.blockhash
        message = MessageV0.try_compile(
            world.payer.pubkey(), _transfers(world, 1)[:2], [ghost], blockhash
        )
        tx = VersionedTransaction(message, [world.payer])
        signature = (
            await chain.client.send_raw_transaction(bytes(tx), opts=TxOpts(skip_preflight=True))
        ).value
        world.thread.chain.advance(2)
        status = (await chain.client.get_signature_statuses([signature], True)).value[0]
    assert status is None

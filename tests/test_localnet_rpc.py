"""The local chain answers Solana JSON-RPC exactly as solana-py / solders expect.

These tests drive the chain over HTTP through solana-py's AsyncClient (via corpactions.chain.rpc)
and compare what they read with a direct read of the LiteSVM state behind the server.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import base58
import httpx
import orjson
import pytest
from solana.rpc.async_api import AsyncClient
from solana.rpc.models import DataSliceOpts, MemcmpOpts, TokenAccountOpts
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.rpc.responses import (
    GetProgramAccountsWithContextResp,
    GetTransactionResp,
    IsBlockhashValidResp,
)
from solders.signature import Signature
from solders.transaction import Transaction, VersionedTransaction

from corpactions.chain import layout, tokens
from corpactions.chain.rpc import Rpc, TransactionRejected
from corpactions.localnet.chain import ChainConfig
from corpactions.localnet.server import LocalnetThread
from tests.chainkit import create_mint, funded_keypair, mint_to_owner, run, send


@dataclass
class World:
    url: str
    thread: LocalnetThread
    payer: Keypair
    mint: Pubkey
    mint22: Pubkey
    other_mint: Pubkey
    holders: list[Keypair]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    thread = LocalnetThread(config=ChainConfig(slot_ms=0, finality_lag=0)).start()

    async def build() -> World:
        async with Rpc(thread.url) as rpc:
            payer = await funded_keypair(rpc)
            mint = await create_mint(rpc, payer, 8, freeze=True)
            mint22 = await create_mint(rpc, payer, 8, layout.TOKEN_2022_PROGRAM_ID)
            other = await create_mint(rpc, payer, 8)
            holders = [Keypair() for _ in range(4)]
            for i, holder in enumerate(holders):
                await mint_to_owner(rpc, payer, mint, holder.pubkey(), (i + 1) * 10**8, 8)
                await mint_to_owner(
                    rpc,
                    payer,
                    mint22,
                    holder.pubkey(),
                    (i + 1) * 10**8,
                    8,
                    layout.TOKEN_2022_PROGRAM_ID,
                )
            await mint_to_owner(rpc, payer, other, holders[0].pubkey(), 5, 8)
            return World(thread.url, thread, payer, mint, mint22, other, holders)

    yield run(build())
    thread.stop()


def _raw(url: str, method: str, params: list[object] | None = None) -> dict[str, object]:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}
    response = httpx.post(url, json=body)
    assert response.status_code == 200
    return orjson.loads(response.content)  # type: ignore[no-any-return]


async def test_cluster_info_methods_parse_with_solana_py(world: World) -> None:
    async with AsyncClient(world.url) as client:
        version = await client.get_version()
        assert version.value.solana_core
        assert (await client.get_slot()).value == world.thread.chain.slot
        assert (await client.get_block_height()).value == world.thread.chain.block_height
        latest = await client.get_latest_blockhash()
        assert latest.value.last_valid_block_height == world.thread.chain.block_height + 150
        assert (await client.get_minimum_balance_for_rent_exemption(165)).value == 2039280
    assert _raw(world.url, "getHealth")["result"] == "ok"


def test_is_blockhash_valid_parses_and_tracks_expiry(world: World) -> None:
    blockhash, _ = world.thread.chain.latest_blockhash()
    resp = IsBlockhashValidResp.from_json(
        orjson.dumps(_raw(world.url, "isBlockhashValid", [blockhash])).decode()
    )
    assert resp.value is True
    world.thread.chain.advance(151)
    resp = IsBlockhashValidResp.from_json(
        orjson.dumps(_raw(world.url, "isBlockhashValid", [blockhash])).decode()
    )
    assert resp.value is False


async def test_account_reads_equal_a_direct_litesvm_read(world: World) -> None:
    svm = world.thread.chain.svm
    holder_ata = tokens.associated_token_address(world.holders[1].pubkey(), world.mint)
    async with AsyncClient(world.url) as client:
        info = (await client.get_account_info(holder_ata)).value
        direct = svm.get_account(holder_ata)
        assert info is not None and direct is not None
        assert bytes(info.data) == bytes(direct.data)
        assert info.owner == direct.owner and info.lamports == direct.lamports
        keys = [holder_ata, world.mint, Keypair().pubkey()]
        many = (await client.get_multiple_accounts(keys)).value
        assert [bytes(a.data) if a else None for a in many] == [
            bytes(a.data) if a else None for a in (svm.get_account(k) for k in keys)
        ]
        assert (await client.get_balance(world.payer.pubkey())).value == svm.get_balance(
            world.payer.pubkey()
        )


async def test_token_reads_match_the_chain(world: World) -> None:
    async with AsyncClient(world.url) as client:
        supply = (await client.get_token_supply(world.mint)).value
        assert (
            supply.amount == str(10 * 10**8)
            and supply.decimals == 8
            and supply.ui_amount_string == "10"
        )
        ata = tokens.associated_token_address(world.holders[2].pubkey(), world.mint)
        balance = (await client.get_token_account_balance(ata)).value
        assert balance.amount == str(3 * 10**8)
        by_mint = await client.get_token_accounts_by_owner(
            world.holders[0].pubkey(), TokenAccountOpts(mint=world.mint)
        )
        assert [a.pubkey for a in by_mint.value] == [
            tokens.associated_token_address(world.holders[0].pubkey(), world.mint)
        ]
        by_program = await client.get_token_accounts_by_owner(
            world.holders[0].pubkey(), TokenAccountOpts(program_id=layout.TOKEN_PROGRAM_ID)
        )
        assert len(by_program.value) == 2  # mint and other_mint
        parsed = await client.get_token_accounts_by_owner_json_parsed(
            world.holders[0].pubkey(), TokenAccountOpts(mint=world.mint22)
        )
        info = parsed.value[0].account.data.parsed["info"]
        assert info["tokenAmount"]["amount"] == str(10**8)
        assert {"extension": "immutableOwner"} in info["extensions"]


async def test_program_accounts_filters_slices_and_context(world: World) -> None:
    svm = world.thread.chain.svm
    expected = sorted(
        str(k)
        for k, a in svm.get_program_accounts(layout.TOKEN_PROGRAM_ID)
        if len(a.data) == 165 and bytes(a.data[0:32]) == bytes(world.mint)
    )
    async with AsyncClient(world.url) as client:
        resp = await client.get_program_accounts(
            layout.TOKEN_PROGRAM_ID,
            encoding="base64",
            data_slice=DataSliceOpts(offset=32, length=40),
            filters=[165, MemcmpOpts(offset=0, bytes=str(world.mint))],
        )
    got = {str(a.pubkey): bytes(a.account.data) for a in resp.value}
    assert sorted(got) == expected and len(expected) == 4
    for key, data in got.items():
        full = bytes(svm.get_account(Pubkey.from_string(key)).data)  # type: ignore[union-attr]
        assert data == full[32:72]
    b64_filter = {
        "memcmp": {
            "offset": 0,
            "bytes": base64.b64encode(bytes(world.mint)).decode(),
            "encoding": "base64",
        }
    }
    with_context = _raw(
        world.url,
        "getProgramAccounts",
        [
            str(layout.TOKEN_PROGRAM_ID),
            {
                "encoding": "base64",
                "withContext": True,
                "filters": [{"dataSize": 165}, b64_filter],
                "dataSlice": {"offset": 32, "length": 40},
            },
        ],
    )
    parsed = GetProgramAccountsWithContextResp.from_json(orjson.dumps(with_context).decode())
    assert parsed.context.slot == world.thread.chain.slot
    assert sorted(str(a.pubkey) for a in parsed.value) == expected


async def test_token_2022_accounts_need_only_the_mint_filter(world: World) -> None:
    async with AsyncClient(world.url) as client:
        resp = await client.get_program_accounts_json_parsed(
            layout.TOKEN_2022_PROGRAM_ID,
            filters=[MemcmpOpts(offset=0, bytes=str(world.mint22))],
        )
    sizes = {a.account.data.space for a in resp.value}
    assert sizes == {170}  # associated accounts carry the ImmutableOwner extension
    assert (
        sum(int(a.account.data.parsed["info"]["tokenAmount"]["amount"]) for a in resp.value)
        == 10 * 10**8
    )


async def test_transfer_checked_lands_with_token_balance_deltas(world: World) -> None:
    sender, receiver = world.holders[3], Keypair().pubkey()
    src = tokens.associated_token_address(sender.pubkey(), world.mint)
    dst = tokens.associated_token_address(receiver, world.mint)
    async with Rpc(world.url) as rpc:
        signature = await send(
            rpc,
            world.payer,
            [
                tokens.create_associated_token_account_idempotent(
                    world.payer.pubkey(), receiver, world.mint
                ),
                tokens.transfer_checked(src, world.mint, dst, sender.pubkey(), 12345, 8),
            ],
            sender,
        )
    async with AsyncClient(world.url) as client:
        tx = (
            await client.get_transaction(
                Signature.from_string(signature), max_supported_transaction_version=0
            )
        ).value
    assert tx is not None and tx.transaction.meta is not None
    meta = tx.transaction.meta
    assert meta.err is None and meta.log_messages
    pre = {str(b.owner): int(b.ui_token_amount.amount) for b in meta.pre_token_balances or []}
    post = {str(b.owner): int(b.ui_token_amount.amount) for b in meta.post_token_balances or []}
    assert post[str(sender.pubkey())] - pre[str(sender.pubkey())] == -12345
    assert post[str(receiver)] == 12345 and str(receiver) not in pre


async def test_get_transaction_base64_round_trips_the_signed_bytes(world: World) -> None:
    async with Rpc(world.url) as rpc:
        signature = await send(rpc, world.payer, [tokens.memo("hello")])
    raw = _raw(
        world.url,
        "getTransaction",
        [signature, {"encoding": "base64", "maxSupportedTransactionVersion": 0}],
    )
    parsed = GetTransactionResp.from_json(orjson.dumps(raw).decode())
    assert parsed.value is not None
    assert str(parsed.value.transaction.transaction.signatures[0]) == signature  # type: ignore[union-attr]


async def test_an_expired_blockhash_is_rejected_as_on_a_cluster(world: World) -> None:
    async with Rpc(world.url) as rpc:
        old = (await rpc.latest_blockhash()).blockhash
        world.thread.chain.advance(151)
        tx = Transaction([world.payer], Message([tokens.memo("late")], world.payer.pubkey()), old)
        with pytest.raises(TransactionRejected, match="Blockhash not found") as caught:
            await rpc.send_raw(bytes(tx))
        assert str(caught.value.err) == "TransactionErrorFieldless.BlockhashNotFound"
        skipped = await rpc.send_raw(bytes(tx), skip_preflight=True)
        world.thread.chain.advance(5)
        assert (await rpc.signature_statuses([skipped]))[0] is None


async def test_preflight_failure_carries_the_program_error_and_logs(world: World) -> None:
    poor = Keypair()
    src = tokens.associated_token_address(world.holders[0].pubkey(), world.mint)
    async with Rpc(world.url) as rpc:
        blockhash = (await rpc.latest_blockhash()).blockhash
        tx = Transaction(
            [world.payer, world.holders[0]],
            Message(
                [
                    tokens.transfer_checked(
                        src, world.mint, src, world.holders[0].pubkey(), 10**20 % 2**64, 8
                    )
                ],
                world.payer.pubkey(),
            ),
            blockhash,
        )
        with pytest.raises(TransactionRejected, match="custom program error: 0x1") as caught:
            await rpc.send_raw(bytes(tx))
        assert any("insufficient funds" in line.lower() for line in caught.value.logs)
        del poor


async def test_a_failed_transaction_lands_with_its_error_when_preflight_is_skipped(
    world: World,
) -> None:
    src = tokens.associated_token_address(world.holders[0].pubkey(), world.mint)
    async with Rpc(world.url) as rpc:
        blockhash = (await rpc.latest_blockhash()).blockhash
        tx = Transaction(
            [world.payer, world.holders[0]],
            Message(
                [
                    tokens.transfer_checked(
                        src, world.mint, src, world.holders[0].pubkey(), 2**63, 8
                    )
                ],
                world.payer.pubkey(),
            ),
            blockhash,
        )
        signature = await rpc.send_raw(bytes(tx), skip_preflight=True)
        status = (await rpc.wait_landed([signature]))[0]
    assert status.err is not None
    assert "InstructionError" in type(status.err).__name__


def test_send_transaction_accepts_base58_and_refuses_a_duplicate(world: World) -> None:
    blockhash, _ = world.thread.chain.latest_blockhash()
    from solders.hash import Hash

    tx = Transaction(
        [world.payer],
        Message([tokens.memo("b58")], world.payer.pubkey()),
        Hash.from_string(blockhash),
    )
    encoded = base58.b58encode(bytes(tx)).decode()
    first = _raw(world.url, "sendTransaction", [encoded])
    assert first["result"] == str(tx.signatures[0])
    again = _raw(world.url, "sendTransaction", [encoded])
    assert again["error"]["code"] == -32002  # type: ignore[index]
    assert again["error"]["data"]["err"] == "AlreadyProcessed"  # type: ignore[index]


async def test_simulate_and_fee_and_prioritization_fees(world: World) -> None:
    async with AsyncClient(world.url) as client:
        blockhash = (await client.get_latest_blockhash()).value.blockhash
        message = Message.new_with_blockhash(
            [
                tokens.set_compute_unit_limit(10_000),
                tokens.set_compute_unit_price(1_000_000),
                tokens.memo("fee"),
            ],
            world.payer.pubkey(),
            blockhash,
        )
        sim = await client.simulate_transaction(VersionedTransaction(message, [world.payer]))
        assert sim.value.err is None and sim.value.units_consumed
        fee = await client.get_fee_for_message(message)
        assert fee.value == 5000 + 10_000  # one signature + ceil(1e6 micro-lamports * 10k CU / 1e6)
        fees = await client.get_recent_prioritization_fees()
        assert fees.value and all(f.prioritization_fee >= 0 for f in fees.value)


async def test_signature_statuses_search_history_finds_old_transactions(world: World) -> None:
    async with Rpc(world.url) as rpc:
        signature = Signature.from_string(await send(rpc, world.payer, [tokens.memo("old")]))
        world.thread.chain.advance(400)
        assert (await rpc.signature_statuses([signature], search_history=False))[0] is None
        found = (await rpc.signature_statuses([signature], search_history=True))[0]
        assert found is not None and found.err is None


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", -32700),
        (b'{"jsonrpc":"2.0","id":1,"method":"getFoo"}', -32601),
        (b'{"id":1,"method":"getSlot"}', -32600),
        (b'{"jsonrpc":"2.0","id":1,"method":"getBalance","params":["not-a-key"]}', -32602),
        (b'{"jsonrpc":"2.0","id":1,"method":"getBalance","params":{"a":1}}', -32602),
        (b'{"jsonrpc":"2.0","id":1,"method":"sendTransaction","params":["%%%"]}', -32602),
        (
            b'{"jsonrpc":"2.0","id":1,"method":"getProgramAccounts","params":["11111111111111111111111111111111",{"filters":[{"bogus":1}]}]}',
            -32602,
        ),
    ],
)
def test_malformed_requests_get_json_rpc_errors_never_a_500(
    world: World, body: bytes, code: int
) -> None:
    response = httpx.post(world.url, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 200
    assert orjson.loads(response.content)["error"]["code"] == code


def test_batch_requests_are_answered_in_order(world: World) -> None:
    body = [
        {"jsonrpc": "2.0", "id": i, "method": m}
        for i, m in enumerate(["getSlot", "getHealth", "nope"])
    ]
    answers = httpx.post(world.url, json=body).json()
    assert [a["id"] for a in answers] == [0, 1, 2]
    assert answers[1]["result"] == "ok" and answers[2]["error"]["code"] == -32601


def test_slots_advance_with_each_landed_transaction(world: World) -> None:
    before = world.thread.chain.slot
    run(_memo(world, "tick"))
    assert world.thread.chain.slot > before


async def _memo(world: World, text: str) -> str:
    async with Rpc(world.url) as rpc:
        return await send(rpc, world.payer, [tokens.memo(text)])


def test_state_file_round_trip(world: World, tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    world.thread.chain.save(path)
    from corpactions.localnet.chain import LocalChain

    restored = LocalChain(ChainConfig(slot_ms=0), path)
    ata = tokens.associated_token_address(world.holders[1].pubkey(), world.mint)
    assert bytes(restored.svm.get_account(ata).data) == bytes(
        world.thread.chain.svm.get_account(ata).data
    )  # type: ignore[union-attr]
    assert restored.slot == world.thread.chain.slot

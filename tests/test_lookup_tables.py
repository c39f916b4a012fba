"""Address lookup tables of payees: made ahead of a run, recorded, retired, each write once.

Tables are read back with solana-py and solders alone (tests/independent.py): the entries the
chain holds, the authority's tables among all the Address Lookup Table program's accounts, the
lamports returned when they close.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from solana.rpc.async_api import AsyncClient
from solders.address_lookup_table_account import AddressLookupTable
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature
from sqlmodel import select
from typer.testing import CliRunner

from corpactions import db
from corpactions.chain.rpc import Rpc
from corpactions.cli import app
from corpactions.config import get_settings
from corpactions.execution.lookup_tables import (
    EXTEND_CHUNK,
    prepare_tables,
    retire_idle_tables,
)
from corpactions.localnet.chain import ChainConfig
from corpactions.localnet.server import LocalnetThread
from corpactions.models import LookupTable, TableStatus
from corpactions.models.types import utcnow
from tests.chainkit import ROOT
from tests.independent import Chain, write_keypair

ALT_PROGRAM = Pubkey.from_string("AddressLookupTab1e1111111111111111111111111")


@pytest.fixture(scope="module")
def chain_url() -> Iterator[str]:
    thread = LocalnetThread(config=ChainConfig(slot_ms=0, finality_lag=0)).start()
    yield thread.url
    thread.stop()


async def _funded(url: str) -> Keypair:
    async with Chain(url) as chain:
        return await chain.funded(20 * 10**9)


async def _tables_on_chain(url: str, authority: Pubkey) -> dict[Pubkey, AddressLookupTable]:
    """Every table of the authority the chain holds, decoded by solders."""
    async with AsyncClient(url) as client:
        accounts = (await client.get_program_accounts(ALT_PROGRAM, encoding="base64")).value
    out = {}
    for keyed in accounts:
        table = AddressLookupTable.deserialize(bytes(keyed.account.data))
        if table.meta.authority == authority:
            out[keyed.pubkey] = table
    return out


def _rows() -> list[LookupTable]:
    with db.session_scope() as session:
        rows = list(session.exec(select(LookupTable).order_by(LookupTable.id)))  # type: ignore[arg-type]
        for row in rows:
            session.expunge(row)
        return rows


async def test_prepared_tables_hold_every_address_as_the_chain_reads_them(
    pg_ledger: str, chain_url: str
) -> None:
    authority = await _funded(chain_url)
    addresses = [Keypair().pubkey() for _ in range(300)]
    async with Rpc(chain_url) as rpc:
        views = await prepare_tables(rpc, db.session_scope, authority, addresses)
        slot = await rpc.slot()
    on_chain = await _tables_on_chain(chain_url, authority.pubkey())
    assert len(on_chain) == 2  # 256 + 44
    assert sorted(a for t in on_chain.values() for a in t.addresses) == sorted(addresses)
    assert {v.address: v.addresses for v in views} == {
        k: list(t.addresses) for k, t in on_chain.items()
    }
    assert all(slot > t.meta.last_extended_slot for t in on_chain.values())  # usable now
    rows = _rows()
    assert {Pubkey.from_string(r.address) for r in rows} == set(on_chain)
    for row in rows:
        assert row.status == TableStatus.active and row.attempt_signature is None
        assert row.addresses == [
            str(a) for a in on_chain[Pubkey.from_string(row.address)].addresses
        ]
        assert row.create_signature and len(row.extend_signatures) == -(
            -len(row.addresses) // EXTEND_CHUNK
        )
        assert row.rent_lamports > 0
    async with AsyncClient(chain_url) as client:
        for row in rows:
            for signature in [row.create_signature, *row.extend_signatures]:
                got = await client.get_transaction(
                    Signature.from_string(signature or ""), max_supported_transaction_version=0
                )
                assert got.value is not None and got.value.transaction.meta is not None
                assert got.value.transaction.meta.err is None


async def test_a_second_run_extends_the_table_with_room_and_creates_nothing(
    pg_ledger: str, chain_url: str
) -> None:
    authority = await _funded(chain_url)
    first = [Keypair().pubkey() for _ in range(40)]
    more = [Keypair().pubkey() for _ in range(10)]
    async with Rpc(chain_url) as rpc:
        await prepare_tables(rpc, db.session_scope, authority, first)
        views = await prepare_tables(rpc, db.session_scope, authority, first + more)
    on_chain = await _tables_on_chain(chain_url, authority.pubkey())
    assert len(on_chain) == 1 and len(views) == 1
    assert list(next(iter(on_chain.values())).addresses) == first + more


async def test_idle_tables_are_deactivated_then_closed_and_their_rent_returned_once(
    pg_ledger: str, chain_url: str
) -> None:
    authority = await _funded(chain_url)
    async with Rpc(chain_url) as rpc:
        await prepare_tables(
            rpc, db.session_scope, authority, [Keypair().pubkey() for _ in range(30)]
        )
        rent = _rows()[0].rent_lamports
        fresh = await retire_idle_tables(rpc, db.session_scope, authority, idle_days=30)
        assert fresh.deactivated == 0  # used just now
        later = utcnow() + timedelta(days=31)
        first = await retire_idle_tables(rpc, db.session_scope, authority, idle_days=30, now=later)
        assert first.deactivated == 1 and first.closed == 0
        assert _rows()[0].status == TableStatus.deactivating
        early = await retire_idle_tables(rpc, db.session_scope, authority, idle_days=30, now=later)
        assert early.closed == 0  # still in SlotHashes: the program would refuse the close
        await rpc.call_json("localnet_advanceSlots", [513])
        before = await rpc.balance(authority.pubkey())
        closed = await retire_idle_tables(rpc, db.session_scope, authority, idle_days=30, now=later)
        after = await rpc.balance(authority.pubkey())
        again = await retire_idle_tables(rpc, db.session_scope, authority, idle_days=30, now=later)
    assert closed.closed == 1 and closed.reclaimed_lamports == rent
    assert after - before == rent - 5000  # the rent back, less the close's fee
    assert again.closed == 0 and again.deactivated == 0
    assert await _tables_on_chain(chain_url, authority.pubkey()) == {}
    (row,) = _rows()
    assert row.status == TableStatus.closed and row.close_signature and row.deactivate_signature


_PREPARE = """
import asyncio, sys
from pathlib import Path
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from corpactions import db
from corpactions.chain.keys import load_keypair
from corpactions.chain.rpc import Rpc
from corpactions.execution.lookup_tables import prepare_tables

async def main():
    authority = load_keypair(Path(sys.argv[2]))
    addresses = [Pubkey.from_string(a) for a in sys.argv[3].split(",")]
    async with Rpc(sys.argv[1]) as rpc:
        await prepare_tables(rpc, db.session_scope, authority, addresses)

asyncio.run(main())
"""


@pytest.mark.parametrize(
    ("point", "skip"),
    [
        ("table_after_sign", "0"),
        ("table_after_persist", "0"),
        ("table_after_send", "0"),
        ("table_after_confirm", "0"),
        ("table_after_persist", "2"),  # during the extensions
        ("table_after_send", "3"),
    ],
)
async def test_a_killed_table_run_resumes_without_a_second_table_or_entry(
    pg_ledger: str, chain_url: str, tmp_path: Path, point: str, skip: str
) -> None:
    authority = await _funded(chain_url)
    key_path = write_keypair(tmp_path / "authority.json", authority)
    addresses = [Keypair().pubkey() for _ in range(3 * EXTEND_CHUNK)]
    args = [sys.executable, "-c", _PREPARE, chain_url, str(key_path), ",".join(map(str, addresses))]
    env = {**os.environ, "CORPACTIONS_CRASH_AT": point, "CORPACTIONS_CRASH_SKIP": skip}
    killed = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, timeout=120, check=False)
    assert killed.returncode == -9, killed.stderr.decode()[-2000:]
    env.pop("CORPACTIONS_CRASH_AT")
    resumed = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, timeout=120, check=False)
    assert resumed.returncode == 0, resumed.stderr.decode()[-2000:]
    on_chain = await _tables_on_chain(chain_url, authority.pubkey())
    rows = [r for r in _rows() if r.status != TableStatus.creating or r.attempt_signature]
    assert len(on_chain) == 1
    (table,) = on_chain.values()
    assert list(table.addresses) == addresses  # every address once, none twice
    assert [Pubkey.from_string(r.address) for r in rows] == list(on_chain)
    assert rows[0].addresses == [str(a) for a in addresses]


async def test_the_cli_lists_tables_and_retires_the_idle_ones(
    pg_ledger: str, chain_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    authority = await _funded(chain_url)
    monkeypatch.setenv("CORPACTIONS_RPC_URL", chain_url)
    monkeypatch.setenv(
        "CORPACTIONS_KEYPAIR_PATH", str(write_keypair(tmp_path / "authority.json", authority))
    )
    get_settings.cache_clear()
    async with Rpc(chain_url) as rpc:
        await prepare_tables(
            rpc, db.session_scope, authority, [Keypair().pubkey() for _ in range(30)]
        )
    listed = CliRunner().invoke(app, ["payouts", "tables", "--json"])
    assert listed.exit_code == 0, listed.output
    (table,) = orjson.loads(listed.stdout)["tables"]
    assert table["status"] == "active" and table["entries"] == 30
    with db.session_scope() as session:  # unused for 31 days
        row = session.exec(select(LookupTable)).one()
        row.last_used_at = utcnow() - timedelta(days=31)
        session.add(row)
    retired = await asyncio.to_thread(
        CliRunner().invoke, app, ["payouts", "tables", "--retire", "--json"]
    )
    assert retired.exit_code == 0, retired.output
    data = orjson.loads(retired.stdout)
    assert data["retired"]["deactivated"] == 1
    assert data["tables"][0]["status"] == "deactivating"
    (on_chain,) = (await _tables_on_chain(chain_url, authority.pubkey())).values()
    assert on_chain.meta.deactivation_slot != 2**64 - 1

"""Chain state set up, and outcomes read back, by a client no one here wrote.

Everything in this module goes through solana-py (``AsyncClient`` over the local chain's HTTP
port) with instructions from solana-py's ``spl.token.instructions`` and solders' system program,
and derives associated accounts with ``spl.token.instructions.get_associated_token_address``.
It imports nothing from ``corpactions`` or ``snapshots``: a wrong program id, derivation or
instruction layout in the project cannot be mirrored here, so a test that sets the chain up with
this module and reads the result back with it fails when the project is wrong.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed, Finalized
from solana.rpc.models import TxOpts
from solders import sysvar
from solders.address_lookup_table_account import (
    AddressLookupTable,
    AddressLookupTableAccount,
    SlotHashes,
)
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import Message, MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import (
    CreateAccountParams,
    create_account,
    create_lookup_table,
    extend_lookup_table,
)
from solders.transaction import Transaction, VersionedTransaction
from spl.token import instructions as spl
from spl.token import models
from spl.token.constants import ACCOUNT_LEN, MINT_LEN, TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID

PROGRAMS = {"token": TOKEN_PROGRAM_ID, "token2022": TOKEN_2022_PROGRAM_ID}


def ata(owner: Pubkey, mint: Pubkey, program: Pubkey = TOKEN_PROGRAM_ID) -> Pubkey:
    return spl.get_associated_token_address(owner, mint, program)


def write_keypair(path: Path, keypair: Keypair) -> Path:
    """A Solana CLI keypair file (a JSON array of the 64 secret bytes), owner-only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(list(bytes(keypair))))
    os.chmod(path, 0o600)
    return path


class Chain:
    """A solana-py client on the local chain, with the few writes the tests need."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = AsyncClient(url, commitment=Confirmed)

    async def __aenter__(self) -> Chain:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.close()

    async def funded(self, lamports: int = 50 * 10**9) -> Keypair:
        keypair = Keypair()
        signature = (await self.client.request_airdrop(keypair.pubkey(), lamports)).value
        await self.client.confirm_transaction(signature, Confirmed, sleep_seconds=0.05)
        return keypair

    async def send(
        self, payer: Keypair, instructions: Sequence[Instruction], *signers: Keypair
    ) -> None:
        blockhash = (await self.client.get_latest_blockhash()).value.blockhash
        tx = Transaction([payer, *signers], Message(list(instructions), payer.pubkey()), blockhash)
        signature = (await self.client.send_raw_transaction(bytes(tx))).value
        await self.client.confirm_transaction(signature, Confirmed, sleep_seconds=0.05)

    async def send_v0(
        self,
        payer: Keypair,
        instructions: Sequence[Instruction],
        tables: Sequence[AddressLookupTableAccount],
        *,
        skip_preflight: bool = False,
    ) -> Signature:
        """A v0 transaction compiled by solders against the given lookup tables, confirmed."""
        blockhash = (await self.client.get_latest_blockhash()).value.blockhash
        message = MessageV0.try_compile(payer.pubkey(), list(instructions), list(tables), blockhash)
        tx = VersionedTransaction(message, [payer])
        signature = (
            await self.client.send_raw_transaction(
                bytes(tx), opts=TxOpts(skip_preflight=skip_preflight)
            )
        ).value
        await self.client.confirm_transaction(signature, Confirmed, sleep_seconds=0.05)
        return signature

    async def create_lookup_table(self, authority: Keypair, addresses: Sequence[Pubkey]) -> Pubkey:
        """A lookup table of ``addresses`` (solders' ALT instruction builders), created at a
        recent slot and extended 20 addresses per transaction."""
        recent = await self.recent_slot()
        create, table = create_lookup_table(
            {
                "authority_address": authority.pubkey(),
                "payer_address": authority.pubkey(),
                "recent_slot": recent,
            }
        )
        await self.send(authority, [create])
        for start in range(0, len(addresses), 20):
            extend = extend_lookup_table(
                {
                    "payer_address": authority.pubkey(),
                    "lookup_table_address": table,
                    "authority_address": authority.pubkey(),
                    "new_addresses": list(addresses[start : start + 20]),
                }
            )
            await self.send(authority, [extend])
        return table

    async def recent_slot(self) -> int:
        """The newest slot of the SlotHashes sysvar (a lookup table's ``recent_slot`` must be
        one of its entries)."""
        info = (await self.client.get_account_info(sysvar.SLOT_HASHES, commitment=Confirmed)).value
        assert info is not None, "the chain serves no SlotHashes sysvar"
        return int(SlotHashes.from_bytes(bytes(info.data)).slot_hashes[0][0])

    async def lookup_table(self, table: Pubkey) -> AddressLookupTableAccount:
        """The table as getAccountInfo serves it, decoded by solders."""
        info = (await self.client.get_account_info(table, commitment=Confirmed)).value
        assert info is not None, f"no lookup table at {table}"
        decoded = AddressLookupTable.deserialize(bytes(info.data))
        return AddressLookupTableAccount(table, list(decoded.addresses))

    async def create_mint(
        self,
        payer: Keypair,
        authority: Pubkey,
        decimals: int,
        program: Pubkey = TOKEN_PROGRAM_ID,
        *,
        freeze_authority: Pubkey | None = None,
    ) -> Pubkey:
        mint = Keypair()
        rent = (await self.client.get_minimum_balance_for_rent_exemption(MINT_LEN)).value
        await self.send(
            payer,
            [
                create_account(
                    CreateAccountParams(
                        from_pubkey=payer.pubkey(),
                        to_pubkey=mint.pubkey(),
                        lamports=rent,
                        space=MINT_LEN,
                        owner=program,
                    )
                ),
                spl.initialize_mint2(
                    models.InitializeMint2Params(
                        program_id=program,
                        mint=mint.pubkey(),
                        decimals=decimals,
                        mint_authority=authority,
                        freeze_authority=freeze_authority,
                    )
                ),
            ],
            mint,
        )
        return mint.pubkey()

    async def open_associated(
        self, payer: Keypair, owners: Sequence[Pubkey], mint: Pubkey, program: Pubkey
    ) -> None:
        for start in range(0, len(owners), 6):
            await self.send(
                payer,
                [
                    spl.create_associated_token_account(payer.pubkey(), owner, mint, program)
                    for owner in owners[start : start + 6]
                ],
            )

    async def open_plain_account(
        self, payer: Keypair, owner: Pubkey, mint: Pubkey, program: Pubkey
    ) -> Pubkey:
        """A second token account of ``owner`` at a keypair address (not associated)."""
        account = Keypair()
        rent = (await self.client.get_minimum_balance_for_rent_exemption(ACCOUNT_LEN)).value
        await self.send(
            payer,
            [
                create_account(
                    CreateAccountParams(
                        from_pubkey=payer.pubkey(),
                        to_pubkey=account.pubkey(),
                        lamports=rent,
                        space=ACCOUNT_LEN,
                        owner=program,
                    )
                ),
                spl.initialize_account3(
                    models.InitializeAccount3Params(
                        program_id=program, account=account.pubkey(), mint=mint, owner=owner
                    )
                ),
            ],
            account,
        )
        return account.pubkey()

    async def mint_to(
        self,
        payer: Keypair,
        authority: Keypair,
        mint: Pubkey,
        amounts: Sequence[tuple[Pubkey, int]],
        decimals: int,
        program: Pubkey = TOKEN_PROGRAM_ID,
    ) -> None:
        signers = [authority] if authority.pubkey() != payer.pubkey() else []
        for start in range(0, len(amounts), 8):
            await self.send(
                payer,
                [
                    spl.mint_to_checked(
                        models.MintToCheckedParams(
                            program_id=program,
                            mint=mint,
                            dest=account,
                            mint_authority=authority.pubkey(),
                            amount=amount,
                            decimals=decimals,
                        )
                    )
                    for account, amount in amounts[start : start + 8]
                ],
                *signers,
            )

    async def freeze(
        self, payer: Keypair, account: Pubkey, mint: Pubkey, program: Pubkey = TOKEN_PROGRAM_ID
    ) -> None:
        await self.send(
            payer,
            [
                spl.freeze_account(
                    models.FreezeAccountParams(
                        program_id=program, account=account, mint=mint, authority=payer.pubkey()
                    )
                )
            ],
        )

    async def balance(self, account: Pubkey) -> int | None:
        """The token account's raw amount at finalized commitment, None when it does not exist."""
        info = (await self.client.get_account_info(account, commitment=Finalized)).value
        if info is None:
            return None
        return int((await self.client.get_token_account_balance(account, Finalized)).value.amount)

    async def balances(self, accounts: Sequence[Pubkey]) -> list[int | None]:
        return [await self.balance(account) for account in accounts]

    async def supply(self, mint: Pubkey) -> int:
        return int((await self.client.get_token_supply(mint, Finalized)).value.amount)

    async def wait_finalized(self) -> None:
        """Until what is confirmed now is finalized (the local chain finalizes a few slots on)."""
        target = (await self.client.get_slot(Confirmed)).value
        while (await self.client.get_slot(Finalized)).value < target:
            await asyncio.sleep(0.05)


@dataclass
class StockWorld:
    """A tokenized stock, its holders and a funded USDC treasury, all made independently."""

    authority: Keypair
    """The payout authority: fee payer, owner of the treasury, mint authority of the stock."""
    authority_file: Path
    issuer: Keypair
    stock_mint: Pubkey
    stock_program: Pubkey
    usdc_mint: Pubkey
    treasury: Pubkey
    treasury_usdc: int
    holdings: dict[Pubkey, list[tuple[Pubkey, int]]] = field(default_factory=dict)
    """Owner -> its stock token accounts with their amounts."""

    def owners_total(self) -> dict[str, int]:
        return {str(o): sum(a for _, a in accounts) for o, accounts in self.holdings.items()}


async def stock_world(
    url: str,
    keys: Path,
    amounts: Sequence[int],
    *,
    program: str = "token",
    decimals: int = 8,
    usdc_accounts_for: int = 0,
    treasury_usdc: int = 1_000_000 * 10**6,
    second_account_for: int = 0,
    issuer_inventory: int = 0,
    authority_holding: int = 0,
) -> StockWorld:
    """Holders with ``amounts`` of a new stock (one associated account each; the first
    ``second_account_for`` also hold 1 token in a second, plain account), a USDC mint with
    ``treasury_usdc`` in the authority's associated account, and USDC associated accounts
    already open for the first ``usdc_accounts_for`` holders."""
    stock_program = PROGRAMS[program]
    async with Chain(url) as chain:
        authority = await chain.funded()
        issuer = Keypair()
        stock = await chain.create_mint(
            authority,
            authority.pubkey(),
            decimals,
            stock_program,
            freeze_authority=authority.pubkey(),
        )
        usdc = await chain.create_mint(authority, authority.pubkey(), 6)
        owners = [Keypair().pubkey() for _ in amounts]
        holders = [*owners, issuer.pubkey()] if issuer_inventory else list(owners)
        if authority_holding:
            holders.append(authority.pubkey())
        await chain.open_associated(authority, holders, stock, stock_program)
        holdings: dict[Pubkey, list[tuple[Pubkey, int]]] = {
            o: [(ata(o, stock, stock_program), a)] for o, a in zip(owners, amounts, strict=True)
        }
        if issuer_inventory:
            holdings[issuer.pubkey()] = [
                (ata(issuer.pubkey(), stock, stock_program), issuer_inventory)
            ]
        if authority_holding:
            holdings[authority.pubkey()] = [
                (ata(authority.pubkey(), stock, stock_program), authority_holding)
            ]
        for owner in owners[:second_account_for]:
            plain = await chain.open_plain_account(authority, owner, stock, stock_program)
            holdings[owner].append((plain, 10**decimals))
        await chain.mint_to(
            authority,
            authority,
            stock,
            [(account, amount) for accounts in holdings.values() for account, amount in accounts],
            decimals,
            stock_program,
        )
        treasury = ata(authority.pubkey(), usdc)
        await chain.open_associated(authority, [authority.pubkey()], usdc, TOKEN_PROGRAM_ID)
        await chain.mint_to(authority, authority, usdc, [(treasury, treasury_usdc)], 6)
        await chain.open_associated(authority, owners[:usdc_accounts_for], usdc, TOKEN_PROGRAM_ID)
        await chain.wait_finalized()
    return StockWorld(
        authority=authority,
        authority_file=write_keypair(keys / "authority.json", authority),
        issuer=issuer,
        stock_mint=stock,
        stock_program=stock_program,
        usdc_mint=usdc,
        treasury=treasury,
        treasury_usdc=treasury_usdc,
        holdings=holdings,
    )

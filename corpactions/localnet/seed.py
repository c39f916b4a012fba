"""Seed a chain with a tokenized stock, a USDC-like mint, a funded treasury and N holders.

Everything is created with real transactions sent over JSON-RPC (so it works against any
cluster the authority can pay on): instructions are packed greedily up to the 1232-byte packet
limit, signed with a fresh blockhash every few dozen transactions, sent, and checked.

The holder set is realistic on purpose: heavy-tailed balances, some owners with a second
(non-associated) token account, some zero balances, a few frozen accounts, and an issuer
inventory wallet. Holder wallets are derived from ``seed`` so a run is reproducible.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.transaction import Transaction

from corpactions.chain import layout, tokens
from corpactions.chain.keys import load_or_create_keypair, write_keypair, write_private
from corpactions.chain.rpc import Rpc
from corpactions.errors import ChainError, UserInputError
from corpactions.logs import get_logger

PACKET_LIMIT = 1232
TXS_PER_BLOCKHASH = 64
SEND_WINDOW = 32
LAMPORTS_PER_SOL = 1_000_000_000
USDC_DECIMALS = 6
STOCK_DECIMALS = 8
log = get_logger(__name__)


@dataclass
class Group:
    """Instructions that must travel in the same transaction, and their extra signers."""

    instructions: list[Instruction]
    signers: list[Keypair] = field(default_factory=list)


@dataclass
class SeedResult:
    rpc_url: str
    program: str
    authority: str
    usdc_mint: str
    stock_mint: str
    stock_decimals: int
    treasury: str
    treasury_usdc: int
    issuer_wallet: str
    issuer_inventory: int
    holders: int
    token_accounts: int
    zero_balance_owners: list[str]
    frozen_accounts: list[str]
    multi_account_owners: list[str]
    supply: int
    transactions: int
    keys_dir: str
    treasury_owner: str = ""
    """The treasury account's owner (the authority itself unless a separate key was made)."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def tx_size(instructions: Sequence[Instruction], payer: Pubkey) -> int:
    message = Message(list(instructions), payer)
    signatures = message.header.num_required_signatures
    return 1 + 64 * signatures + len(bytes(message))


def pack(groups: Sequence[Group], payer: Pubkey, limit: int = PACKET_LIMIT) -> list[Group]:
    """Greedily merge groups into transactions that stay within ``limit`` bytes."""
    packed: list[Group] = []
    current: Group | None = None
    for group in groups:
        if (
            current is not None
            and tx_size(current.instructions + group.instructions, payer) <= limit
        ):
            current.instructions.extend(group.instructions)
            current.signers.extend(group.signers)
            continue
        if tx_size(group.instructions, payer) > limit:
            raise ValueError("one instruction group does not fit in a transaction")
        current = Group(list(group.instructions), list(group.signers))
        packed.append(current)
    return packed


async def send_all(
    rpc: Rpc,
    payer: Keypair,
    txs: Sequence[Group],
    progress: Callable[[int], None] | None = None,
) -> list[str]:
    """Sign and send packed transactions, then wait until every one landed without error."""
    signatures = []
    for start in range(0, len(txs), TXS_PER_BLOCKHASH):
        chunk = txs[start : start + TXS_PER_BLOCKHASH]
        blockhash = (await rpc.latest_blockhash()).blockhash
        signed = [
            Transaction(
                [payer, *group.signers], Message(group.instructions, payer.pubkey()), blockhash
            )
            for group in chunk
        ]
        for window in range(0, len(signed), SEND_WINDOW):
            batch = signed[window : window + SEND_WINDOW]
            sent = await asyncio.gather(
                *(rpc.send_raw(bytes(tx), skip_preflight=True) for tx in batch)
            )
            signatures.extend(sent)
            if progress is not None:
                progress(len(batch))
    statuses = await rpc.wait_landed(signatures, timeout=120)
    failed = [
        (str(sig), st.err)
        for sig, st in zip(signatures, statuses, strict=True)
        if st.err is not None
    ]
    if failed:
        raise ChainError(
            f"{len(failed)} seeding transaction(s) failed on chain, "
            f"first {failed[0][0]}: {failed[0][1]}"
        )
    return [str(s) for s in signatures]


def holder_keypair(seed: int, index: int) -> Keypair:
    return Keypair.from_seed(hashlib.sha256(f"corpactions-holder:{seed}:{index}".encode()).digest())


def heavy_tailed_amount(rng: random.Random, decimals: int) -> int:
    """A Pareto-like integer balance: most holders own from 0.6 shares up a long tail (to about
    600,000 shares), and about one in ten owns a small fraction of a share."""
    unit = 10 ** max(decimals - 2, 0)  # a hundredth of a share
    if rng.randrange(10) == 0:
        hundredths = rng.randrange(1, 30)
    else:
        hundredths = 60 * ((1 << 20) // rng.randrange(1, 1 << 20))  # 1/u tail
    return int(hundredths * unit + rng.randrange(unit))


async def seed(
    *,
    rpc_url: str,
    keys_dir: Path,
    holders: int,
    program: str = "token",
    authority_path: Path | None = None,
    treasury_owner_path: Path | None = None,
    treasury_usdc: int = 10_000_000 * 10**USDC_DECIMALS,
    seed_value: int = 0,
    progress: Callable[[str, int, int], None] | None = None,
    packet_limit: int = PACKET_LIMIT,
    realistic: bool = True,
) -> SeedResult:
    """Seed the chain at ``rpc_url``; ``packet_limit=0`` sends one holder per transaction;
    ``realistic=False`` leaves out zero, frozen and second-account holders (exact counts);
    ``treasury_owner_path`` makes (or reuses) a separate treasury owner key, given SOL for
    funding fees and plan-account rent; without it the payout authority owns the treasury."""
    if holders < 0:
        raise UserInputError("--holders must be zero or more")
    if program not in {"token", "token2022"}:
        raise UserInputError("--program must be token or token2022")
    stock_program = (
        layout.TOKEN_2022_PROGRAM_ID if program == "token2022" else layout.TOKEN_PROGRAM_ID
    )
    usdc_program = layout.TOKEN_PROGRAM_ID
    rng = random.Random(seed_value)  # noqa: S311 - synthetic test data, not secrets
    keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    authority = load_or_create_keypair(authority_path or keys_dir / "payout-authority.json")
    usdc_mint = Keypair()
    stock_mint = Keypair()
    issuer = Keypair()
    me = authority.pubkey()
    vault = load_or_create_keypair(treasury_owner_path).pubkey() if treasury_owner_path else me

    async with Rpc(rpc_url, commitment="confirmed") as rpc:
        needed = 10 * LAMPORTS_PER_SOL + holders * 5_000_000
        if await rpc.balance(me) < needed:
            await rpc.wait_landed([await rpc.airdrop(me, needed)])
        if vault != me and await rpc.balance(vault) < LAMPORTS_PER_SOL:
            await rpc.wait_landed([await rpc.airdrop(vault, LAMPORTS_PER_SOL)])

        mint_rent = await rpc.rent_exempt_minimum(layout.MINT_LEN)
        stock_mint_len = (
            layout.mint_len_with_scaled_ui_amount() if program == "token2022" else layout.MINT_LEN
        )
        stock_mint_rent = await rpc.rent_exempt_minimum(stock_mint_len)
        account_rent = await rpc.rent_exempt_minimum(layout.ACCOUNT_LEN)

        stock_setup = [
            tokens.create_account_for(
                me, stock_mint.pubkey(), stock_mint_rent, stock_mint_len, stock_program
            )
        ]
        if program == "token2022":
            stock_setup.append(
                tokens.scaled_ui_amount_initialize(stock_mint.pubkey(), me, 1.0, stock_program)
            )
        stock_setup.append(
            tokens.initialize_mint2(stock_mint.pubkey(), STOCK_DECIMALS, me, me, stock_program)
        )
        treasury = tokens.associated_token_address(vault, usdc_mint.pubkey(), usdc_program)
        issuer_account = tokens.associated_token_address(
            issuer.pubkey(), stock_mint.pubkey(), stock_program
        )
        issuer_inventory = 1_000_000 * 10**STOCK_DECIMALS
        setup = [
            Group(
                [
                    tokens.create_account_for(
                        me, usdc_mint.pubkey(), mint_rent, layout.MINT_LEN, usdc_program
                    ),
                    tokens.initialize_mint2(
                        usdc_mint.pubkey(), USDC_DECIMALS, me, None, usdc_program
                    ),
                ],
                [usdc_mint],
            ),
            Group(stock_setup, [stock_mint]),
            Group(
                [
                    tokens.create_associated_token_account_idempotent(
                        me, vault, usdc_mint.pubkey(), usdc_program
                    ),
                    tokens.mint_to_checked(
                        usdc_mint.pubkey(), treasury, me, treasury_usdc, USDC_DECIMALS, usdc_program
                    ),
                    tokens.create_associated_token_account_idempotent(
                        me, issuer.pubkey(), stock_mint.pubkey(), stock_program
                    ),
                    tokens.mint_to_checked(
                        stock_mint.pubkey(),
                        issuer_account,
                        me,
                        issuer_inventory,
                        STOCK_DECIMALS,
                        stock_program,
                    ),
                ]
            ),
        ]
        sent = 0
        for group in setup:  # in order: each depends on the one before
            sent += len(await send_all(rpc, authority, [group]))

        zero: list[str] = []
        frozen: list[str] = []
        multi: list[str] = []
        supply = issuer_inventory
        groups: list[Group] = []
        wallets: list[list[Any]] = []
        for index in range(holders):
            owner = holder_keypair(seed_value, index)
            wallet = owner.pubkey()
            wallets.append([str(wallet), list(bytes(owner))])
            ata = tokens.associated_token_address(wallet, stock_mint.pubkey(), stock_program)
            instructions = [
                tokens.create_associated_token_account_idempotent(
                    me, wallet, stock_mint.pubkey(), stock_program
                )
            ]
            if realistic and index % 20 == 7:
                zero.append(str(wallet))
                groups.append(Group(instructions))
                continue
            amount = heavy_tailed_amount(rng, STOCK_DECIMALS)
            supply += amount
            instructions.append(
                tokens.mint_to_checked(
                    stock_mint.pubkey(), ata, me, amount, STOCK_DECIMALS, stock_program
                )
            )
            if realistic and index % 50 == 13:
                instructions.append(
                    tokens.freeze_account(ata, stock_mint.pubkey(), me, stock_program)
                )
                frozen.append(str(ata))
            groups.append(Group(instructions))
            if realistic and index % 25 == 3:
                extra = Keypair()
                second = heavy_tailed_amount(rng, STOCK_DECIMALS)
                supply += second
                multi.append(str(wallet))
                groups.append(
                    Group(
                        [
                            tokens.create_account_for(
                                me, extra.pubkey(), account_rent, layout.ACCOUNT_LEN, stock_program
                            ),
                            tokens.initialize_account3(
                                extra.pubkey(), stock_mint.pubkey(), wallet, stock_program
                            ),
                            tokens.mint_to_checked(
                                stock_mint.pubkey(),
                                extra.pubkey(),
                                me,
                                second,
                                STOCK_DECIMALS,
                                stock_program,
                            ),
                        ],
                        [extra],
                    )
                )
        packed = pack(groups, me, packet_limit) if packet_limit else groups
        done = 0

        def step(count: int) -> None:
            nonlocal done
            done += count
            if progress is not None:
                progress("holders", done, len(packed))

        sent += len(await send_all(rpc, authority, packed, step))
        onchain_supply, _ = await rpc.token_supply(stock_mint.pubkey())
        if onchain_supply != supply:
            raise ChainError(f"seeded supply {onchain_supply} differs from the {supply} minted")

    write_keypair(keys_dir / "usdc-mint.json", usdc_mint)
    write_keypair(keys_dir / "stock-mint.json", stock_mint)
    write_keypair(keys_dir / "issuer.json", issuer)
    write_private(keys_dir / "holders.json", orjson.dumps(wallets))
    result = SeedResult(
        rpc_url=rpc_url,
        program=program,
        authority=str(me),
        usdc_mint=str(usdc_mint.pubkey()),
        stock_mint=str(stock_mint.pubkey()),
        stock_decimals=STOCK_DECIMALS,
        treasury=str(treasury),
        treasury_usdc=treasury_usdc,
        issuer_wallet=str(issuer.pubkey()),
        issuer_inventory=issuer_inventory,
        holders=holders,
        token_accounts=holders + len(multi) + 1,
        zero_balance_owners=zero,
        frozen_accounts=frozen,
        multi_account_owners=multi,
        supply=supply,
        transactions=sent,
        keys_dir=str(keys_dir),
        treasury_owner=str(vault),
    )
    (keys_dir / "seed.json").write_bytes(orjson.dumps(result.as_dict(), option=orjson.OPT_INDENT_2))
    log.info("localnet seeded", holders=holders, program=program, transactions=sent)
    return result

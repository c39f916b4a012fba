"""Token-2022 account shapes as the real program sizes them, and node-shaped response items.

Sizes come from the Token-2022 program itself: ``GetAccountDataSize`` (instruction 21, built
by solana-py's ``spl.token.instructions.get_account_data_size``, followed by the u16 extension
types) is simulated in ``solders.litesvm.LiteSVM``, which runs the real program at its mainnet
id. Extension type numbers are spl-token-2022's ``ExtensionType`` (ImmutableOwner 7,
MemoTransfer 8, CpiGuard 11); the program refuses a mint extension here, so a wrong number
would not go unnoticed. The benchmarks use the same sizes.
"""

from __future__ import annotations

import base64
import functools
from typing import Any

from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.message import Message
from solders.system_program import CreateAccountParams, create_account
from solders.transaction import Transaction
from spl.token.constants import TOKEN_2022_PROGRAM_ID
from spl.token.instructions import get_account_data_size, initialize_mint2
from spl.token.models import GetAccountDataSizeParams, InitializeMint2Params

IMMUTABLE_OWNER, MEMO_TRANSFER, CPI_GUARD = 7, 8, 11
SHAPES: dict[str, tuple[int, ...]] = {
    "no extensions": (),
    "ImmutableOwner": (IMMUTABLE_OWNER,),  # every associated token account
    "ImmutableOwner+MemoTransfer": (IMMUTABLE_OWNER, MEMO_TRANSFER),
    "ImmutableOwner+CpiGuard": (IMMUTABLE_OWNER, CPI_GUARD),
}
MINT_SIZE = 82  # a mint without extensions (spl.token._layouts.MINT_LAYOUT)
SLICE_OFFSET, SLICE_LENGTH = 32, 134  # what snapshots ask of Token-2022
TOKEN_2022 = str(TOKEN_2022_PROGRAM_ID)


@functools.cache
def account_sizes() -> dict[str, int]:
    """Data length of a Token-2022 token account of each shape in ``SHAPES``, asked of the
    program (165 without extensions; the type byte and TLV entries follow)."""
    svm = LiteSVM()
    payer, mint = Keypair(), Keypair()
    svm.airdrop(payer.pubkey(), 10**10)
    setup = [
        create_account(
            CreateAccountParams(
                from_pubkey=payer.pubkey(),
                to_pubkey=mint.pubkey(),
                lamports=10**8,
                space=MINT_SIZE,
                owner=TOKEN_2022_PROGRAM_ID,
            )
        ),
        initialize_mint2(
            InitializeMint2Params(
                program_id=TOKEN_2022_PROGRAM_ID,
                mint=mint.pubkey(),
                decimals=8,
                mint_authority=payer.pubkey(),
            )
        ),
    ]
    svm.send_transaction(
        Transaction([payer, mint], Message(setup, payer.pubkey()), svm.latest_blockhash())
    )
    sizes = {}
    for name, extensions in SHAPES.items():
        base = get_account_data_size(
            GetAccountDataSizeParams(program_id=TOKEN_2022_PROGRAM_ID, mint=mint.pubkey())
        )
        data = bytes(base.data) + b"".join(e.to_bytes(2, "little") for e in extensions)
        ask = Instruction(TOKEN_2022_PROGRAM_ID, data, base.accounts)
        result = svm.simulate_transaction(
            Transaction([payer], Message([ask], payer.pubkey()), svm.latest_blockhash())
        )
        size = int.from_bytes(bytes(result.meta().return_data().data), "little")
        assert size >= 165, (name, result)  # the program answered (a failure returns nothing)
        sizes[name] = size
    return sizes


def token_account(
    mint: bytes, owner: bytes, amount: int, *, state: int = 1, shape: str = "ImmutableOwner"
) -> bytes:
    """A Token-2022 token account's data: the 165-byte base (mint, owner, amount, no delegate,
    ``state`` at 108), then for a longer shape the account type (2) and zeroed TLV space."""
    base = mint + owner + amount.to_bytes(8, "little") + bytes(36) + bytes([state])
    base += bytes(165 - len(base))
    size = account_sizes()[shape]
    return base if size == 165 else base + b"\x02" + bytes(size - 166)


def item(
    pubkey: str,
    data: bytes,
    *,
    order: str = "struct",
    program: str = TOKEN_2022,
    length: int = SLICE_LENGTH,
) -> dict[str, Any]:
    """One getProgramAccounts entry as a node writes it: base64 of the slice (truncated at the
    data's end), keys in struct order (``pubkey`` first, ``lamports`` first within the
    account) or sorted (older nodes); ``length``: the dataSlice length asked."""
    encoded = [
        base64.b64encode(data[SLICE_OFFSET : SLICE_OFFSET + length]).decode(),
        "base64",
    ]
    account = {
        "lamports": 2039280 + 8 * len(data),
        "data": encoded,
        "owner": program,
        "executable": False,
        "rentEpoch": 18446744073709551615,
        "space": len(data),
    }
    if order == "sorted":
        return {"account": dict(sorted(account.items())), "pubkey": pubkey}
    return {"pubkey": pubkey, "account": account}

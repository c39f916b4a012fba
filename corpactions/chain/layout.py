"""Program ids and SPL token account/mint layouts.

No id here is typed by hand: each comes from a maintained library (solana-py's ``spl`` package,
solders). The layout numbers below are checked in tests/test_ground_truth.py against a second
source each: solana-py's ``spl.token._layouts`` construct layouts for the classic offsets, and
the real Token-2022 program (run by LiteSVM, driven by solana-py's own instruction builders) for
the extension numbers. docs/architecture.md ("On-chain facts and where they are checked") lists
every fact and its source.

Token account (165 bytes): mint 0..32, owner 32..64, amount u64 LE 64..72, delegate option
72..108, state u8 at 108 (0 uninitialized, 1 initialized, 2 frozen). Token-2022 accounts and
mints with extensions are longer: byte 165 is the account type (1 mint, 2 account), then TLV
entries (u16 type, u16 length, value).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from solders import address_lookup_table_account, compute_budget, system_program
from solders import token as solders_token
from solders.pubkey import Pubkey
from spl.memo import constants as memo_constants
from spl.token import constants as token_constants

TOKEN_PROGRAM_ID: Pubkey = solders_token.ID
TOKEN_2022_PROGRAM_ID: Pubkey = token_constants.TOKEN_2022_PROGRAM_ID
ASSOCIATED_TOKEN_PROGRAM_ID: Pubkey = token_constants.ASSOCIATED_TOKEN_PROGRAM_ID
MEMO_PROGRAM_ID: Pubkey = memo_constants.MEMO_PROGRAM_ID
COMPUTE_BUDGET_PROGRAM_ID: Pubkey = compute_budget.ID
ADDRESS_LOOKUP_TABLE_PROGRAM_ID: Pubkey = address_lookup_table_account.ID
SYSTEM_PROGRAM_ID: Pubkey = system_program.ID
TOKEN_PROGRAMS = (TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID)
PROGRAMS_USED = (
    TOKEN_PROGRAM_ID,
    TOKEN_2022_PROGRAM_ID,
    ASSOCIATED_TOKEN_PROGRAM_ID,
    MEMO_PROGRAM_ID,
    COMPUTE_BUDGET_PROGRAM_ID,
    ADDRESS_LOOKUP_TABLE_PROGRAM_ID,
    SYSTEM_PROGRAM_ID,
)
"""Every program a corpactions transaction may call; the local chain must run each at this id."""

ACCOUNT_LEN: int = token_constants.ACCOUNT_LEN
MINT_LEN: int = token_constants.MINT_LEN
ACCOUNT_TYPE_OFFSET = ACCOUNT_LEN
"""Token-2022 pads mints to an account's length, so both carry the account type at byte 165."""
ACCOUNT_TYPE_MINT = 1
ACCOUNT_TYPE_ACCOUNT = 2
STATE_OFFSET = 108
STATE_NAMES = {0: "uninitialized", 1: "initialized", 2: "frozen"}

EXT_IMMUTABLE_OWNER = 7
EXT_SCALED_UI_AMOUNT = 25
SCALED_UI_AMOUNT_LEN = 56
EXTENSION_NAMES = {
    EXT_IMMUTABLE_OWNER: "immutableOwner",
    EXT_SCALED_UI_AMOUNT: "scaledUiAmountConfig",
}


@dataclass(frozen=True, slots=True)
class TokenAccount:
    mint: Pubkey
    owner: Pubkey
    amount: int
    state: int
    extensions: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ScaledUiAmount:
    authority: Pubkey
    multiplier: float
    new_multiplier_effective_timestamp: int
    new_multiplier: float


@dataclass(frozen=True, slots=True)
class Mint:
    mint_authority: Pubkey | None
    supply: int
    decimals: int
    is_initialized: bool
    freeze_authority: Pubkey | None
    extensions: tuple[int, ...]
    scaled_ui_amount: ScaledUiAmount | None


def _tlv(data: bytes, expected_type: int) -> list[tuple[int, bytes]]:
    if len(data) <= ACCOUNT_TYPE_OFFSET or data[ACCOUNT_TYPE_OFFSET] != expected_type:
        return []
    entries: list[tuple[int, bytes]] = []
    offset = ACCOUNT_TYPE_OFFSET + 1
    while offset + 4 <= len(data):
        ext_type, length = struct.unpack_from("<HH", data, offset)
        if ext_type == 0:
            break
        entries.append((ext_type, data[offset + 4 : offset + 4 + length]))
        offset += 4 + length
    return entries


def is_token_account(owner_program: Pubkey, data: bytes) -> bool:
    """True for an initialized SPL Token / Token-2022 *token account* (not a mint, not multisig)."""
    if owner_program == TOKEN_PROGRAM_ID:
        return len(data) == ACCOUNT_LEN and data[STATE_OFFSET] != 0
    if owner_program == TOKEN_2022_PROGRAM_ID:
        if len(data) == ACCOUNT_LEN:
            return data[STATE_OFFSET] != 0
        return len(data) > ACCOUNT_LEN and data[ACCOUNT_TYPE_OFFSET] == ACCOUNT_TYPE_ACCOUNT
    return False


def is_mint(owner_program: Pubkey, data: bytes) -> bool:
    if owner_program not in TOKEN_PROGRAMS:
        return False
    if len(data) == MINT_LEN:
        return True
    return (
        owner_program == TOKEN_2022_PROGRAM_ID
        and len(data) > ACCOUNT_LEN
        and data[ACCOUNT_TYPE_OFFSET] == ACCOUNT_TYPE_MINT
    )


def decode_token_account(data: bytes) -> TokenAccount:
    return TokenAccount(
        mint=Pubkey.from_bytes(data[0:32]),
        owner=Pubkey.from_bytes(data[32:64]),
        amount=int.from_bytes(data[64:72], "little"),
        state=data[STATE_OFFSET],
        extensions=tuple(t for t, _ in _tlv(data, ACCOUNT_TYPE_ACCOUNT)),
    )


def _coption_key(data: bytes, offset: int) -> Pubkey | None:
    tag = int.from_bytes(data[offset : offset + 4], "little")
    return Pubkey.from_bytes(data[offset + 4 : offset + 36]) if tag == 1 else None


def decode_mint(data: bytes) -> Mint:
    entries = _tlv(data, ACCOUNT_TYPE_MINT)
    scaled: ScaledUiAmount | None = None
    for ext_type, value in entries:
        if ext_type == EXT_SCALED_UI_AMOUNT and len(value) >= SCALED_UI_AMOUNT_LEN:
            authority = Pubkey.from_bytes(value[0:32])
            multiplier, timestamp, new_multiplier = struct.unpack_from("<dqd", value, 32)
            scaled = ScaledUiAmount(authority, multiplier, timestamp, new_multiplier)
    return Mint(
        mint_authority=_coption_key(data, 0),
        supply=int.from_bytes(data[36:44], "little"),
        decimals=data[44],
        is_initialized=bool(data[45]),
        freeze_authority=_coption_key(data, 46),
        extensions=tuple(t for t, _ in entries),
        scaled_ui_amount=scaled,
    )


def mint_len_with_scaled_ui_amount() -> int:
    """Size of a Token-2022 mint carrying only the ScaledUiAmount extension."""
    return ACCOUNT_LEN + 1 + 4 + SCALED_UI_AMOUNT_LEN

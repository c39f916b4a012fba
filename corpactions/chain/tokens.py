"""Instruction builders for the SPL Token / Token-2022, Associated Token, Memo and Compute Budget
programs, byte for byte (layouts in the programs' instruction.rs; tests run them against the real
programs on the local chain).
"""

from __future__ import annotations

import struct

from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey
from solders.system_program import CreateAccountParams, create_account

from corpactions.chain.layout import (
    ASSOCIATED_TOKEN_PROGRAM_ID,
    COMPUTE_BUDGET_PROGRAM_ID,
    MEMO_PROGRAM_ID,
    SYSTEM_PROGRAM_ID,
    TOKEN_PROGRAM_ID,
)

_INITIALIZE_MINT2 = 20
_INITIALIZE_ACCOUNT3 = 18
_MINT_TO_CHECKED = 14
_TRANSFER_CHECKED = 12
_FREEZE_ACCOUNT = 10
_SCALED_UI_AMOUNT = 43
_ATA_CREATE_IDEMPOTENT = 1


def _w(key: Pubkey) -> AccountMeta:
    return AccountMeta(key, is_signer=False, is_writable=True)


def _r(key: Pubkey) -> AccountMeta:
    return AccountMeta(key, is_signer=False, is_writable=False)


def _s(key: Pubkey, *, writable: bool = False) -> AccountMeta:
    return AccountMeta(key, is_signer=True, is_writable=writable)


def associated_token_address(
    owner: Pubkey, mint: Pubkey, program: Pubkey = TOKEN_PROGRAM_ID
) -> Pubkey:
    address, _ = Pubkey.find_program_address(
        [bytes(owner), bytes(program), bytes(mint)], ASSOCIATED_TOKEN_PROGRAM_ID
    )
    return address


def create_associated_token_account_idempotent(
    payer: Pubkey,
    owner: Pubkey,
    mint: Pubkey,
    program: Pubkey = TOKEN_PROGRAM_ID,
    address: Pubkey | None = None,
) -> Instruction:
    """``address``: the associated account when already derived (deriving it is not free)."""
    return Instruction(
        ASSOCIATED_TOKEN_PROGRAM_ID,
        bytes([_ATA_CREATE_IDEMPOTENT]),
        [
            _s(payer, writable=True),
            _w(address or associated_token_address(owner, mint, program)),
            _r(owner),
            _r(mint),
            _r(SYSTEM_PROGRAM_ID),
            _r(program),
        ],
    )


def create_account_for(
    payer: Pubkey, new_account: Pubkey, lamports: int, space: int, program: Pubkey
) -> Instruction:
    return create_account(
        CreateAccountParams(
            from_pubkey=payer, to_pubkey=new_account, lamports=lamports, space=space, owner=program
        )
    )


def initialize_mint2(
    mint: Pubkey,
    decimals: int,
    mint_authority: Pubkey,
    freeze_authority: Pubkey | None = None,
    program: Pubkey = TOKEN_PROGRAM_ID,
) -> Instruction:
    data = bytes([_INITIALIZE_MINT2, decimals]) + bytes(mint_authority)
    data += b"\x01" + bytes(freeze_authority) if freeze_authority else b"\x00"
    return Instruction(program, data, [_w(mint)])


def initialize_account3(
    account: Pubkey, mint: Pubkey, owner: Pubkey, program: Pubkey = TOKEN_PROGRAM_ID
) -> Instruction:
    return Instruction(
        program, bytes([_INITIALIZE_ACCOUNT3]) + bytes(owner), [_w(account), _r(mint)]
    )


def mint_to_checked(
    mint: Pubkey,
    destination: Pubkey,
    authority: Pubkey,
    amount: int,
    decimals: int,
    program: Pubkey = TOKEN_PROGRAM_ID,
) -> Instruction:
    data = struct.pack("<BQB", _MINT_TO_CHECKED, amount, decimals)
    return Instruction(program, data, [_w(mint), _w(destination), _s(authority)])


def transfer_checked(
    source: Pubkey,
    mint: Pubkey,
    destination: Pubkey,
    owner: Pubkey,
    amount: int,
    decimals: int,
    program: Pubkey = TOKEN_PROGRAM_ID,
) -> Instruction:
    data = struct.pack("<BQB", _TRANSFER_CHECKED, amount, decimals)
    return Instruction(program, data, [_w(source), _r(mint), _w(destination), _s(owner)])


def freeze_account(
    account: Pubkey, mint: Pubkey, authority: Pubkey, program: Pubkey = TOKEN_PROGRAM_ID
) -> Instruction:
    return Instruction(program, bytes([_FREEZE_ACCOUNT]), [_w(account), _r(mint), _s(authority)])


def scaled_ui_amount_initialize(
    mint: Pubkey, authority: Pubkey | None, multiplier: float, program: Pubkey
) -> Instruction:
    """Token-2022 ScaledUiAmount ``Initialize``; must come before InitializeMint2."""
    data = bytes([_SCALED_UI_AMOUNT, 0]) + (bytes(authority) if authority else bytes(32))
    data += struct.pack("<d", multiplier)
    return Instruction(program, data, [_w(mint)])


def scaled_ui_amount_update(
    mint: Pubkey, authority: Pubkey, multiplier: float, effective_timestamp: int, program: Pubkey
) -> Instruction:
    """Token-2022 ScaledUiAmount ``UpdateMultiplier`` (takes effect at ``effective_timestamp``)."""
    data = bytes([_SCALED_UI_AMOUNT, 1]) + struct.pack("<dq", multiplier, effective_timestamp)
    return Instruction(program, data, [_w(mint), _s(authority)])


def memo(text: str, signers: tuple[Pubkey, ...] = ()) -> Instruction:
    return Instruction(MEMO_PROGRAM_ID, text.encode(), [_s(k) for k in signers])


def set_compute_unit_limit(units: int) -> Instruction:
    return Instruction(COMPUTE_BUDGET_PROGRAM_ID, struct.pack("<BI", 2, units), [])


def set_compute_unit_price(micro_lamports: int) -> Instruction:
    return Instruction(COMPUTE_BUDGET_PROGRAM_ID, struct.pack("<BQ", 3, micro_lamports), [])

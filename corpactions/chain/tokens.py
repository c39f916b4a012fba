"""Instructions for the SPL Token / Token-2022, Associated Token, Memo and Compute Budget
programs.

Built by the maintained libraries wherever they have the instruction: solana-py's
``spl.token.instructions`` and ``spl.memo``, solders' ``compute_budget``, ``token.associated``
and ``system_program`` (the Address Lookup Table program's instructions). Three are written here:

- ``transfer_checked`` and ``mint_to_checked``, built once per payout line: the same bytes as
  spl's builders (a property test in tests/test_ground_truth.py compares them) at a tenth of
  the cost;
- the Token-2022 ScaledUiAmount extension's ``Initialize`` and ``UpdateMultiplier``, which no
  Python library builds (checked against the real Token-2022 program and the extension's
  published layout, see docs/architecture.md);
- a memo without signers (spl's builder always names one signer).
"""

from __future__ import annotations

import struct

from solders import compute_budget, system_program
from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey
from solders.system_program import (
    CreateAccountParams,
    CreateAccountWithSeedParams,
    create_account,
    create_account_with_seed,
)
from solders.token.associated import get_associated_token_address
from spl.memo.instructions import create_memo
from spl.memo.models import MemoParams
from spl.token import instructions as spl_token
from spl.token import models as spl_models

from corpactions.chain.layout import MEMO_PROGRAM_ID, TOKEN_PROGRAM_ID

# Discriminators of the instructions written here (token program's instruction.rs; pinned in
# tests against spl's builders and the real programs).
_MINT_TO_CHECKED = 14
_TRANSFER_CHECKED = 12
_SCALED_UI_AMOUNT_EXTENSION = 43
_SCALED_UI_AMOUNT_INITIALIZE = 0
_SCALED_UI_AMOUNT_UPDATE_MULTIPLIER = 1


def _w(key: Pubkey) -> AccountMeta:
    return AccountMeta(key, is_signer=False, is_writable=True)


def _r(key: Pubkey) -> AccountMeta:
    return AccountMeta(key, is_signer=False, is_writable=False)


def _s(key: Pubkey, *, writable: bool = False) -> AccountMeta:
    return AccountMeta(key, is_signer=True, is_writable=writable)


def associated_token_address(
    owner: Pubkey, mint: Pubkey, program: Pubkey = TOKEN_PROGRAM_ID
) -> Pubkey:
    """The associated token account of ``owner`` for ``mint`` (solders' derivation)."""
    return get_associated_token_address(owner, mint, program)


def create_associated_token_account_idempotent(
    payer: Pubkey,
    owner: Pubkey,
    mint: Pubkey,
    program: Pubkey = TOKEN_PROGRAM_ID,
) -> Instruction:
    return spl_token.create_idempotent_associated_token_account(payer, owner, mint, program)


def create_account_for(
    payer: Pubkey, new_account: Pubkey, lamports: int, space: int, program: Pubkey
) -> Instruction:
    return create_account(
        CreateAccountParams(
            from_pubkey=payer, to_pubkey=new_account, lamports=lamports, space=space, owner=program
        )
    )


def address_with_seed(base: Pubkey, seed: str, program: Pubkey = TOKEN_PROGRAM_ID) -> Pubkey:
    """The address ``createAccountWithSeed`` gives ``base`` and ``seed`` (solders' derivation)."""
    return Pubkey.create_with_seed(base, seed, program)


def create_account_with_seed_for(
    payer: Pubkey, base: Pubkey, seed: str, lamports: int, space: int, program: Pubkey
) -> Instruction:
    """solders' ``createAccountWithSeed``: ``payer`` funds it, ``base`` signs for the address."""
    return create_account_with_seed(
        CreateAccountWithSeedParams(
            from_pubkey=payer,
            to_pubkey=address_with_seed(base, seed, program),
            base=base,
            seed=seed,
            lamports=lamports,
            space=space,
            owner=program,
        )
    )


def close_account(
    account: Pubkey, destination: Pubkey, owner: Pubkey, program: Pubkey = TOKEN_PROGRAM_ID
) -> Instruction:
    return spl_token.close_account(
        spl_models.CloseAccountParams(
            program_id=program, account=account, dest=destination, owner=owner
        )
    )


def initialize_mint2(
    mint: Pubkey,
    decimals: int,
    mint_authority: Pubkey,
    freeze_authority: Pubkey | None = None,
    program: Pubkey = TOKEN_PROGRAM_ID,
) -> Instruction:
    return spl_token.initialize_mint2(
        spl_models.InitializeMint2Params(
            program_id=program,
            mint=mint,
            decimals=decimals,
            mint_authority=mint_authority,
            freeze_authority=freeze_authority,
        )
    )


def initialize_account3(
    account: Pubkey, mint: Pubkey, owner: Pubkey, program: Pubkey = TOKEN_PROGRAM_ID
) -> Instruction:
    return spl_token.initialize_account3(
        spl_models.InitializeAccount3Params(
            program_id=program, account=account, mint=mint, owner=owner
        )
    )


def mint_to_checked(
    mint: Pubkey,
    destination: Pubkey,
    authority: Pubkey,
    amount: int,
    decimals: int,
    program: Pubkey = TOKEN_PROGRAM_ID,
) -> Instruction:
    """Byte-identical to ``spl.token.instructions.mint_to_checked`` (tested)."""
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
    """Byte-identical to ``spl.token.instructions.transfer_checked`` (tested)."""
    data = struct.pack("<BQB", _TRANSFER_CHECKED, amount, decimals)
    return Instruction(program, data, [_w(source), _r(mint), _w(destination), _s(owner)])


def freeze_account(
    account: Pubkey, mint: Pubkey, authority: Pubkey, program: Pubkey = TOKEN_PROGRAM_ID
) -> Instruction:
    return spl_token.freeze_account(
        spl_models.FreezeAccountParams(
            program_id=program, account=account, mint=mint, authority=authority
        )
    )


def scaled_ui_amount_initialize(
    mint: Pubkey, authority: Pubkey | None, multiplier: float, program: Pubkey
) -> Instruction:
    """Token-2022 ScaledUiAmount ``Initialize``; must come before InitializeMint2.

    Data: extension instruction 43, sub-instruction 0, authority (32 bytes; zeros for none),
    multiplier f64 LE."""
    data = bytes([_SCALED_UI_AMOUNT_EXTENSION, _SCALED_UI_AMOUNT_INITIALIZE])
    data += bytes(authority) if authority else bytes(32)
    data += struct.pack("<d", multiplier)
    return Instruction(program, data, [_w(mint)])


def scaled_ui_amount_update(
    mint: Pubkey, authority: Pubkey, multiplier: float, effective_timestamp: int, program: Pubkey
) -> Instruction:
    """Token-2022 ScaledUiAmount ``UpdateMultiplier`` (takes effect at ``effective_timestamp``).

    Data: extension instruction 43, sub-instruction 1, multiplier f64 LE, timestamp i64 LE."""
    data = bytes([_SCALED_UI_AMOUNT_EXTENSION, _SCALED_UI_AMOUNT_UPDATE_MULTIPLIER])
    data += struct.pack("<dq", multiplier, effective_timestamp)
    return Instruction(program, data, [_w(mint), _s(authority)])


def memo(text: str, signers: tuple[Pubkey, ...] = ()) -> Instruction:
    """A memo; with one signer it is spl.memo's instruction (the signer marked writable, as spl
    builds it), with none the Memo program's plain form: the UTF-8 text and no accounts."""
    if len(signers) == 1:
        return create_memo(
            MemoParams(program_id=MEMO_PROGRAM_ID, signer=signers[0], message=text.encode())
        )
    return Instruction(MEMO_PROGRAM_ID, text.encode(), [_s(k) for k in signers])


def set_compute_unit_limit(units: int) -> Instruction:
    return compute_budget.set_compute_unit_limit(units)


def set_compute_unit_price(micro_lamports: int) -> Instruction:
    return compute_budget.set_compute_unit_price(micro_lamports)


# ----- address lookup tables (solders' system_program builders) ------------------------------


def create_lookup_table(
    authority: Pubkey, payer: Pubkey, recent_slot: int
) -> tuple[Instruction, Pubkey]:
    """CreateLookupTable and the table's address (derived from authority and recent slot)."""
    return system_program.create_lookup_table(
        {"authority_address": authority, "payer_address": payer, "recent_slot": recent_slot}
    )


def extend_lookup_table(
    table: Pubkey, authority: Pubkey, payer: Pubkey, addresses: list[Pubkey]
) -> Instruction:
    return system_program.extend_lookup_table(
        {
            "payer_address": payer,
            "lookup_table_address": table,
            "authority_address": authority,
            "new_addresses": addresses,
        }
    )


def deactivate_lookup_table(table: Pubkey, authority: Pubkey) -> Instruction:
    return system_program.deactivate_lookup_table(
        {"lookup_table_address": table, "authority_address": authority}
    )


def close_lookup_table(table: Pubkey, authority: Pubkey, recipient: Pubkey) -> Instruction:
    return system_program.close_lookup_table(
        {
            "lookup_table_address": table,
            "authority_address": authority,
            "recipient_address": recipient,
        }
    )

"""Programs the local chain needs beyond LiteSVM's defaults.

LiteSVM (solders 0.29) maps SPL Token, Token-2022 and Memo at their ids, but not the Associated
Token Account program, although the real program's ELF ships inside the installed solders
binary. We find it there and load it at its mainnet id. It is recognised by what it does, not by
where it sits: each embedded ELF is tried in a scratch VM, and the one that creates a correct
associated token account (right address, mint and owner) for both token programs is kept.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import solders
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.message import Message
from solders.transaction import Transaction

from corpactions.chain import layout, tokens

_ELF_MAGIC = re.compile(rb"\x7fELF\x02\x01\x01")
_BPF_MACHINES = {247, 263}


class ProgramNotFound(RuntimeError):
    """The installed solders build does not carry the Associated Token Account program."""


def _embedded_elves(blob: bytes) -> list[bytes]:
    elves = []
    for match in _ELF_MAGIC.finditer(blob):
        start = match.start()
        machine = int.from_bytes(blob[start + 18 : start + 20], "little")
        if start == 0 or machine not in _BPF_MACHINES:
            continue
        shoff = int.from_bytes(blob[start + 0x28 : start + 0x30], "little")
        shentsize = int.from_bytes(blob[start + 0x3A : start + 0x3C], "little")
        shnum = int.from_bytes(blob[start + 0x3C : start + 0x3E], "little")
        end = start + shoff + shentsize * shnum
        if start < end <= len(blob):
            elves.append(blob[start:end])
    return elves


def _creates_associated_accounts(elf: bytes) -> bool:
    svm = LiteSVM()
    try:
        svm.add_program(layout.ASSOCIATED_TOKEN_PROGRAM_ID, elf)
    except Exception:  # a candidate that does not load is simply not it
        return False
    payer = Keypair()
    svm.airdrop(payer.pubkey(), 10**10)
    for program in layout.TOKEN_PROGRAMS:
        mint = Keypair()
        owner = Keypair().pubkey()
        rent = svm.minimum_balance_for_rent_exemption(layout.MINT_LEN)
        setup = Transaction(
            [payer, mint],
            Message(
                [
                    tokens.create_account_for(
                        payer.pubkey(), mint.pubkey(), rent, layout.MINT_LEN, program
                    ),
                    tokens.initialize_mint2(mint.pubkey(), 6, payer.pubkey(), None, program),
                ],
                payer.pubkey(),
            ),
            svm.latest_blockhash(),
        )
        create = Transaction(
            [payer],
            Message(
                [
                    tokens.create_associated_token_account_idempotent(
                        payer.pubkey(), owner, mint.pubkey(), program
                    )
                ],
                payer.pubkey(),
            ),
            svm.latest_blockhash(),
        )
        svm.send_transaction(setup)
        svm.send_transaction(create)
        account = svm.get_account(tokens.associated_token_address(owner, mint.pubkey(), program))
        if account is None or account.owner != program:
            return False
        decoded = layout.decode_token_account(bytes(account.data))
        if decoded.mint != mint.pubkey() or decoded.owner != owner:
            return False
    return True


@lru_cache(maxsize=1)
def associated_token_program_elf() -> bytes:
    binary = Path(solders.__file__).with_name("solders.abi3.so")
    if not binary.exists():
        candidates = sorted(Path(solders.__file__).parent.glob("solders*.so"))
        if not candidates:
            raise ProgramNotFound("no solders extension module found")
        binary = candidates[0]
    for elf in _embedded_elves(binary.read_bytes()):
        if _creates_associated_accounts(elf):
            return elf
    raise ProgramNotFound(
        f"the Associated Token Account program was not found in {binary}; "
        "install the solders version pinned in requirements.lock"
    )


def load_missing_programs(svm: LiteSVM) -> None:
    if svm.get_account(layout.ASSOCIATED_TOKEN_PROGRAM_ID) is None:
        svm.add_program(layout.ASSOCIATED_TOKEN_PROGRAM_ID, associated_token_program_elf())

"""Turn a plan's pending lines into transactions: check recipients, pack to the packet limit.

Lines deliver USDC from the treasury (``transferChecked``) or, for a split, new stock tokens minted
by the payout authority (``mintToChecked``; then there is no treasury).

Recipients are checked first (getMultipleAccounts): a missing token account is created in the
same transaction (rent paid by the payer) or the line is held for claim, by policy; a frozen or
foreign account holds the line with the reason. Lines are then packed in owner order, greedily,
measuring the real serialized transaction against the 1232-byte limit. The assignment is written
to the ledger once; it is never recomputed for lines already batched.

Lines whose destination is an entry of a usable address lookup table are packed apart, in table
order, into v0 transactions that name each such destination by its table index (one byte instead
of 32): those are bounded by the 64 account locks as much as by the packet size. Program ids, the
signer/payer and the source account are static keys (``MessageV0.try_compile`` never looks up a
signer or an invoked program; the tables hold recipients' token accounts only).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from solders.address_lookup_table_account import AddressLookupTableAccount
from solders.hash import Hash
from solders.instruction import Instruction
from solders.message import Message, MessageV0
from solders.pubkey import Pubkey

from corpactions.chain import layout, tokens
from corpactions.chain.rpc import Rpc

PACKET_LIMIT = 1232
MAX_COMPUTE_UNITS = 1_400_000
MAX_LINES_PER_TX = 60  # below the 64 account locks of a transaction
MAX_ACCOUNT_LOCKS = 64
MEMO_TEMPLATE = "corpactions plan {plan} batch {batch} attempt {attempt}"


def memo_prefix(plan_id: int) -> str:
    """What every batch memo of the plan starts with (to find its transactions on chain)."""
    return MEMO_TEMPLATE.split("{batch}", 1)[0].format(plan=plan_id)


@dataclass(frozen=True)
class Recipient:
    owner: str
    account: Pubkey
    exists: bool
    problem: str | None


@dataclass(frozen=True)
class LineSpec:
    line_id: int
    owner: str
    amount: int
    create: bool
    destination: Pubkey | None = None
    """The owner's USDC associated account, when already derived."""


async def inspect_recipients(
    rpc: Rpc, owners: list[str], mint: Pubkey, what: str = "USDC"
) -> dict[str, Recipient]:
    accounts = [
        tokens.associated_token_address(Pubkey.from_string(o), mint, layout.TOKEN_PROGRAM_ID)
        for o in owners
    ]
    found = await rpc.accounts(accounts)
    result: dict[str, Recipient] = {}
    for owner, account, info in zip(owners, accounts, found, strict=True):
        if info is None:
            result[owner] = Recipient(owner, account, exists=False, problem=None)
            continue
        data = bytes(info.data)
        problem = None
        if not layout.is_token_account(info.owner, data):
            problem = f"the recipient's {what} address holds something other than a token account"
        else:
            decoded = layout.decode_token_account(data)
            if decoded.mint != mint or str(decoded.owner) != owner:
                problem = f"the recipient's {what} account has another mint or owner"
            elif decoded.state == 2:
                problem = f"the recipient's {what} account is frozen"
        result[owner] = Recipient(owner, account, exists=True, problem=problem)
    return result


def instructions(
    specs: list[LineSpec],
    *,
    payer: Pubkey,
    treasury: Pubkey | None,
    mint: Pubkey,
    decimals: int,
    memo: str,
    unit_limit: int,
    unit_price: int,
) -> list[Instruction]:
    out = [tokens.set_compute_unit_limit(unit_limit), tokens.set_compute_unit_price(unit_price)]
    for spec in specs:
        owner = Pubkey.from_string(spec.owner)
        if spec.create:
            out.append(
                tokens.create_associated_token_account_idempotent(
                    payer, owner, mint, layout.TOKEN_PROGRAM_ID
                )
            )
        destination = spec.destination or tokens.associated_token_address(
            owner, mint, layout.TOKEN_PROGRAM_ID
        )
        if treasury is None:  # new stock tokens: the payer is the mint authority
            out.append(tokens.mint_to_checked(mint, destination, payer, spec.amount, decimals))
        else:
            out.append(
                tokens.transfer_checked(treasury, mint, destination, payer, spec.amount, decimals)
            )
    out.append(tokens.memo(memo))
    return out


def compile_message(
    ixs: list[Instruction],
    payer: Pubkey,
    blockhash: Hash,
    tables: Sequence[AddressLookupTableAccount] = (),
) -> Message | MessageV0:
    """A legacy message, or with tables a v0 message that looks up whatever keys they hold."""
    if not tables:
        return Message.new_with_blockhash(ixs, payer, blockhash)
    return MessageV0.try_compile(payer, ixs, list(tables), blockhash)


def serialized_size(message: Message | MessageV0) -> int:
    """Bytes of the signed transaction on the wire (v0 adds its version prefix)."""
    signatures = message.header.num_required_signatures
    prefix = 1 if isinstance(message, MessageV0) else 0
    return 1 + 64 * signatures + prefix + len(bytes(message))


def account_locks(message: Message | MessageV0) -> int:
    """Accounts the transaction locks: its static keys and every address it loads."""
    loaded = 0
    if isinstance(message, MessageV0):
        loaded = sum(
            len(bytes(lookup.writable_indexes)) + len(bytes(lookup.readonly_indexes))
            for lookup in message.address_table_lookups
        )
    return len(message.account_keys) + loaded


def _size(ixs: list[Instruction], payer: Pubkey) -> int:
    return serialized_size(compile_message(ixs, payer, Hash.default()))


def tables_for(
    specs: Sequence[LineSpec], index: dict[Pubkey, AddressLookupTableAccount]
) -> list[AddressLookupTableAccount]:
    """The tables holding the specs' destinations (existing accounts only), in first-use order."""
    found: dict[Pubkey, AddressLookupTableAccount] = {}
    for spec in specs:
        table = index.get(spec.destination) if spec.destination and not spec.create else None
        if table is not None:
            found.setdefault(table.key, table)
    return list(found.values())


def lookup_index(
    tables: Sequence[AddressLookupTableAccount],
) -> dict[Pubkey, AddressLookupTableAccount]:
    """Destination -> the (first) table holding it."""
    index: dict[Pubkey, AddressLookupTableAccount] = {}
    for table in tables:
        for address in table.addresses:
            index.setdefault(address, table)
    return index


def pack(
    specs: list[LineSpec],
    *,
    payer: Pubkey,
    treasury: Pubkey | None,
    mint: Pubkey,
    decimals: int,
    limit: int = PACKET_LIMIT,
    tables: Sequence[AddressLookupTableAccount] = (),
) -> list[list[LineSpec]]:
    """Greedy packing: each batch is the longest prefix of what remains whose real serialized
    transaction (with the longest memo an attempt can carry and the largest compute-budget
    values) fits the packet limit and the account locks, found by binary search (size and locks
    grow with every line, so the search is exact). Lines the ``tables`` hold come first, in
    table order, as v0 batches; the others follow in the given order."""
    memo = MEMO_TEMPLATE.format(plan=10**12, batch=10**9, attempt=10**6)
    ready = [
        spec
        if spec.destination
        else LineSpec(
            spec.line_id,
            spec.owner,
            spec.amount,
            spec.create,
            tokens.associated_token_address(
                Pubkey.from_string(spec.owner), mint, layout.TOKEN_PROGRAM_ID
            ),
        )
        for spec in specs
    ]

    index = lookup_index(tables)
    order = {table.key: position for position, table in enumerate(tables)}
    entry = {
        address: (order[table.key], table.addresses.index(address))
        for address, table in index.items()
    }
    looked_up = sorted(
        (s for s in ready if not s.create and s.destination in index),
        key=lambda s: entry[s.destination],  # type: ignore[index]
    )
    static = [s for s in ready if s.create or s.destination not in index]
    known: dict[tuple[int, int, int, int], bool] = {}

    def fits(group: list[LineSpec]) -> bool:
        # Every key is a distinct 32-byte address (or a one-byte table index) and every amount
        # fixed-width, so the size depends only on how many lines of each kind the transaction
        # carries and how many tables it reads.
        creates = sum(1 for spec in group if spec.create)
        used = tables_for(group, index)
        in_tables = sum(1 for spec in group if not spec.create and spec.destination in index)
        kinds = (creates, len(group) - creates - in_tables, in_tables, len(used))
        if kinds not in known:
            ixs = instructions(
                group,
                payer=payer,
                treasury=treasury,
                mint=mint,
                decimals=decimals,
                memo=memo,
                unit_limit=MAX_COMPUTE_UNITS,
                unit_price=2**63 - 1,
            )
            message = compile_message(ixs, payer, Hash.default(), used)
            known[kinds] = (
                serialized_size(message) <= limit and account_locks(message) <= MAX_ACCOUNT_LOCKS
            )
        return known[kinds]

    return _greedy(looked_up, fits) + _greedy(static, fits)


def _greedy(ready: list[LineSpec], fits: Callable[[list[LineSpec]], bool]) -> list[list[LineSpec]]:
    batches: list[list[LineSpec]] = []
    start = 0
    while start < len(ready):
        low, high = 1, min(len(ready) - start, MAX_LINES_PER_TX)
        while low < high:
            middle = (low + high + 1) // 2
            if fits(ready[start : start + middle]):
                low = middle
            else:
                high = middle - 1
        batches.append(ready[start : start + low])
        start += low
    return batches


_TOKEN_DESTINATION = {12: 2, 14: 1}
"""transferChecked (12): source, mint, destination, owner; mintToChecked (14): mint, destination,
authority: the position of the destination among the instruction's accounts."""


def stored_transaction_problem(
    signed: bytes,
    specs: list[LineSpec],
    *,
    mint: Pubkey,
    treasury: Pubkey | None,
    lookups: dict[Pubkey, list[Pubkey]] | None = None,
) -> str | None:
    """Why a transaction kept in the ledger must not be broadcast, or None.

    It must call only programs the project uses (at the libraries' ids), and pay each line's
    owner at the associated account derived now. A ledger written by a build with another
    program id or derivation (see the README's upgrade note) fails here instead of sending
    tokens to accounts no one can reach."""
    from solders.transaction import VersionedTransaction

    try:
        message = VersionedTransaction.from_bytes(signed).message
    except ValueError:
        return "the stored transaction does not decode"
    keys = list(message.account_keys)
    if isinstance(message, MessageV0):
        writable: list[Pubkey] = []
        readonly: list[Pubkey] = []
        for lookup in message.address_table_lookups:
            entries = (lookups or {}).get(lookup.account_key)
            if entries is None:
                return f"it reads lookup table {lookup.account_key}, which the ledger does not know"
            for indexes, out in (
                (lookup.writable_indexes, writable),
                (lookup.readonly_indexes, readonly),
            ):
                for i in bytes(indexes):
                    if i >= len(entries):
                        return f"it reads entry {i} of lookup table {lookup.account_key}, beyond it"
                    out.append(entries[i])
        keys += writable + readonly
    destinations: list[Pubkey] = []
    amounts: list[int] = []
    source_ok = True
    for ix in message.instructions:
        program = keys[ix.program_id_index]
        if program not in layout.PROGRAMS_USED:
            return f"it calls {program}, which is not a program corpactions uses"
        data = bytes(ix.data)
        if program in layout.TOKEN_PROGRAMS and data and data[0] in _TOKEN_DESTINATION:
            accounts = bytes(ix.accounts)
            destinations.append(keys[accounts[_TOKEN_DESTINATION[data[0]]]])
            amounts.append(int.from_bytes(data[1:9], "little"))
            if data[0] == 12 and treasury is not None and keys[accounts[0]] != treasury:
                source_ok = False
    if not source_ok:
        return f"it pays from an account that is not the treasury {treasury}"
    expected = [
        spec.destination or tokens.associated_token_address(Pubkey.from_string(spec.owner), mint)
        for spec in specs
    ]
    if destinations != expected:
        wrong = next(
            (
                (spec.owner, got)
                for spec, got, want in zip(specs, destinations, expected, strict=False)
                if got != want
            ),
            None,
        )
        if wrong is not None:
            return (
                f"it pays {wrong[1]}, which is not the associated account of {wrong[0]} "
                "(derived by a build with another program id?)"
            )
        return f"it pays {len(destinations)} accounts for {len(specs)} lines"
    if amounts != [spec.amount for spec in specs]:
        return "its amounts are not the lines' amounts"
    return None

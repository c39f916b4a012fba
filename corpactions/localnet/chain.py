"""The local chain: LiteSVM (the real SPL programs) plus what a cluster adds around it.

LiteSVM executes transactions; this module adds what a validator and its RPC add: slots and
block height that advance with time and with each landed transaction, a window of recent
blockhashes each valid for ``blockhash_validity`` blocks, a status/transaction history with
token balance deltas, finality after ``finality_lag`` slots, fault injection and persistence.

All public methods take the chain lock: the HTTP server and the clock thread share one chain.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import orjson
from solders import system_program, sysvar
from solders.account import Account
from solders.address_lookup_table_account import AddressLookupTable
from solders.hash import Hash
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.message import Message, MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.token.state import Mint as TokenMint
from solders.transaction import Transaction, VersionedTransaction
from solders.transaction_metadata import FailedTransactionMetadata, TransactionMetadata
from solders.transaction_status import TransactionStatus
from spl.token.constants import NATIVE_DECIMALS, WRAPPED_SOL_MINT

from corpactions.chain import layout
from corpactions.localnet.faults import Faults

LAMPORTS_PER_SIGNATURE = 5000
DEFAULT_COMPUTE_UNITS_PER_INSTRUCTION = 200_000
MAX_COMPUTE_UNITS = 1_400_000
STATUS_CACHE_SLOTS = 300
MAX_BLOCKS = 100_000
"""Blocks kept in memory; older slots answer as cleaned up (a node's ledger is pruned too)."""
COMMITMENTS = ("processed", "confirmed", "finalized")
_SET_COMPUTE_UNIT_LIMIT = 2
_SET_COMPUTE_UNIT_PRICE = 3
"""Compute Budget instruction tags (checked against solders' builders in test_ground_truth)."""
STATE_VERSION = 2
"""2: the first version whose associated token accounts are derived from the real Associated
Token program id; version-1 files are refused (their accounts sit at other addresses)."""
FAUCET = Keypair.from_seed(hashlib.sha256(b"corpactions-localnet-faucet").digest())
"""The airdrop payer (requestAirdrop): a fixed key, so a restarted chain pays from the same one."""
_SYSVARS = (sysvar.CLOCK, sysvar.RENT, sysvar.EPOCH_SCHEDULE, sysvar.SLOT_HASHES)
SLOT_HASHES_KEPT = 512
"""Entries of the SlotHashes sysvar, as on a node: a lookup table's ``recent_slot`` must be one
of them, and a deactivated table can be closed once its deactivation slot has left them."""
PRIORITY_FEE_SLOTS = 150
"""Slots of prioritization fees kept (a node's cache holds the last 150 blocks)."""


def _builtin_owners(svm: LiteSVM) -> set[Pubkey]:
    """The loaders and the sysvar owner, as LiteSVM itself maps them: accounts they own belong
    to the runtime, not to the chain's state, and are never saved."""
    owners: set[Pubkey] = set()
    for key in (*layout.PROGRAMS_USED, *_SYSVARS):
        account = svm.get_account(key)
        if account is not None:
            owners.add(account.owner)
    for loader in list(owners):
        account = svm.get_account(loader)
        if account is not None:
            owners.add(account.owner)
    return owners


class ChainObserver(Protocol):
    """Told of every landed transaction and every closed block, under the chain lock (the
    websocket PubSub hub)."""

    def landed(self, record: TxRecord) -> None: ...

    def advanced(self, closed: Block) -> None: ...


class StateFileError(ValueError):
    """A state file this localnet cannot load; the message says what to do."""


class ChainRequestError(Exception):
    """A request the chain refuses, carrying the JSON-RPC error a real node would return."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


@dataclass
class Block:
    """One slot's block: its transactions in landing order; ``blockhash`` is set when it closes
    (the hash that transactions landing in the next slot reference as the latest)."""

    slot: int
    parent_slot: int
    block_height: int
    block_time: int
    previous_blockhash: str
    blockhash: str = ""
    signatures: list[str] = field(default_factory=list)

    def to_state(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class TxRecord:
    signature: str
    slot: int
    block_time: int
    err: Any
    tx_bytes: bytes
    fee: int
    logs: list[str]
    compute_units: int
    pre_balances: list[int]
    post_balances: list[int]
    pre_token_balances: list[dict[str, Any]]
    post_token_balances: list[dict[str, Any]]
    accounts: list[str] = field(default_factory=list)
    """Every account the transaction references, static keys then the addresses its lookup
    tables loaded (the address index of getSignaturesForAddress); derived from ``tx_bytes`` when
    a state file lacks it."""
    loaded_writable: list[str] = field(default_factory=list)
    loaded_readonly: list[str] = field(default_factory=list)
    """Addresses a v0 transaction loaded from lookup tables (``meta.loadedAddresses``)."""

    def to_state(self) -> dict[str, Any]:
        data = self.__dict__.copy()
        data["tx_bytes"] = base64.b64encode(self.tx_bytes).decode()
        return data

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> TxRecord:
        data = dict(data)
        data["tx_bytes"] = base64.b64decode(data["tx_bytes"])
        record = cls(**data)
        if not record.accounts and record.tx_bytes:
            tx = VersionedTransaction.from_bytes(record.tx_bytes)
            record.accounts = [str(k) for k in tx.message.account_keys]
        return record


@dataclass
class _Pending:
    land_slot: int
    tx: VersionedTransaction


@dataclass
class ChainConfig:
    slot_ms: int = 400
    """Milliseconds per slot of the clock thread; 0 stops time (slots move only with work)."""
    blockhash_validity: int = 150
    finality_lag: int = 2
    """Slots after landing before a transaction counts as finalized (confirmed: one slot, when
    the block closes; at 0 everything is final at once)."""
    faults: Faults = field(default_factory=Faults)


def account_flags(message: Message | MessageV0) -> list[tuple[bool, bool]]:
    """(signer, writable) of each static account key, from the message header."""
    header = message.header
    count = len(message.account_keys)
    signed = header.num_required_signatures
    out = []
    for index in range(count):
        signer = index < signed
        writable = (
            index < signed - header.num_readonly_signed_accounts
            if signer
            else index < count - header.num_readonly_unsigned_accounts
        )
        out.append((signer, writable))
    return out


def error_json(err: Any) -> Any:
    """A solders TransactionError as the RPC writes it: {"InstructionError":[0,{"Custom":1}]}."""
    status = TransactionStatus(
        slot=0, confirmations=None, status=None, err=err, confirmation_status=None
    )
    return orjson.loads(status.to_json())["err"]


def ui_amount_string(amount: int, decimals: int) -> str:
    if decimals == 0:
        return str(amount)
    text = format(Decimal(amount).scaleb(-decimals), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


class LocalChain:
    """A single-node cluster around LiteSVM. Thread-safe; see the module docstring."""

    def __init__(self, config: ChainConfig | None = None, state_path: Path | None = None) -> None:
        self.config = config or ChainConfig()
        self.faults = self.config.faults
        self.state_path = state_path
        self._lock = threading.RLock()
        self.svm = LiteSVM().with_blockhash_check(False).with_transaction_history(0)
        self._skip_owners = _builtin_owners(self.svm)
        self.slot = 1
        self.block_height = 1
        self.time_offset = 0
        self._blockhashes: OrderedDict[str, int] = OrderedDict()
        self._history: dict[str, TxRecord] = {}
        self._pending: list[_Pending] = []
        self._touched: set[Pubkey] = set()
        self._decimals: dict[Pubkey, int] = {}
        self._dirty = False
        self._fees_by_slot: OrderedDict[int, _SlotFees] = OrderedDict()
        self._slot_hashes: OrderedDict[int, Hash] = OrderedDict()
        self._blocks: OrderedDict[int, Block] = OrderedDict()
        self._by_address: dict[str, list[str]] = {}
        self._order: dict[str, int] = {}
        self.observers: list[ChainObserver] = []
        self.genesis_hash = str(self.svm.latest_blockhash())
        self._add_native_mint()
        if state_path is not None and state_path.exists():
            self._load(state_path)
        self._sync_clock()
        self._remember_blockhash()
        self._open_block(self.slot - 1, "")
        for block in self._blocks.values():
            if block.blockhash:
                self._slot_hashes[block.slot] = Hash.from_string(block.blockhash)
        self._slot_hashes[self.slot - 1] = self.svm.latest_blockhash()
        self._sync_slot_hashes()

    # ----- time -------------------------------------------------------------------------------

    @property
    def lock(self) -> threading.RLock:
        return self._lock

    def now(self) -> int:
        return int(time.time()) + self.time_offset

    def _sync_clock(self) -> None:
        clock = self.svm.get_clock()
        clock.slot = self.slot
        clock.unix_timestamp = self.now()
        self.svm.set_clock(clock)

    def _sync_slot_hashes(self) -> None:
        """Write the SlotHashes sysvar (newest first) from the closed blocks' hashes."""
        while len(self._slot_hashes) > SLOT_HASHES_KEPT:
            self._slot_hashes.popitem(last=False)
        self.svm.set_slot_hashes(list(reversed(self._slot_hashes.items())))

    def _remember_blockhash(self) -> None:
        blockhash = str(self.svm.latest_blockhash())
        self._blockhashes[blockhash] = self.block_height + self.config.blockhash_validity
        while self._blockhashes:
            oldest, last_valid = next(iter(self._blockhashes.items()))
            if last_valid >= self.block_height - 10:
                break
            self._blockhashes.pop(oldest)

    def _add_native_mint(self) -> None:
        """The wrapped-SOL mint every cluster has from genesis (9 decimals, no authorities)."""
        mint = TokenMint(
            mint_authority=None,
            supply=0,
            decimals=NATIVE_DECIMALS,
            is_initialized=True,
            freeze_authority=None,
        )
        self.svm.set_account(
            WRAPPED_SOL_MINT,
            Account(
                lamports=self.rent_exempt_minimum(layout.MINT_LEN),
                data=bytes(mint),
                owner=layout.TOKEN_PROGRAM_ID,
                executable=False,
            ),
        )

    def _open_block(self, parent_slot: int, previous_blockhash: str) -> None:
        self._blocks[self.slot] = Block(
            slot=self.slot,
            parent_slot=parent_slot,
            block_height=self.block_height,
            block_time=self.now(),
            previous_blockhash=previous_blockhash or str(self.svm.latest_blockhash()),
        )
        while len(self._blocks) > MAX_BLOCKS:
            self._blocks.popitem(last=False)

    def advance(self, slots: int = 1) -> None:
        """Close the open block and produce ``slots`` more: a new blockhash each (the closed
        block's hash), delayed transactions land when due."""
        with self._lock:
            for _ in range(slots):
                closing = self._blocks[self.slot]
                self.svm.expire_blockhash()
                closing.blockhash = str(self.svm.latest_blockhash())
                self._slot_hashes[closing.slot] = self.svm.latest_blockhash()
                self.slot += 1
                self.block_height += 1
                self._sync_clock()
                self._sync_slot_hashes()
                self._remember_blockhash()
                self._open_block(closing.slot, closing.blockhash)
                for observer in self.observers:
                    observer.advanced(closing)
                due = [p for p in self._pending if p.land_slot <= self.slot]
                if due:
                    self._pending = [p for p in self._pending if p.land_slot > self.slot]
                    for pending in due:
                        self._land(pending.tx, advance=False)
            self._dirty = True

    def set_time_offset(self, seconds: int) -> None:
        with self._lock:
            self.time_offset = seconds
            self._sync_clock()

    # ----- blockhashes ------------------------------------------------------------------------

    def latest_blockhash(self, commitment: str | None = "processed") -> tuple[str, int]:
        """The newest blockhash of the bank at ``commitment`` (a closed block's hash when the
        level lags the open slot) and the last block height at which it is valid."""
        with self._lock:
            blockhash = str(self.svm.latest_blockhash())
            slot = self.commitment_slot(commitment)
            if slot < self.slot and slot in self._blocks:
                closed = self._blocks[slot].blockhash
                if closed in self._blockhashes:
                    blockhash = closed
            return blockhash, self._blockhashes[blockhash]

    def is_blockhash_valid(self, blockhash: str) -> bool:
        with self._lock:
            last_valid = self._blockhashes.get(blockhash)
            return last_valid is not None and self.block_height <= last_valid

    def finalized_slot(self) -> int:
        return self.commitment_slot("finalized")

    def _lag(self, commitment: str | None) -> int:
        """Slots behind the open one for a commitment level; none given means finalized, as on
        a node. Processed sees the open block; confirmed the last closed one."""
        if commitment is None or commitment == "finalized":
            return self.config.finality_lag
        if commitment == "confirmed":
            return min(1, self.config.finality_lag)
        if commitment == "processed":
            return 0
        raise ChainRequestError(
            -32602,
            f"Invalid params: unknown commitment {commitment!r}; expected one of "
            + ", ".join(COMMITMENTS),
        )

    def commitment_slot(self, commitment: str | None) -> int:
        with self._lock:
            return max(0, self.slot - self._lag(commitment))

    def commitment_block_height(self, commitment: str | None) -> int:
        with self._lock:
            return max(0, self.block_height - self._lag(commitment))

    def confirmation_status(self, slot: int) -> str:
        if slot <= self.finalized_slot():
            return "finalized"
        if slot <= self.commitment_slot("confirmed"):
            return "confirmed"
        return "processed"

    # ----- blocks -----------------------------------------------------------------------------

    def block(self, slot: int) -> Block | None:
        """The block of ``slot`` if the chain keeps one (closed or open)."""
        with self._lock:
            return self._blocks.get(slot)

    def blocks(self) -> list[Block]:
        with self._lock:
            return list(self._blocks.values())

    def block_slots(self, start: int, end: int) -> list[int]:
        """Slots with a block in ``start..end`` (inclusive), ascending."""
        with self._lock:
            first = self.first_available_block()
            return [s for s in range(max(start, first), end + 1) if s in self._blocks]

    def first_available_block(self) -> int:
        with self._lock:
            return next(iter(self._blocks))

    def signatures_for_address(self, address: str) -> list[str]:
        """Signatures of the transactions that reference ``address``, oldest first."""
        with self._lock:
            return list(self._by_address.get(address, ()))

    def landing_order(self, signature: str) -> int | None:
        with self._lock:
            return self._order.get(signature)

    def transaction_count(self, up_to_slot: int) -> int:
        with self._lock:
            return sum(1 for r in self._history.values() if r.slot <= up_to_slot)

    def known_accounts(self) -> list[Pubkey]:
        """Accounts the chain's own state holds (touched by transactions or written)."""
        with self._lock:
            return list(self._touched)

    # ----- accounts ---------------------------------------------------------------------------

    def get_account(self, pubkey: Pubkey) -> Account | None:
        with self._lock:
            return self.svm.get_account(pubkey)

    def get_accounts(self, pubkeys: list[Pubkey]) -> list[Account | None]:
        with self._lock:
            return [self.svm.get_account(p) for p in pubkeys]

    def program_accounts(self, program: Pubkey) -> list[tuple[Pubkey, Account]]:
        with self._lock:
            return list(self.svm.get_program_accounts(program))

    def balance(self, pubkey: Pubkey) -> int:
        with self._lock:
            return self.svm.get_balance(pubkey) or 0

    def rent_exempt_minimum(self, size: int) -> int:
        return int(self.svm.minimum_balance_for_rent_exemption(size))

    def mint_decimals(self, mint: Pubkey) -> int | None:
        cached = self._decimals.get(mint)
        if cached is not None:
            return cached
        account = self.svm.get_account(mint)
        if account is None or not layout.is_mint(account.owner, bytes(account.data)):
            return None
        decimals = layout.decode_mint(bytes(account.data)).decimals
        self._decimals[mint] = decimals
        return decimals

    def set_account(self, pubkey: Pubkey, account: Account) -> None:
        """Write an account directly (tests and seeding of fixtures only)."""
        with self._lock:
            self.svm.set_account(pubkey, account)
            self._touched.add(pubkey)
            self._decimals.pop(pubkey, None)
            self._dirty = True

    # ----- transactions -----------------------------------------------------------------------

    def airdrop(self, pubkey: Pubkey, lamports: int) -> str:
        """Pay ``lamports`` from the faucet in a real system transfer, as a test validator's
        faucet does: it lands like any transaction (history, block, fee paid by the faucet)."""
        with self._lock:
            self.svm.airdrop(FAUCET.pubkey(), lamports + LAMPORTS_PER_SIGNATURE)
            transfer = system_program.transfer(
                system_program.TransferParams(
                    from_pubkey=FAUCET.pubkey(), to_pubkey=pubkey, lamports=lamports
                )
            )
            tx = Transaction(
                [FAUCET], Message([transfer], FAUCET.pubkey()), self.svm.latest_blockhash()
            )
            if str(tx.signatures[0]) in self._history:  # the same airdrop twice in one slot
                self.advance(1)
                tx = Transaction(
                    [FAUCET], Message([transfer], FAUCET.pubkey()), self.svm.latest_blockhash()
                )
            signature = str(tx.signatures[0])
            self._land(VersionedTransaction.from_legacy(tx), advance=True)
            record = self._history.get(signature)
            if record is None or record.err is not None:
                raise ChainRequestError(
                    -32603, f"airdrop failed: {record.err if record else 'not processed'}"
                )
            return signature

    def simulate(self, tx: VersionedTransaction) -> dict[str, Any]:
        """Simulate like the RPC does: returns an RpcSimulateTransactionResult-shaped dict."""
        with self._lock:
            result = self.svm.simulate_transaction(tx)
            if isinstance(result, FailedTransactionMetadata):
                meta = result.meta()
                err: Any = error_json(result.err())
            else:
                meta = result.meta()
                err = None
            return {
                "err": err,
                "logs": list(meta.logs()),
                "accounts": None,
                "unitsConsumed": int(meta.compute_units_consumed()),
                "returnData": None,
                "innerInstructions": None,
                "replacementBlockhash": None,
                "loadedAccountsDataSize": None,
            }

    def send(self, tx: VersionedTransaction, *, skip_preflight: bool) -> str:
        """Accept a signed transaction as sendTransaction does; returns its signature."""
        with self._lock:
            if not all(tx.verify_with_results()):
                raise ChainRequestError(-32003, "Transaction signature verification failure")
            signature = str(tx.signatures[0])
            if signature in self._history or any(
                str(p.tx.signatures[0]) == signature for p in self._pending
            ):
                if skip_preflight:
                    return signature
                raise self._preflight_error(
                    "AlreadyProcessed", "This transaction has already been processed"
                )
            blockhash = str(tx.message.recent_blockhash)
            if not self.is_blockhash_valid(blockhash):
                if skip_preflight:
                    return signature  # a leader would drop it; it never lands
                raise self._preflight_error("BlockhashNotFound", "Blockhash not found")
            if not skip_preflight:
                simulated = self.simulate(tx)
                if simulated["err"] is not None:
                    raise ChainRequestError(
                        -32002,
                        f"Transaction simulation failed: {_describe(simulated['err'])}",
                        simulated,
                    )
            if self.faults.should_drop():
                return signature
            if self.faults.land_delay_slots > 0:
                self._pending.append(_Pending(self.slot + self.faults.land_delay_slots, tx))
                return signature
            self._land(tx, advance=True)
            return signature

    def _record(self, record: TxRecord) -> None:
        """Keep a landed transaction: history, its place in the open block, the indexes."""
        self._history[record.signature] = record
        self._blocks[record.slot].signatures.append(record.signature)
        self._index(record)
        for observer in self.observers:
            observer.landed(record)

    def _index(self, record: TxRecord) -> None:
        self._order[record.signature] = len(self._order)
        for key in dict.fromkeys(record.accounts):
            self._by_address.setdefault(key, []).append(record.signature)

    def _after_landing(self) -> None:
        """With time stopped (slot_ms 0) each landed transaction closes its slot; with a running
        clock the slot keeps collecting transactions until the clock closes it."""
        if self.config.slot_ms <= 0:
            self.advance(1)

    def _preflight_error(self, err: str, text: str) -> ChainRequestError:
        return ChainRequestError(-32002, f"Transaction simulation failed: {text}", unexecuted(err))

    def loaded_addresses(self, tx: VersionedTransaction) -> tuple[list[Pubkey], list[Pubkey]]:
        """The (writable, readonly) addresses a v0 message loads from its lookup tables, read
        from the tables as they are now; indexes a table does not hold are left out (the
        runtime refuses such a transaction)."""
        message = tx.message
        if not isinstance(message, MessageV0):
            return [], []
        writable: list[Pubkey] = []
        readonly: list[Pubkey] = []
        for lookup in message.address_table_lookups:
            account = self.svm.get_account(lookup.account_key)
            if account is None or account.owner != layout.ADDRESS_LOOKUP_TABLE_PROGRAM_ID:
                continue
            try:
                addresses = list(AddressLookupTable.deserialize(bytes(account.data)).addresses)
            except ValueError:
                continue
            for indexes, out in (
                (lookup.writable_indexes, writable),
                (lookup.readonly_indexes, readonly),
            ):
                out.extend(addresses[i] for i in bytes(indexes) if i < len(addresses))
        return writable, readonly

    def _keys(self, tx: VersionedTransaction) -> tuple[list[Pubkey], list[Pubkey], list[Pubkey]]:
        """All account keys in the runtime's order (static, loaded writable, loaded readonly),
        and the loaded ones apart."""
        writable, readonly = self.loaded_addresses(tx)
        return [*tx.message.account_keys, *writable, *readonly], writable, readonly

    def writable_keys(self, tx: VersionedTransaction) -> list[Pubkey]:
        """The accounts the transaction write-locks: writable static keys and loaded writable
        addresses."""
        message = tx.message
        if not isinstance(message, Message | MessageV0):
            return []
        static = list(message.account_keys)
        flags = account_flags(message)
        writable, _ = self.loaded_addresses(tx)
        return [k for k, (_, w) in zip(static, flags, strict=True) if w] + writable

    def _token_balances(self, keys: list[Pubkey]) -> list[dict[str, Any]]:
        balances: list[dict[str, Any]] = []
        for index, key in enumerate(keys):
            account = self.svm.get_account(key)
            if account is None:
                continue
            data = bytes(account.data)
            if not layout.is_token_account(account.owner, data):
                continue
            decoded = layout.decode_token_account(data)
            decimals = self.mint_decimals(decoded.mint)
            if decimals is None:
                continue
            balances.append(
                {
                    "accountIndex": index,
                    "mint": str(decoded.mint),
                    "owner": str(decoded.owner),
                    "programId": str(account.owner),
                    "uiTokenAmount": token_amount_json(decoded.amount, decimals),
                }
            )
        return balances

    def _land(self, tx: VersionedTransaction, *, advance: bool) -> None:
        keys, loaded_writable, loaded_readonly = self._keys(tx)
        writes = self.writable_keys(tx)
        payer = keys[0]
        pre_balances = [self.svm.get_balance(k) or 0 for k in keys]
        pre_tokens = self._token_balances(keys)
        result = self.svm.send_transaction(tx)
        post_balances = [self.svm.get_balance(k) or 0 for k in keys]
        if isinstance(result, FailedTransactionMetadata):
            if post_balances[0] == pre_balances[0] and self.svm.get_balance(payer) is not None:
                # Rejected before execution (fee payer cannot pay, sanitize failure): a leader
                # would drop it; nothing lands.
                return
            meta: TransactionMetadata = result.meta()
            err: Any = error_json(result.err())
        else:
            meta = result
            err = None
        signature = str(tx.signatures[0])
        self._record(
            TxRecord(
                signature=signature,
                slot=self.slot,
                block_time=self.now(),
                err=err,
                tx_bytes=bytes(tx),
                fee=int(meta.fee()),
                logs=list(meta.logs()),
                compute_units=int(meta.compute_units_consumed()),
                pre_balances=pre_balances,
                post_balances=post_balances,
                pre_token_balances=pre_tokens,
                post_token_balances=self._token_balances(keys),
                accounts=[str(k) for k in keys],
                loaded_writable=[str(k) for k in loaded_writable],
                loaded_readonly=[str(k) for k in loaded_readonly],
            )
        )
        self._touched.update(keys)
        for key in keys:
            self._decimals.pop(key, None)
        fees = self._fees_by_slot.setdefault(self.slot, _SlotFees())
        fees.add(compute_unit_price(tx), writes)
        while len(self._fees_by_slot) > PRIORITY_FEE_SLOTS:
            self._fees_by_slot.popitem(last=False)
        self._dirty = True
        if advance:
            self._after_landing()

    def record(self, signature: str) -> TxRecord | None:
        with self._lock:
            return self._history.get(signature)

    def signature_status(self, signature: str, *, search_history: bool) -> dict[str, Any] | None:
        with self._lock:
            record = self._history.get(signature)
            if record is None:
                return None
            age = self.slot - record.slot
            if not search_history and age > STATUS_CACHE_SLOTS:
                return None
            status = self.confirmation_status(record.slot)
            return {
                "slot": record.slot,
                "confirmations": None if status == "finalized" else age,
                "status": {"Ok": None} if record.err is None else {"Err": record.err},
                "err": record.err,
                "confirmationStatus": status,
            }

    def recent_prioritization_fees(self, accounts: Sequence[Pubkey] = ()) -> list[dict[str, int]]:
        """Per recent slot, as a node computes it: the lowest price (micro-lamports per CU)
        that landed in the block, raised to the highest of the given accounts' lowest price
        among the transactions that write-locked them; never below the fault's floor."""
        with self._lock:
            floor = self.faults.priority_fee
            start = max(1, self.slot - PRIORITY_FEE_SLOTS + 1)
            out = []
            for s in range(start, self.slot + 1):
                fees = self._fees_by_slot.get(s)
                fee = fees.fee(accounts) if fees is not None else 0
                out.append({"slot": s, "prioritizationFee": max(floor, fee)})
            return out

    def fee_for_message(self, message: Message | MessageV0) -> int:
        signatures = message.header.num_required_signatures
        fake = VersionedTransaction.populate(message, [Signature.default()] * signatures)
        return LAMPORTS_PER_SIGNATURE * signatures + priority_fee_lamports(fake)

    # ----- persistence ------------------------------------------------------------------------

    def save(self, path: Path | None = None) -> None:
        """Write accounts, clock and history atomically to ``path`` (default: the state path)."""
        target = path or self.state_path
        if target is None:
            return
        with self._lock:
            accounts = []
            for pubkey in sorted(self._touched, key=bytes):
                account = self.svm.get_account(pubkey)
                if account is None or account.executable or account.owner in self._skip_owners:
                    continue
                accounts.append(
                    [
                        str(pubkey),
                        account.lamports,
                        str(account.owner),
                        base64.b64encode(bytes(account.data)).decode(),
                    ]
                )
            state = {
                "version": STATE_VERSION,
                "slot": self.slot,
                "block_height": self.block_height,
                "time_offset": self.time_offset,
                "accounts": accounts,
                "history": [r.to_state() for r in self._history.values()],
                "genesis_hash": self.genesis_hash,
                "blocks": [
                    b.to_state()
                    for b in self._blocks.values()
                    if b.signatures and b.slot < self.slot
                ],
            }
            self._dirty = False
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(target.suffix + ".tmp")
        tmp.write_bytes(orjson.dumps(state))
        with tmp.open("rb") as handle:
            os.fsync(handle.fileno())
        tmp.replace(target)

    def save_if_dirty(self) -> bool:
        if self._dirty and self.state_path is not None:
            self.save()
            return True
        return False

    def _load(self, path: Path) -> None:
        state = orjson.loads(path.read_bytes())
        version = state.get("version")
        if version == 1:
            raise StateFileError(
                f"{path} was written by an earlier localnet that derived associated token "
                "accounts from a wrong program id; it cannot be migrated: move it away and seed "
                "a new chain (see the README's upgrade note)"
            )
        if version != STATE_VERSION:
            raise StateFileError(
                f"{path} is not a localnet state file of version {STATE_VERSION} (found "
                f"{version!r}): point --state at a new file"
            )
        self.slot = int(state["slot"])
        self.block_height = int(state["block_height"])
        self.time_offset = int(state.get("time_offset", 0))
        for pubkey, lamports, owner, data in state["accounts"]:
            key = Pubkey.from_string(pubkey)
            self.svm.set_account(
                key,
                Account(
                    lamports=int(lamports),
                    data=base64.b64decode(data),
                    owner=Pubkey.from_string(owner),
                    executable=False,
                ),
            )
            self._touched.add(key)
        self.genesis_hash = str(state.get("genesis_hash") or self.genesis_hash)
        for item in state.get("blocks", []):
            block = Block(**item)
            self._blocks[block.slot] = block
        for item in state["history"]:
            record = TxRecord.from_state(item)
            self._history[record.signature] = record
            self._index(record)


@dataclass
class _SlotFees:
    """The prioritization fees of one block: the lowest price of any transaction in it and
    the lowest price of the transactions that write-locked each account."""

    block_min: int | None = None
    by_account: dict[Pubkey, int] = field(default_factory=dict)

    def add(self, price: int, writable: list[Pubkey]) -> None:
        self.block_min = price if self.block_min is None else min(self.block_min, price)
        for key in writable:
            known = self.by_account.get(key)
            self.by_account[key] = price if known is None else min(known, price)

    def fee(self, accounts: Sequence[Pubkey]) -> int:
        return max([self.block_min or 0, *(self.by_account.get(a, 0) for a in accounts)])


def unexecuted(err: str) -> dict[str, Any]:
    """A simulation result for a transaction refused before execution (the node's shape)."""
    return {
        "err": err,
        "logs": [],
        "accounts": None,
        "unitsConsumed": 0,
        "returnData": None,
        "innerInstructions": None,
        "replacementBlockhash": None,
        "loadedAccountsDataSize": 0,
    }


def token_amount_json(amount: int, decimals: int) -> dict[str, Any]:
    text = ui_amount_string(amount, decimals)
    return {
        "amount": str(amount),
        "decimals": decimals,
        "uiAmount": float(text),
        "uiAmountString": text,
    }


def compute_unit_price(tx: VersionedTransaction) -> int:
    """Micro-lamports per CU set by a ComputeBudget SetComputeUnitPrice instruction, else 0."""
    message = tx.message
    keys = message.account_keys
    for ix in message.instructions:
        if keys[ix.program_id_index] == layout.COMPUTE_BUDGET_PROGRAM_ID:
            data = bytes(ix.data)
            if data and data[0] == _SET_COMPUTE_UNIT_PRICE and len(data) >= 9:
                return int.from_bytes(data[1:9], "little")
    return 0


def priority_fee_lamports(tx: VersionedTransaction) -> int:
    message = tx.message
    keys = message.account_keys
    limit: int | None = None
    others = 0
    for ix in message.instructions:
        data = bytes(ix.data)
        if keys[ix.program_id_index] == layout.COMPUTE_BUDGET_PROGRAM_ID:
            if data and data[0] == _SET_COMPUTE_UNIT_LIMIT and len(data) >= 5:
                limit = int.from_bytes(data[1:5], "little")
        else:
            others += 1
    if limit is None:
        limit = min(MAX_COMPUTE_UNITS, DEFAULT_COMPUTE_UNITS_PER_INSTRUCTION * others)
    price = compute_unit_price(tx)
    return -(-price * limit // 1_000_000)


def _describe(err: Any) -> str:
    if isinstance(err, dict) and "InstructionError" in err:
        index, detail = err["InstructionError"]
        if isinstance(detail, dict) and "Custom" in detail:
            return (
                f"Error processing Instruction {index}: custom program error: {detail['Custom']:#x}"
            )
        return f"Error processing Instruction {index}: {detail}"
    return str(err)


__all__ = [
    "ChainConfig",
    "ChainRequestError",
    "LocalChain",
    "TxRecord",
    "error_json",
    "token_amount_json",
]

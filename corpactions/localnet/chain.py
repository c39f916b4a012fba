"""The local chain: LiteSVM (the real SPL programs) plus what a cluster adds around it.

LiteSVM executes transactions; this module adds what a validator and its RPC add: slots and
block height that advance with time and with each landed transaction, a window of recent
blockhashes each valid for ``blockhash_validity`` blocks, a status/transaction history with
token balance deltas, finality after ``finality_lag`` slots, fault injection and persistence.

All public methods take the chain lock: the HTTP server and the clock thread share one chain.
"""

from __future__ import annotations

import base64
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from solders import sysvar
from solders.account import Account
from solders.litesvm import LiteSVM
from solders.message import Message, MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction
from solders.transaction_metadata import FailedTransactionMetadata, TransactionMetadata
from solders.transaction_status import TransactionStatus

from corpactions.chain import layout
from corpactions.localnet.faults import Faults

LAMPORTS_PER_SIGNATURE = 5000
DEFAULT_COMPUTE_UNITS_PER_INSTRUCTION = 200_000
MAX_COMPUTE_UNITS = 1_400_000
STATUS_CACHE_SLOTS = 300
STATE_VERSION = 2
"""2: the first version whose associated token accounts are derived from the real Associated
Token program id; version-1 files are refused (their accounts sit at other addresses)."""
_SYSVARS = (sysvar.CLOCK, sysvar.RENT, sysvar.EPOCH_SCHEDULE, sysvar.SLOT_HASHES)


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

    def to_state(self) -> dict[str, Any]:
        data = self.__dict__.copy()
        data["tx_bytes"] = base64.b64encode(self.tx_bytes).decode()
        return data

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> TxRecord:
        data = dict(data)
        data["tx_bytes"] = base64.b64decode(data["tx_bytes"])
        return cls(**data)


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
    """Slots after landing before a transaction counts as finalized."""
    faults: Faults = field(default_factory=Faults)


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
        self._fees_by_slot: OrderedDict[int, int] = OrderedDict()
        self._slot_times: OrderedDict[int, int] = OrderedDict()
        if state_path is not None and state_path.exists():
            self._load(state_path)
        self._sync_clock()
        self._remember_blockhash()

    # ----- time -------------------------------------------------------------------------------

    @property
    def lock(self) -> threading.RLock:
        return self._lock

    def now(self) -> int:
        return int(time.time()) + self.time_offset

    def block_time(self, slot: int) -> int | None:
        with self._lock:
            if slot == self.slot:
                return self.now()
            return self._slot_times.get(slot)

    def _sync_clock(self) -> None:
        self._slot_times[self.slot] = self.now()
        while len(self._slot_times) > 100_000:
            self._slot_times.popitem(last=False)
        clock = self.svm.get_clock()
        clock.slot = self.slot
        clock.unix_timestamp = self.now()
        self.svm.set_clock(clock)

    def _remember_blockhash(self) -> None:
        blockhash = str(self.svm.latest_blockhash())
        self._blockhashes[blockhash] = self.block_height + self.config.blockhash_validity
        while self._blockhashes:
            oldest, last_valid = next(iter(self._blockhashes.items()))
            if last_valid >= self.block_height - 10:
                break
            self._blockhashes.pop(oldest)

    def advance(self, slots: int = 1) -> None:
        """Produce ``slots`` blocks: new blockhash each, delayed transactions land when due."""
        with self._lock:
            for _ in range(slots):
                self.slot += 1
                self.block_height += 1
                self.svm.expire_blockhash()
                self._sync_clock()
                self._remember_blockhash()
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

    def latest_blockhash(self) -> tuple[str, int]:
        with self._lock:
            blockhash = str(self.svm.latest_blockhash())
            return blockhash, self._blockhashes[blockhash]

    def is_blockhash_valid(self, blockhash: str) -> bool:
        with self._lock:
            last_valid = self._blockhashes.get(blockhash)
            return last_valid is not None and self.block_height <= last_valid

    def finalized_slot(self) -> int:
        return max(0, self.slot - self.config.finality_lag)

    def finalized_block_height(self) -> int:
        return max(0, self.block_height - self.config.finality_lag)

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
        with self._lock:
            before = self.svm.get_balance(pubkey) or 0
            result = self.svm.airdrop(pubkey, lamports)
            if isinstance(result, FailedTransactionMetadata):
                raise ChainRequestError(-32603, f"airdrop failed: {result.err()}")
            signature = str(result.signature())
            self._history[signature] = TxRecord(
                signature=signature,
                slot=self.slot,
                block_time=self.now(),
                err=None,
                tx_bytes=b"",
                fee=0,
                logs=list(result.logs()),
                compute_units=int(result.compute_units_consumed()),
                pre_balances=[before],
                post_balances=[self.svm.get_balance(pubkey) or 0],
                pre_token_balances=[],
                post_token_balances=[],
            )
            self._touched.add(pubkey)
            self.advance(1)
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

    def _preflight_error(self, err: str, text: str) -> ChainRequestError:
        return ChainRequestError(-32002, f"Transaction simulation failed: {text}", unexecuted(err))

    def _static_keys(self, tx: VersionedTransaction) -> list[Pubkey]:
        return list(tx.message.account_keys)

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
        keys = self._static_keys(tx)
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
        self._history[signature] = TxRecord(
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
        )
        self._touched.update(keys)
        for key in keys:
            self._decimals.pop(key, None)
        price = compute_unit_price(tx)
        if price:
            self._fees_by_slot[self.slot] = max(self._fees_by_slot.get(self.slot, 0), price)
            while len(self._fees_by_slot) > 150:
                self._fees_by_slot.popitem(last=False)
        self._dirty = True
        if advance:
            self.advance(1)

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
            finalized = age >= self.config.finality_lag
            return {
                "slot": record.slot,
                "confirmations": None if finalized else age,
                "status": {"Ok": None} if record.err is None else {"Err": record.err},
                "err": record.err,
                "confirmationStatus": "finalized" if finalized else "confirmed",
            }

    def is_finalized(self, record: TxRecord) -> bool:
        return self.slot - record.slot >= self.config.finality_lag

    def recent_prioritization_fees(self) -> list[dict[str, int]]:
        with self._lock:
            floor = self.faults.priority_fee
            start = max(1, self.slot - 149)
            return [
                {"slot": s, "prioritizationFee": max(floor, self._fees_by_slot.get(s, 0))}
                for s in range(start, self.slot + 1)
            ]

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
        for item in state["history"]:
            record = TxRecord.from_state(item)
            self._history[record.signature] = record


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
            if data and data[0] == 3 and len(data) >= 9:
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
            if data and data[0] == 2 and len(data) >= 5:
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

"""JSON-RPC methods over the chain's history: transactions, blocks, signatures of an address.

Blocks are the slots the chain produced, each with the transactions that landed in it in landing
order. Like a node, these methods serve confirmed data only: ``commitment`` is ``confirmed`` or
``finalized`` (the default); ``processed`` is refused with -32602. A slot past the commitment's
slot is "not available" (-32004); a slot the chain keeps no block for (before a restart, or pruned)
is "skipped" (-32007) or "cleaned up" (-32001) as on a node.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import base58
from solders.message import Message, MessageV0
from solders.transaction import VersionedTransaction

from corpactions.chain import layout
from corpactions.localnet.chain import (
    Block,
    ChainRequestError,
    LocalChain,
    TxRecord,
    account_flags,
)
from corpactions.localnet.cluster import TOTAL_STAKE
from corpactions.localnet.params import (
    at_least_confirmed,
    config_at,
    invalid_params,
    param,
    pubkey_param,
)

MAX_SIGNATURES_LIMIT = 1000
MAX_GET_BLOCKS_RANGE = 500_000
MAX_PERF_SAMPLES = 720
PERF_SAMPLE_SECONDS = 60
MEMO_PROGRAMS = {str(layout.MEMO_PROGRAM_ID)}

Handler = Callable[[LocalChain, list[Any]], Any]


def _slot_param(params: list[Any], index: int, name: str = "slot") -> int:
    value = param(params, index, name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise invalid_params(f"Invalid param: {name} must be a non-negative integer")
    return value


def _encoding_or_config(params: list[Any], index: int) -> dict[str, Any]:
    """The configuration object, or the legacy form that gives the encoding alone."""
    raw = params[index] if len(params) > index else None
    return {"encoding": raw} if isinstance(raw, str) else config_at(params, index)


# ----- transactions ---------------------------------------------------------------------------


def _message_json(
    message: Message | MessageV0, *, parsed: bool, record: TxRecord | None = None
) -> dict[str, Any]:
    """The message as a node writes it. Parsed (jsonParsed, accounts details), the account
    keys go on with the addresses loaded from lookup tables (source ``lookupTable``), as
    instruction account indexes count them."""
    header = message.header
    static = [str(k) for k in message.account_keys]
    loaded_writable = record.loaded_writable if record is not None else []
    loaded_readonly = record.loaded_readonly if record is not None else []
    keys = [*static, *loaded_writable, *loaded_readonly]
    instructions: list[dict[str, Any]] = []
    for ix in message.instructions:
        program = keys[ix.program_id_index]
        data = bytes(ix.data)
        if not parsed:
            instructions.append(
                {
                    "accounts": list(ix.accounts),
                    "data": base58.b58encode(data).decode(),
                    "programIdIndex": ix.program_id_index,
                    "stackHeight": None,
                }
            )
        elif program in MEMO_PROGRAMS:
            instructions.append(
                {
                    "parsed": data.decode("utf-8", "replace"),
                    "program": "spl-memo",
                    "programId": program,
                    "stackHeight": None,
                }
            )
        else:
            instructions.append(
                {
                    "accounts": [keys[i] for i in ix.accounts],
                    "data": base58.b58encode(data).decode(),
                    "programId": program,
                    "stackHeight": None,
                }
            )
    out: dict[str, Any] = {
        "accountKeys": (
            [
                {"pubkey": key, "signer": signer, "source": "transaction", "writable": writable}
                for key, (signer, writable) in zip(static, account_flags(message), strict=True)
            ]
            + [
                {"pubkey": key, "signer": False, "source": "lookupTable", "writable": True}
                for key in loaded_writable
            ]
            + [
                {"pubkey": key, "signer": False, "source": "lookupTable", "writable": False}
                for key in loaded_readonly
            ]
            if parsed
            else static
        ),
        "instructions": instructions,
        "recentBlockhash": str(message.recent_blockhash),
    }
    if not parsed:
        out["header"] = {
            "numReadonlySignedAccounts": header.num_readonly_signed_accounts,
            "numReadonlyUnsignedAccounts": header.num_readonly_unsigned_accounts,
            "numRequiredSignatures": header.num_required_signatures,
        }
    if isinstance(message, MessageV0):
        out["addressTableLookups"] = [
            {
                "accountKey": str(lookup.account_key),
                "writableIndexes": list(lookup.writable_indexes),
                "readonlyIndexes": list(lookup.readonly_indexes),
            }
            for lookup in message.address_table_lookups
        ]
    return out


def _meta_json(record: TxRecord) -> dict[str, Any]:
    return {
        "computeUnitsConsumed": record.compute_units,
        "err": record.err,
        "fee": record.fee,
        "innerInstructions": [],
        "loadedAddresses": {
            "readonly": list(record.loaded_readonly),
            "writable": list(record.loaded_writable),
        },
        "logMessages": record.logs,
        "postBalances": record.post_balances,
        "postTokenBalances": record.post_token_balances,
        "preBalances": record.pre_balances,
        "preTokenBalances": record.pre_token_balances,
        "rewards": [],
        "status": {"Ok": None} if record.err is None else {"Err": record.err},
    }


def _refuse_v0(config: dict[str, Any]) -> None:
    if config.get("maxSupportedTransactionVersion") is None:
        raise ChainRequestError(
            -32015,
            "Transaction version (0) is not supported by the requesting client. "
            "Please try the request again with the following configuration parameter: "
            '"maxSupportedTransactionVersion": 0',
        )


def transaction_with_meta(
    record: TxRecord, config: dict[str, Any], details: str = "full"
) -> dict[str, Any]:
    """A landed transaction as getTransaction and getBlock write it: ``transaction`` (in the
    config's encoding), ``meta``, and ``version`` when the client named the versions it takes."""
    encoding = config.get("encoding") or "json"
    tx = VersionedTransaction.from_bytes(record.tx_bytes)
    message = tx.message
    if not isinstance(message, Message | MessageV0):
        raise invalid_params("Invalid params: unsupported transaction version")
    is_v0 = isinstance(message, MessageV0)
    if is_v0:
        _refuse_v0(config)
    transaction: Any
    meta = _meta_json(record)
    if details == "accounts":
        transaction = {
            "accountKeys": _message_json(message, parsed=True, record=record)["accountKeys"],
            "signatures": [str(s) for s in tx.signatures],
        }
        for key in ("innerInstructions", "logMessages", "computeUnitsConsumed"):
            meta.pop(key)
    elif encoding == "base64":
        transaction = [base64.b64encode(record.tx_bytes).decode(), "base64"]
    elif encoding == "base58":
        transaction = [base58.b58encode(record.tx_bytes).decode(), "base58"]
    elif encoding in ("json", "jsonParsed"):
        transaction = {
            "message": _message_json(message, parsed=encoding == "jsonParsed", record=record),
            "signatures": [str(s) for s in tx.signatures],
        }
    else:
        raise invalid_params(f"Invalid params: unknown encoding {encoding!r}")
    out: dict[str, Any] = {"meta": meta, "transaction": transaction}
    if config.get("maxSupportedTransactionVersion") is not None:
        out["version"] = 0 if is_v0 else "legacy"
    return out


def get_transaction(chain: LocalChain, params: list[Any]) -> Any:
    signature = param(params, 0, "signature")
    if not isinstance(signature, str):
        raise invalid_params("Invalid param: signature must be a string")
    config = _encoding_or_config(params, 1)
    commitment = at_least_confirmed(config)
    with chain.lock:
        record = chain.record(signature)
        if record is None or not record.tx_bytes:
            return None
        if record.slot > chain.commitment_slot(commitment):
            return None
        result = transaction_with_meta(record, config)
        return {"blockTime": record.block_time, "slot": record.slot, **result}


# ----- blocks ---------------------------------------------------------------------------------


def _missing_block(chain: LocalChain, slot: int, commitment: str) -> ChainRequestError:
    if slot > chain.commitment_slot(commitment) or slot >= chain.slot:
        return ChainRequestError(-32004, f"Block not available for slot {slot}")
    first = chain.first_available_block()
    if slot < first:
        return ChainRequestError(
            -32001,
            f"Block {slot} cleaned up, does not exist on node. First available block: {first}",
        )
    return ChainRequestError(
        -32007, f"Slot {slot} was skipped, or missing due to ledger jump to recent snapshot"
    )


def _closed_block(chain: LocalChain, slot: int, commitment: str) -> Block:
    """The block of ``slot`` if it is closed and within the commitment's reach."""
    block = chain.block(slot)
    if block is None or not block.blockhash or slot > chain.commitment_slot(commitment):
        raise _missing_block(chain, slot, commitment)
    return block


def get_block(chain: LocalChain, params: list[Any]) -> Any:
    slot = _slot_param(params, 0)
    config = _encoding_or_config(params, 1)
    commitment = at_least_confirmed(config)
    details = config.get("transactionDetails") or "full"
    if details not in ("full", "accounts", "signatures", "none"):
        raise invalid_params(f"Invalid params: unknown transactionDetails {details!r}")
    with chain.lock:
        block = _closed_block(chain, slot, commitment)
        result: dict[str, Any] = {
            "blockHeight": block.block_height,
            "blockTime": block.block_time,
            "blockhash": block.blockhash,
            "parentSlot": block.parent_slot,
            "previousBlockhash": block.previous_blockhash,
        }
        records = [
            r for r in (chain.record(s) for s in block.signatures) if r is not None and r.tx_bytes
        ]
        if details in ("full", "accounts"):
            result["transactions"] = [transaction_with_meta(r, config, details) for r in records]
        elif details == "signatures":
            result["signatures"] = [r.signature for r in records]
        if config.get("rewards", True):
            result["rewards"] = []
        return result


def get_block_time(chain: LocalChain, params: list[Any]) -> Any:
    slot = _slot_param(params, 0)
    with chain.lock:
        return _closed_block(chain, slot, "confirmed").block_time


def get_block_commitment(chain: LocalChain, params: list[Any]) -> Any:
    """Stake that voted on the block by lockout depth: the one validator's stake at depth 31
    once the block is finalized, at depth 0 while it is confirmed; null for other slots."""
    slot = _slot_param(params, 0)
    with chain.lock:
        status = None
        block = chain.block(slot)
        if block is not None and block.blockhash:
            status = chain.confirmation_status(slot)
    commitment: list[int] | None = None
    if status in ("confirmed", "finalized"):
        commitment = [0] * 32
        commitment[31 if status == "finalized" else 0] = TOTAL_STAKE
    return {"commitment": commitment, "totalStake": TOTAL_STAKE}


def _end_slot(chain: LocalChain, commitment: str, end: int | None) -> int:
    top = min(chain.commitment_slot(commitment), chain.slot - 1)
    return top if end is None else min(end, top)


def get_blocks(chain: LocalChain, params: list[Any]) -> Any:
    start = _slot_param(params, 0, "start slot")
    end: int | None = None
    config: dict[str, Any] = {}
    if len(params) > 1:
        if isinstance(params[1], dict):
            config = params[1]
        elif params[1] is not None:
            end = _slot_param(params, 1, "end slot")
    if len(params) > 2:
        config = config_at(params, 2)
    commitment = at_least_confirmed(config)
    if end is not None and end - start > MAX_GET_BLOCKS_RANGE:
        raise invalid_params(f"Slot range too large; max {MAX_GET_BLOCKS_RANGE}")
    with chain.lock:
        return chain.block_slots(start, _end_slot(chain, commitment, end))


def get_blocks_with_limit(chain: LocalChain, params: list[Any]) -> Any:
    start = _slot_param(params, 0, "start slot")
    limit = _slot_param(params, 1, "limit")
    if limit > MAX_GET_BLOCKS_RANGE:
        raise invalid_params(f"Limit too large; max {MAX_GET_BLOCKS_RANGE}")
    commitment = at_least_confirmed(config_at(params, 2))
    with chain.lock:
        end = _end_slot(chain, commitment, start + limit - 1 if limit else start - 1)
        return chain.block_slots(start, end)[:limit]


def get_first_available_block(chain: LocalChain, params: list[Any]) -> Any:
    return chain.first_available_block()


# ----- signatures of an address -----------------------------------------------------------------


def _memo(record: TxRecord) -> str | None:
    """Memo texts of the transaction as a node lists them: "[len] text", joined by "; "."""
    if not record.tx_bytes:
        return None
    message = VersionedTransaction.from_bytes(record.tx_bytes).message
    keys = [str(k) for k in message.account_keys]
    memos = []
    for ix in message.instructions:
        if keys[ix.program_id_index] in MEMO_PROGRAMS:
            text = bytes(ix.data).decode("utf-8", "replace")
            memos.append(f"[{len(text)}] {text}")
    return "; ".join(memos) if memos else None


def get_signatures_for_address(chain: LocalChain, params: list[Any]) -> Any:
    """Signatures of the confirmed transactions that reference the address, newest first;
    ``before`` and ``until`` are exclusive bounds; an unknown ``before`` gives nothing, an unknown
    ``until`` no bound (a node looks both up in its status history)."""
    address = str(pubkey_param(param(params, 0, "address"), "address"))
    config = config_at(params, 1)
    commitment = at_least_confirmed(config)
    limit = config.get("limit")
    if limit is None:
        limit = MAX_SIGNATURES_LIMIT
    if not isinstance(limit, int) or not 1 <= limit <= MAX_SIGNATURES_LIMIT:
        raise invalid_params(f"Invalid limit; max {MAX_SIGNATURES_LIMIT}")
    with chain.lock:
        top = chain.commitment_slot(commitment)
        before = config.get("before")
        upper: int | None = None
        if before is not None:
            upper = chain.landing_order(str(before))
            if upper is None:
                return []
        until = config.get("until")
        lower = chain.landing_order(str(until)) if until is not None else None
        out: list[dict[str, Any]] = []
        for signature in reversed(chain.signatures_for_address(address)):
            order = chain.landing_order(signature)
            assert order is not None
            if upper is not None and order >= upper:
                continue
            if lower is not None and order <= lower:
                break
            record = chain.record(signature)
            if record is None or record.slot > top:
                continue
            out.append(
                {
                    "blockTime": record.block_time,
                    "confirmationStatus": chain.confirmation_status(record.slot),
                    "err": record.err,
                    "memo": _memo(record),
                    "signature": signature,
                    "slot": record.slot,
                }
            )
            if len(out) == limit:
                break
        return out


def get_transaction_count(chain: LocalChain, params: list[Any]) -> Any:
    commitment = config_at(params, 0).get("commitment")
    return chain.transaction_count(chain.commitment_slot(commitment))


def get_recent_performance_samples(chain: LocalChain, params: list[Any]) -> Any:
    """One sample per minute of block time, newest first: slots produced and transactions landed
    in it (all non-vote: the local chain has no votes)."""
    limit = params[0] if params and params[0] is not None else MAX_PERF_SAMPLES
    if not isinstance(limit, int) or not 0 <= limit <= MAX_PERF_SAMPLES:
        raise invalid_params(f"Invalid limit; max {MAX_PERF_SAMPLES}")
    with chain.lock:
        closed = [b for b in chain.blocks() if b.blockhash]
    samples: dict[int, dict[str, int]] = {}
    for block in closed:
        sample = samples.setdefault(
            block.block_time // PERF_SAMPLE_SECONDS,
            {"slot": 0, "numSlots": 0, "numTransactions": 0},
        )
        sample["slot"] = max(sample["slot"], block.slot)
        sample["numSlots"] += 1
        sample["numTransactions"] += len(block.signatures)
    out = []
    for _, sample in sorted(samples.items(), reverse=True)[:limit]:
        out.append(
            {
                "numNonVoteTransactions": sample["numTransactions"],
                "numSlots": sample["numSlots"],
                "numTransactions": sample["numTransactions"],
                "samplePeriodSecs": PERF_SAMPLE_SECONDS,
                "slot": sample["slot"],
            }
        )
    return out


METHODS: dict[str, Handler] = {
    "getTransaction": get_transaction,
    "getBlock": get_block,
    "getBlockTime": get_block_time,
    "getBlockCommitment": get_block_commitment,
    "getBlocks": get_blocks,
    "getBlocksWithLimit": get_blocks_with_limit,
    "getFirstAvailableBlock": get_first_available_block,
    "minimumLedgerSlot": get_first_available_block,
    "getSignaturesForAddress": get_signatures_for_address,
    "getTransactionCount": get_transaction_count,
    "getRecentPerformanceSamples": get_recent_performance_samples,
}

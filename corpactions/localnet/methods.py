"""Solana JSON-RPC methods over a ``LocalChain``, with the shapes of the Solana RPC docs.

Each handler takes the request's ``params`` list and returns the ``result`` value, or raises
``ChainRequestError`` with the code a real node uses (-32602 invalid params, -32002 preflight
failure, -32003 signature verification failure, ...). ``dispatch`` adds -32601 for unknown
methods. Two non-standard admin methods drive tests: ``localnet_advanceSlots`` and
``localnet_setFaults`` (plus ``localnet_setTimeOffset``).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import base58
from solders.account import Account
from solders.message import Message, MessageV0
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from corpactions.chain import layout
from corpactions.localnet import cluster, history
from corpactions.localnet.chain import ChainRequestError, LocalChain, token_amount_json, unexecuted
from corpactions.localnet.params import (
    SOLANA_CORE_VERSION,
    config_at,
    context,
    invalid_params,
    param,
    pubkey_param,
    with_context,
)

MAX_MULTIPLE_ACCOUNTS = 100
MAX_SIGNATURE_STATUSES = 256
U64_MAX = 2**64 - 1

Handler = Callable[[LocalChain, list[Any]], Any]


# ----- account encoding -----------------------------------------------------------------------


def _slice(data: bytes, config: dict[str, Any]) -> bytes:
    data_slice = config.get("dataSlice")
    if not data_slice:
        return data
    try:
        offset, length = int(data_slice["offset"]), int(data_slice["length"])
    except (KeyError, TypeError, ValueError) as exc:
        raise invalid_params("Invalid params: dataSlice needs offset and length") from exc
    return data[offset : offset + length]


def _parsed_token(chain: LocalChain, account: Account, data: bytes) -> dict[str, Any] | None:
    program = account.owner
    name = "spl-token" if program == layout.TOKEN_PROGRAM_ID else "spl-token-2022"
    if layout.is_token_account(program, data):
        decoded = layout.decode_token_account(data)
        decimals = chain.mint_decimals(decoded.mint)
        if decimals is None:
            return None
        info: dict[str, Any] = {
            "isNative": False,
            "mint": str(decoded.mint),
            "owner": str(decoded.owner),
            "state": layout.STATE_NAMES.get(decoded.state, "uninitialized"),
            "tokenAmount": token_amount_json(decoded.amount, decimals),
        }
        if decoded.extensions:
            info["extensions"] = [
                {"extension": layout.EXTENSION_NAMES.get(t, f"unknown{t}")}
                for t in decoded.extensions
            ]
        return {"program": name, "parsed": {"info": info, "type": "account"}, "space": len(data)}
    if layout.is_mint(program, data):
        mint = layout.decode_mint(data)
        mint_info: dict[str, Any] = {
            "decimals": mint.decimals,
            "freezeAuthority": str(mint.freeze_authority) if mint.freeze_authority else None,
            "isInitialized": mint.is_initialized,
            "mintAuthority": str(mint.mint_authority) if mint.mint_authority else None,
            "supply": str(mint.supply),
        }
        scaled = mint.scaled_ui_amount
        if scaled is not None:
            mint_info["extensions"] = [
                {
                    "extension": "scaledUiAmountConfig",
                    "state": {
                        "authority": str(scaled.authority),
                        "multiplier": repr(scaled.multiplier),
                        "newMultiplierEffectiveTimestamp": (
                            scaled.new_multiplier_effective_timestamp
                        ),
                        "newMultiplier": repr(scaled.new_multiplier),
                    },
                }
            ]
        return {"program": name, "parsed": {"info": mint_info, "type": "mint"}, "space": len(data)}
    return None


def encode_account(
    chain: LocalChain, account: Account, config: dict[str, Any], *, default: str = "base64"
) -> dict[str, Any]:
    encoding = config.get("encoding") or default
    data = bytes(account.data)
    encoded: Any
    if encoding == "jsonParsed":
        parsed = (
            _parsed_token(chain, account, data) if account.owner in layout.TOKEN_PROGRAMS else None
        )
        encoded = (
            parsed
            if parsed is not None
            else [base64.b64encode(_slice(data, config)).decode(), "base64"]
        )
    elif encoding == "base64":
        encoded = [base64.b64encode(_slice(data, config)).decode(), "base64"]
    elif encoding in ("base58", "binary"):
        sliced = _slice(data, config)
        if len(sliced) > 128:
            raise invalid_params(
                "Encoded binary (base 58) data should be less than 128 bytes, "
                "please use Base64 encoding."
            )
        encoded = (
            base58.b58encode(sliced).decode()
            if encoding == "binary"
            else [base58.b58encode(sliced).decode(), "base58"]
        )
    elif encoding == "base64+zstd":
        raise invalid_params("Invalid params: base64+zstd is not supported by the local chain")
    else:
        raise invalid_params(f"Invalid params: unknown encoding {encoding!r}")
    return {
        "data": encoded,
        "executable": account.executable,
        "lamports": account.lamports,
        "owner": str(account.owner),
        "rentEpoch": U64_MAX,
        "space": len(data),
    }


# ----- filters --------------------------------------------------------------------------------


def _size_is(size: int) -> Callable[[bytes], bool]:
    return lambda data: len(data) == size


def _bytes_at(offset: int, wanted: bytes) -> Callable[[bytes], bool]:
    end = offset + len(wanted)
    return lambda data: data[offset:end] == wanted


def compile_filters(filters: Any) -> list[Callable[[bytes], bool]]:
    if filters is None:
        return []
    if not isinstance(filters, list):
        raise invalid_params("Invalid params: filters must be an array")
    if len(filters) > 4:
        raise invalid_params("Too many filters provided; max 4")
    compiled: list[Callable[[bytes], bool]] = []
    for item in filters:
        if not isinstance(item, dict) or len(item) != 1:
            raise invalid_params(f"Invalid params: unknown filter {item!r}")
        if "dataSize" in item:
            size = item["dataSize"]
            if not isinstance(size, int) or size < 0:
                raise invalid_params("Invalid params: dataSize must be a non-negative integer")
            compiled.append(_size_is(size))
        elif "memcmp" in item:
            memcmp = item["memcmp"]
            try:
                offset = int(memcmp["offset"])
                raw = memcmp["bytes"]
                encoding = memcmp.get("encoding", "base58")
                wanted = (
                    base64.b64decode(raw, validate=True)
                    if encoding == "base64"
                    else base58.b58decode(raw)
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise invalid_params(f"Invalid params: bad memcmp filter {memcmp!r}") from exc
            if len(wanted) > 128:
                raise invalid_params("Invalid params: memcmp bytes longer than 128")
            compiled.append(_bytes_at(offset, wanted))
        elif "tokenAccountState" in item:
            compiled.append(lambda data: len(data) >= layout.ACCOUNT_LEN)
        else:
            raise invalid_params(f"Invalid params: unknown filter {item!r}")
    return compiled


# ----- handlers -------------------------------------------------------------------------------


def get_version(chain: LocalChain, params: list[Any]) -> Any:
    return {"solana-core": SOLANA_CORE_VERSION, "feature-set": cluster.FEATURE_SET}


def get_health(chain: LocalChain, params: list[Any]) -> Any:
    return "ok"


def get_slot(chain: LocalChain, params: list[Any]) -> Any:
    return chain.commitment_slot(config_at(params, 0).get("commitment"))


def get_block_height(chain: LocalChain, params: list[Any]) -> Any:
    return chain.commitment_block_height(config_at(params, 0).get("commitment"))


def get_latest_blockhash(chain: LocalChain, params: list[Any]) -> Any:
    config = config_at(params, 0)
    blockhash, last_valid = chain.latest_blockhash(config.get("commitment"))
    return with_context(chain, config, {"blockhash": blockhash, "lastValidBlockHeight": last_valid})


def is_blockhash_valid(chain: LocalChain, params: list[Any]) -> Any:
    blockhash = param(params, 0, "blockhash")
    if not isinstance(blockhash, str):
        raise invalid_params("Invalid param: blockhash must be a string")
    return with_context(chain, config_at(params, 1), chain.is_blockhash_valid(blockhash))


def get_balance(chain: LocalChain, params: list[Any]) -> Any:
    pubkey = pubkey_param(param(params, 0, "pubkey"))
    return with_context(chain, config_at(params, 1), chain.balance(pubkey))


def get_account_info(chain: LocalChain, params: list[Any]) -> Any:
    pubkey = pubkey_param(param(params, 0, "pubkey"))
    config = config_at(params, 1)
    account = chain.get_account(pubkey)
    value = (
        encode_account(chain, account, config, default="base58")
        if account is not None and account.lamports > 0
        else None
    )
    return with_context(chain, config, value)


def get_multiple_accounts(chain: LocalChain, params: list[Any]) -> Any:
    keys = param(params, 0, "pubkeys")
    if not isinstance(keys, list):
        raise invalid_params("Invalid params: pubkeys must be an array")
    if len(keys) > MAX_MULTIPLE_ACCOUNTS:
        raise invalid_params(f"Too many inputs provided; max {MAX_MULTIPLE_ACCOUNTS}")
    config = config_at(params, 1)
    with chain.lock:
        accounts = chain.get_accounts([pubkey_param(k) for k in keys])
        values = [
            encode_account(chain, a, config, default="base64")
            if a is not None and a.lamports > 0
            else None
            for a in accounts
        ]
    return with_context(chain, config, values)


def _keyed(
    chain: LocalChain,
    program: Pubkey,
    config: dict[str, Any],
    extra: list[Callable[[bytes], bool]],
    accounts: list[tuple[Pubkey, Account]] | None = None,
) -> list[dict[str, Any]]:
    """Encode the program's accounts (or the given subset) that pass the config's filters."""
    filters = compile_filters(config.get("filters")) + extra
    encoding = config.get("encoding") or ("base64" if config.get("dataSlice") else "base58")
    out: list[dict[str, Any]] = []
    with chain.lock:
        if accounts is None:
            accounts = chain.program_accounts(program)
        if encoding == "base64" and config.get("dataSlice"):
            # The hot path of holder snapshots: no per-account objects beyond the encoding.
            data_slice = config["dataSlice"]
            try:
                start = int(data_slice["offset"])
                stop = start + int(data_slice["length"])
            except (KeyError, TypeError, ValueError) as exc:
                raise invalid_params("Invalid params: dataSlice needs offset and length") from exc
            owner = str(program)
            b64 = base64.b64encode
            for pubkey, account in accounts:
                data = account.data
                if all(f(data) for f in filters):
                    out.append(
                        {
                            "pubkey": str(pubkey),
                            "account": {
                                "data": [b64(data[start:stop]).decode(), "base64"],
                                "executable": False,
                                "lamports": account.lamports,
                                "owner": owner,
                                "rentEpoch": U64_MAX,
                                "space": len(data),
                            },
                        }
                    )
            return out
        cfg = dict(config, encoding=encoding)
        for pubkey, account in accounts:
            data = bytes(account.data)
            if all(f(data) for f in filters):
                out.append({"pubkey": str(pubkey), "account": encode_account(chain, account, cfg)})
    return out


def _refuse_if_configured(chain: LocalChain, program: Pubkey) -> None:
    if chain.faults.refuse_program_accounts and program in layout.TOKEN_PROGRAMS:
        raise ChainRequestError(
            -32010,
            f"{program} excluded from account secondary indexes; "
            "this RPC method unavailable for key",
        )


def get_program_accounts(chain: LocalChain, params: list[Any]) -> Any:
    program = pubkey_param(param(params, 0, "program id"), "program id")
    config = config_at(params, 1)
    _refuse_if_configured(chain, program)
    value = _keyed(chain, program, config, [])
    if config.get("withContext"):
        return with_context(chain, config, value)
    return value


def get_program_accounts_v2(chain: LocalChain, params: list[Any]) -> Any:
    """The paginated variant: pages of ``limit`` program accounts in pubkey order, filtered after
    paging (a short page does not end the walk); ``paginationKey`` is null on the last page."""
    program = pubkey_param(param(params, 0, "program id"), "program id")
    config = config_at(params, 1)
    limit = config.get("limit") or 1000
    if not isinstance(limit, int) or not 1 <= limit <= 10_000:
        raise invalid_params("Invalid params: limit must be between 1 and 10000")
    after = config.get("paginationKey")
    start = bytes(pubkey_param(after, "paginationKey")) if after else b""
    with chain.lock:
        ordered = sorted(chain.program_accounts(program), key=lambda item: bytes(item[0]))
        remaining = [item for item in ordered if bytes(item[0]) > start]
        page, rest = remaining[:limit], remaining[limit:]
        value = _keyed(chain, program, config, [], page)
    result = {"accounts": value, "paginationKey": str(page[-1][0]) if rest else None}
    if config.get("withContext"):
        return with_context(chain, config, result)
    return result


def admin_set_account(chain: LocalChain, params: list[Any]) -> Any:
    pubkey = pubkey_param(param(params, 0, "pubkey"))
    spec = config_at(params, 1)
    try:
        account = Account(
            lamports=int(spec["lamports"]),
            data=base64.b64decode(spec["data"]),
            owner=pubkey_param(spec["owner"], "owner"),
            executable=False,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise invalid_params(
            "Invalid params: account needs lamports, data (base64), owner"
        ) from exc
    chain.set_account(pubkey, account)
    return None


def _token_account(chain: LocalChain, pubkey: Pubkey) -> tuple[Account, layout.TokenAccount]:
    account = chain.get_account(pubkey)
    if account is None or not layout.is_token_account(account.owner, bytes(account.data)):
        raise invalid_params("Invalid param: not a Token account")
    return account, layout.decode_token_account(bytes(account.data))


def get_token_account_balance(chain: LocalChain, params: list[Any]) -> Any:
    pubkey = pubkey_param(param(params, 0, "pubkey"))
    with chain.lock:
        _, decoded = _token_account(chain, pubkey)
        decimals = chain.mint_decimals(decoded.mint)
        if decimals is None:
            raise invalid_params("Invalid param: could not find mint")
        return with_context(
            chain, config_at(params, 1), token_amount_json(decoded.amount, decimals)
        )


def get_token_supply(chain: LocalChain, params: list[Any]) -> Any:
    pubkey = pubkey_param(param(params, 0, "mint"), "mint")
    with chain.lock:
        account = chain.get_account(pubkey)
        if account is None or not layout.is_mint(account.owner, bytes(account.data)):
            raise invalid_params("Invalid param: not a Token mint")
        mint = layout.decode_mint(bytes(account.data))
        return with_context(
            chain, config_at(params, 1), token_amount_json(mint.supply, mint.decimals)
        )


def get_token_accounts_by_owner(chain: LocalChain, params: list[Any]) -> Any:
    owner = pubkey_param(param(params, 0, "owner"), "owner")
    selector = param(params, 1, "mint or programId")
    config = config_at(params, 2)
    if not isinstance(selector, dict) or len(selector) != 1:
        raise invalid_params("Invalid params: expected {mint} or {programId}")
    owner_filter = lambda data, o=bytes(owner): data[32:64] == o  # noqa: E731
    if "mint" in selector:
        mint = pubkey_param(selector["mint"], "mint")
        mint_account = chain.get_account(mint)
        if mint_account is None or mint_account.owner not in layout.TOKEN_PROGRAMS:
            raise invalid_params("Invalid param: could not find mint")
        programs = [mint_account.owner]
        extra = [owner_filter, lambda data, m=bytes(mint): data[0:32] == m]
    elif "programId" in selector:
        program = pubkey_param(selector["programId"], "programId")
        if program not in layout.TOKEN_PROGRAMS:
            raise invalid_params("Invalid param: unrecognized Token program id")
        programs = [program]
        extra = [owner_filter]
    else:
        raise invalid_params("Invalid params: expected {mint} or {programId}")
    token_only = [lambda data, p=p: layout.is_token_account(p, data) for p in programs]
    value: list[dict[str, Any]] = []
    for program, check in zip(programs, token_only, strict=True):
        value.extend(
            _keyed(
                chain,
                program,
                dict(config, encoding=config.get("encoding") or "base64"),
                [check, *extra],
            )
        )
    return with_context(chain, config, value)


def get_minimum_balance_for_rent_exemption(chain: LocalChain, params: list[Any]) -> Any:
    size = param(params, 0, "data length")
    if not isinstance(size, int) or size < 0:
        raise invalid_params("Invalid param: data length must be a non-negative integer")
    return chain.rent_exempt_minimum(size)


def request_airdrop(chain: LocalChain, params: list[Any]) -> Any:
    pubkey = pubkey_param(param(params, 0, "pubkey"))
    lamports = param(params, 1, "lamports")
    if not isinstance(lamports, int) or lamports <= 0:
        raise invalid_params("Invalid param: lamports must be a positive integer")
    return chain.airdrop(pubkey, lamports)


def _decode_transaction(params: list[Any], config: dict[str, Any]) -> VersionedTransaction:
    raw = param(params, 0, "transaction")
    if not isinstance(raw, str):
        raise invalid_params("Invalid params: transaction must be an encoded string")
    encoding = config.get("encoding") or "base58"
    try:
        data = (
            base64.b64decode(raw, validate=True) if encoding == "base64" else base58.b58decode(raw)
        )
    except ValueError as exc:
        raise invalid_params(f"invalid transaction: failed to decode {encoding} string") from exc
    if len(data) > 1232:
        raise invalid_params(
            "base64 encoded solana_transaction::versioned::VersionedTransaction too large: "
            f"{len(data)} bytes (max: encoded/raw 1644/1232)"
        )
    try:
        return VersionedTransaction.from_bytes(data)
    except ValueError as exc:
        raise invalid_params(
            "failed to deserialize solana_transaction::versioned::VersionedTransaction: io error"
        ) from exc


def send_transaction(chain: LocalChain, params: list[Any]) -> Any:
    config = config_at(params, 1)
    tx = _decode_transaction(params, config)
    return chain.send(tx, skip_preflight=bool(config.get("skipPreflight", False)))


def simulate_transaction(chain: LocalChain, params: list[Any]) -> Any:
    config = config_at(params, 1)
    tx = _decode_transaction(params, config)
    if config.get("sigVerify") and not all(tx.verify_with_results()):
        raise ChainRequestError(-32003, "Transaction signature verification failure")
    if not config.get("replaceRecentBlockhash") and not chain.is_blockhash_valid(
        str(tx.message.recent_blockhash)
    ):
        value = unexecuted("BlockhashNotFound")
        return with_context(chain, config, value)
    return with_context(chain, config, chain.simulate(tx))


def get_signature_statuses(chain: LocalChain, params: list[Any]) -> Any:
    signatures = param(params, 0, "signatures")
    if not isinstance(signatures, list) or not all(isinstance(s, str) for s in signatures):
        raise invalid_params("Invalid params: signatures must be an array of strings")
    if len(signatures) > MAX_SIGNATURE_STATUSES:
        raise invalid_params(f"Too many inputs provided; max {MAX_SIGNATURE_STATUSES}")
    config = config_at(params, 1)
    search = bool(config.get("searchTransactionHistory", False))
    return {
        "context": context(chain, "processed"),
        "value": [chain.signature_status(s, search_history=search) for s in signatures],
    }


def get_fee_for_message(chain: LocalChain, params: list[Any]) -> Any:
    raw = param(params, 0, "message")
    config = config_at(params, 1)
    try:
        data = base64.b64decode(raw, validate=True)
        message: Message | MessageV0 = (
            MessageV0.from_bytes(data[1:]) if data and data[0] & 0x80 else Message.from_bytes(data)
        )
    except (TypeError, ValueError) as exc:
        raise invalid_params("Invalid params: failed to decode message") from exc
    if not chain.is_blockhash_valid(str(message.recent_blockhash)):
        return with_context(chain, config, None)
    return with_context(chain, config, chain.fee_for_message(message))


MAX_PRIORITIZATION_ACCOUNTS = 128


def get_recent_prioritization_fees(chain: LocalChain, params: list[Any]) -> Any:
    """Fees of the recent slots; with addresses, the fee to write-lock all of them (see
    ``LocalChain.recent_prioritization_fees``)."""
    raw = params[0] if params else None
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise invalid_params("Invalid params: addresses must be an array of base-58 strings")
    if len(raw) > MAX_PRIORITIZATION_ACCOUNTS:
        raise invalid_params(f"Too many inputs provided; max {MAX_PRIORITIZATION_ACCOUNTS}")
    return chain.recent_prioritization_fees([pubkey_param(a, "address") for a in raw])


def admin_advance_slots(chain: LocalChain, params: list[Any]) -> Any:
    count = param(params, 0, "slots")
    if not isinstance(count, int) or not 0 < count <= 100_000:
        raise invalid_params("Invalid param: slots must be an integer from 1 to 100000")
    chain.advance(count)
    return {"slot": chain.slot, "blockHeight": chain.block_height}


def admin_set_faults(chain: LocalChain, params: list[Any]) -> Any:
    changes = config_at(params, 0)
    try:
        with chain.lock:
            chain.faults.update(changes)
    except (TypeError, ValueError) as exc:
        raise invalid_params(f"Invalid params: {exc}") from exc
    return chain.faults.as_dict()


def admin_set_time_offset(chain: LocalChain, params: list[Any]) -> Any:
    seconds = param(params, 0, "seconds")
    if not isinstance(seconds, int):
        raise invalid_params("Invalid param: seconds must be an integer")
    chain.set_time_offset(seconds)
    return {"unixTimestamp": chain.now()}


METHODS: dict[str, Handler] = {
    "getVersion": get_version,
    "getHealth": get_health,
    "getSlot": get_slot,
    "getBlockHeight": get_block_height,
    "getLatestBlockhash": get_latest_blockhash,
    "isBlockhashValid": is_blockhash_valid,
    "getBalance": get_balance,
    "getAccountInfo": get_account_info,
    "getMultipleAccounts": get_multiple_accounts,
    "getProgramAccounts": get_program_accounts,
    "getProgramAccountsV2": get_program_accounts_v2,
    "getTokenAccountBalance": get_token_account_balance,
    "getTokenSupply": get_token_supply,
    "getTokenAccountsByOwner": get_token_accounts_by_owner,
    "getMinimumBalanceForRentExemption": get_minimum_balance_for_rent_exemption,
    "requestAirdrop": request_airdrop,
    "sendTransaction": send_transaction,
    "simulateTransaction": simulate_transaction,
    "getSignatureStatuses": get_signature_statuses,
    "getFeeForMessage": get_fee_for_message,
    "getRecentPrioritizationFees": get_recent_prioritization_fees,
    "localnet_advanceSlots": admin_advance_slots,
    "localnet_setFaults": admin_set_faults,
    "localnet_setTimeOffset": admin_set_time_offset,
    "localnet_setAccount": admin_set_account,
    **history.METHODS,
    **cluster.METHODS,
}


def dispatch(chain: LocalChain, request: Any) -> dict[str, Any] | None:
    """Serve one JSON-RPC 2.0 request object; ``None`` for a notification (no id)."""
    if (
        not isinstance(request, dict)
        or request.get("jsonrpc") != "2.0"
        or not isinstance(request.get("method"), str)
    ):
        return {
            "jsonrpc": "2.0",
            "error": {"code": -32600, "message": "Invalid request"},
            "id": None,
        }
    request_id = request.get("id")
    method = METHODS.get(request["method"])
    if method is None:
        return {
            "jsonrpc": "2.0",
            "error": {"code": -32601, "message": "Method not found"},
            "id": request_id,
        }
    params = request.get("params", [])
    if params is None:
        params = []
    if not isinstance(params, list):
        return {
            "jsonrpc": "2.0",
            "error": {"code": -32602, "message": "Invalid params"},
            "id": request_id,
        }
    try:
        result = method(chain, params)
    except ChainRequestError as exc:
        error: dict[str, Any] = {"code": exc.code, "message": exc.message}
        if exc.data is not None:
            error["data"] = exc.data
        return {"jsonrpc": "2.0", "error": error, "id": request_id}
    if "id" not in request:
        return None
    return {"jsonrpc": "2.0", "result": result, "id": request_id}

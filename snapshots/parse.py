"""Bulk decoding of getProgramAccounts responses into polars frames, and per-owner aggregation.

Pure: bytes in, frames out, no I/O. A mainnet-sized mint has 10^5..10^6 token accounts, so no
per-account Python object is built on the fast path:

1. The raw JSON body is scanned once per field (``pubkey``, ``data``, ``space``) with byte-level
   regular expressions; the path is only taken when every account yielded exactly one of each
   (the counts are checked against the number of ``"pubkey"`` keys). Any other shape (another
   encoding, odd whitespace, an error object) goes through ``orjson`` instead, with the cyclic
   garbage collector paused while the million small containers are built (the collector, not
   the parser, dominates that path otherwise).
2. base64 slices are decoded by polars in one vectorised call; owner (32 bytes), amount (u64 LE)
   and state (u8) are binary slices of that column.
3. Aggregation groups by the 32-byte owner, then turns only the distinct owners into base58.

Slices are taken from offset 32 of the account data: SPL Token needs 77 bytes (owner, amount,
delegate, state); Token-2022 needs 134 so that byte 165, the account type, is visible for
accounts longer than the base 165 bytes.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass

import orjson
import polars as pl
from solders.pubkey import Pubkey

from corpactions.errors import RpcRefused, SnapshotError

SLICE_OFFSET = 32
SLICE_LEN_TOKEN = 77
SLICE_LEN_TOKEN_2022 = 134
_STATE_AT = 108 - SLICE_OFFSET
_TYPE_AT = 165 - SLICE_OFFSET
BASE_ACCOUNT_LEN = 165
STATE_FROZEN = 2

_PUBKEY = re.compile(rb'"pubkey"\s*:\s*"([1-9A-HJ-NP-Za-km-z]{32,44})"')
_DATA = re.compile(rb'"data"\s*:\s*\[\s*"([A-Za-z0-9+/=]*)"\s*,\s*"base64"\s*\]')
_SPACE = re.compile(rb'"space"\s*:\s*(\d+)')
_SLOT = re.compile(rb'"context"\s*:\s*\{[^{}]*?"slot"\s*:\s*(\d+)')
_PAGINATION = re.compile(rb'"paginationKey"\s*:\s*(?:null|"([1-9A-HJ-NP-Za-km-z]+)")')

ACCOUNT_SCHEMA = {
    "account": pl.String,
    "owner": pl.Binary,
    "amount": pl.UInt64,
    "state": pl.UInt8,
    "space": pl.Int64,
    "account_type": pl.UInt8,
}


class RpcErrorResponse(RpcRefused):
    """The node answered the request with a JSON-RPC error object."""

    def __init__(self, method: str, code: int, message: str) -> None:
        super().__init__(f"{method} refused by the RPC node: {message} (code {code})")
        self.code = code
        self.rpc_message = message


@dataclass(frozen=True)
class ParsedPage:
    """One getProgramAccounts(V2) response: its token accounts and paging/slot metadata."""

    accounts: pl.DataFrame
    slot: int | None
    pagination_key: str | None
    paginated: bool


def _raise_if_error(raw: bytes, method: str) -> None:
    # An error body is small with "error" near the top; account data (base58/base64) has no quotes.
    if b'"error"' not in raw[:512]:
        return
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise SnapshotError(f"{method}: the RPC node answered with malformed JSON") from exc
    error = document.get("error") if isinstance(document, dict) else None
    if isinstance(error, dict):
        raise RpcErrorResponse(method, int(error.get("code", 0)), str(error.get("message", "")))


def _frame(keys: list[bytes], data: list[bytes], space: list[bytes] | list[int]) -> pl.DataFrame:
    frame = pl.DataFrame(
        {
            "account": pl.Series(keys, dtype=pl.Binary).cast(pl.String),
            "bin": pl.Series(data, dtype=pl.Binary).cast(pl.String).str.decode("base64"),
            "space": pl.Series(space).cast(pl.String).cast(pl.Int64)
            if space and isinstance(space[0], bytes)
            else pl.Series(space, dtype=pl.Int64),
        }
    )
    return _columns(frame)


def _columns(frame: pl.DataFrame) -> pl.DataFrame:
    if frame.height and int(frame["bin"].bin.size().min() or 0) < 40:  # type: ignore[arg-type]
        raise SnapshotError(
            "getProgramAccounts returned slices shorter than owner+amount",
            hint="the request must use dataSlice offset 32 and length 77 (or 134 for Token-2022)",
        )
    binary = pl.col("bin")
    return frame.select(
        "account",
        owner=binary.bin.slice(0, 32),
        amount=binary.bin.slice(32, 8).bin.reinterpret(dtype=pl.UInt64, endianness="little"),
        state=pl.when(binary.bin.size() > _STATE_AT)
        .then(binary.bin.slice(_STATE_AT, 1).bin.reinterpret(dtype=pl.UInt8))
        .otherwise(pl.lit(1, dtype=pl.UInt8)),
        space="space",
        account_type=pl.when(binary.bin.size() > _TYPE_AT)
        .then(binary.bin.slice(_TYPE_AT, 1).bin.reinterpret(dtype=pl.UInt8))
        .otherwise(pl.lit(None, dtype=pl.UInt8)),
    )


def _fast(raw: bytes) -> tuple[list[bytes], list[bytes], list[bytes]] | None:
    expected = raw.count(b'"pubkey"')
    keys = _PUBKEY.findall(raw)
    if len(keys) != expected:
        return None
    data = _DATA.findall(raw)
    if len(data) != expected:
        return None
    space = _SPACE.findall(raw)
    if len(space) != expected:
        return None
    return keys, data, space


def _exact(raw: bytes) -> tuple[list[str], list[str], list[int], int | None, str | None, bool]:
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        document = orjson.loads(raw)
        result = document["result"]
        slot: int | None = None
        if isinstance(result, dict) and "context" in result:
            slot = int(result["context"]["slot"])
            result = result["value"]
        pagination_key: str | None = None
        paginated = isinstance(result, dict)
        if paginated:
            pagination_key = result.get("paginationKey")
            result = result["accounts"]
        keys, data, space = [], [], []
        for item in result:
            account = item["account"]
            encoded = account["data"]
            if not (isinstance(encoded, list) and len(encoded) == 2 and encoded[1] == "base64"):
                raise SnapshotError(
                    "getProgramAccounts returned an encoding other than base64",
                    hint="request encoding base64 with a dataSlice",
                )
            keys.append(item["pubkey"])
            data.append(encoded[0])
            space.append(int(account.get("space", 0)))
        del document, result
        return keys, data, space, slot, pagination_key, paginated
    except (KeyError, TypeError) as exc:
        raise SnapshotError(f"unexpected getProgramAccounts response shape: {exc!r}") from exc
    finally:
        if gc_was_enabled:
            gc.enable()


def parse_program_accounts(
    raw: bytes, *, method: str = "getProgramAccounts", exact: bool = False
) -> ParsedPage:
    """Decode one raw JSON-RPC response body. ``exact=True`` forces the orjson path."""
    _raise_if_error(raw, method)
    fast = None if exact else _fast(raw)
    if fast is not None:
        keys, data, space = fast
        slot_match = _SLOT.search(raw)
        page_match = _PAGINATION.search(raw)
        frame = _frame(keys, data, space) if keys else pl.DataFrame(schema=ACCOUNT_SCHEMA)
        return ParsedPage(
            accounts=frame,
            slot=int(slot_match.group(1)) if slot_match else None,
            pagination_key=(
                page_match.group(1).decode() if page_match and page_match.group(1) else None
            ),
            paginated=page_match is not None,
        )
    skeys, sdata, ispace, slot, pagination_key, paginated = _exact(raw)
    if not skeys:
        frame = pl.DataFrame(schema=ACCOUNT_SCHEMA)
    else:
        frame = _columns(
            pl.DataFrame(
                {
                    "account": skeys,
                    "bin": pl.Series(sdata, dtype=pl.String).str.decode("base64"),
                    "space": pl.Series(ispace, dtype=pl.Int64),
                }
            )
        )
    return ParsedPage(frame, slot, pagination_key, paginated)


def token_accounts_only(accounts: pl.LazyFrame, *, token_2022: bool) -> pl.LazyFrame:
    """Keep initialized token accounts; for Token-2022 check the account type on the client."""
    initialized = pl.col("state") != 0
    if not token_2022:
        return accounts.filter(initialized & (pl.col("space") == BASE_ACCOUNT_LEN))
    is_account = (pl.col("space") == BASE_ACCOUNT_LEN) | (
        (pl.col("space") > BASE_ACCOUNT_LEN) & (pl.col("account_type") == 2)
    )
    return accounts.filter(initialized & is_account)


def base58_owners(owners: Iterable[bytes]) -> list[str]:
    return [str(Pubkey.from_bytes(owner)) for owner in owners]


def aggregate_holders(accounts: pl.LazyFrame, *, excluded: Collection[str] = ()) -> pl.DataFrame:
    """Per-owner holdings: owners with several accounts count once; zero balances dropped.

    Columns: owner (base58), amount (UInt64 raw units), accounts (non-zero accounts held),
    frozen_amount (in frozen accounts), frozen, excluded. Sorted by owner.
    """
    frozen = pl.col("state") == STATE_FROZEN
    grouped = (
        accounts.filter(pl.col("amount") > 0)
        .group_by("owner")
        .agg(
            amount=pl.col("amount").sum(),
            accounts=pl.len().cast(pl.UInt32),
            frozen_amount=pl.col("amount").filter(frozen).sum(),
        )
        .collect()
    )
    owners = base58_owners(grouped["owner"].to_list())
    excluded_set = sorted(set(excluded))
    return (
        grouped.with_columns(owner=pl.Series(owners, dtype=pl.String))
        .with_columns(
            frozen=pl.col("frozen_amount") > 0,
            excluded=pl.col("owner").is_in(excluded_set),
        )
        .select("owner", "amount", "accounts", "frozen_amount", "frozen", "excluded")
        .sort("owner")
    )

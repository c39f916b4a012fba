"""Bulk decoding of getProgramAccounts responses into polars frames, and per-owner aggregation.

Pure: bytes in, frames out, no I/O. A mainnet-sized mint has 10^5..10^6 token accounts, so no
per-account Python object is built on the common path.

Requests slice each account's data from offset 32: SPL Token asks 77 bytes (owner 0..32, amount
32..40, delegate, state at 76); Token-2022 asks 134 so that byte 165, the account type, is the
slice's last byte. A node truncates a slice at the end of the data, so the decoded length also
tells the account's size: 133 bytes means a base 165-byte account, 134 a longer one (extensions,
type byte visible), anything shorter is not a token account.

Three decoders, tried in order, give identical frames (a test holds them to it):

1. scan (``snapshots.scan``): compact JSON as nodes write it, slices of any lengths (grouped
   by width), one cache-friendly pass over the body finds the account items and their
   strings, and only the bytes read (owner, amount, state, type) are decoded, in bulk;
2. regex: one count-checked pass over the body for the base64 strings (whitespace between
   tokens, for one);
3. exact: ``orjson`` with the cyclic garbage collector paused (it, not the parser, dominates
   when a million small containers are built), for any other shape of JSON.

Owners stay the 32 bytes the chain holds; base58 text is made only where a person or a ledger
row needs it (``owners_as_base58``), for the distinct owners only.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Collection
from dataclasses import dataclass

import orjson
import polars as pl
from solders.pubkey import Pubkey

from corpactions.errors import RpcRefused, SnapshotError
from snapshots.scan import Found, decode_by_scan

SLICE_OFFSET = 32
SLICE_LEN_TOKEN = 77
SLICE_LEN_TOKEN_2022 = 134
BASE_ACCOUNT_SLICE = 165 - SLICE_OFFSET
STATE_AT = 108 - SLICE_OFFSET
TYPE_AT = 165 - SLICE_OFFSET
STATE_FROZEN = 2
U64_MAX = 2**64 - 1
ACCOUNT_TYPE_ACCOUNT = 2

_EDGE = 4096
_DATA = re.compile(rb'"data"\s*:\s*\[\s*"([A-Za-z0-9+/=]*)"\s*,\s*"base64"\s*\]')
_SLOT = re.compile(rb'"context"\s*:\s*\{[^{}]*?"slot"\s*:\s*(\d+)')
_PAGINATION = re.compile(rb'"paginationKey"\s*:\s*(?:null|"([1-9A-HJ-NP-Za-km-z]+)")')

ACCOUNT_SCHEMA: dict[str, type[pl.DataType]] = {
    "owner": pl.Binary,
    "amount": pl.UInt64,
    "state": pl.UInt8,
    "slice_len": pl.UInt32,
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
    """One getProgramAccounts(V2) response: its decoded slices and paging/slot metadata."""

    accounts: pl.DataFrame
    slot: int | None
    pagination_key: str | None
    paginated: bool
    decoder: str


def _raise_if_error(raw: bytes | bytearray, method: str) -> None:
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


def _decoded(encoded: pl.Series) -> pl.Series | None:
    try:
        return encoded.cast(pl.String).str.decode("base64")
    except pl.exceptions.ComputeError:
        return None


def _regex(raw: bytes | bytearray, expected: int) -> pl.Series | None:
    found = _DATA.findall(raw)
    if len(found) != expected:
        return None
    return _decoded(pl.Series("bin", found, dtype=pl.Binary))


def _exact(raw: bytes | bytearray) -> tuple[pl.Series, int | None, str | None, bool]:
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
        data = []
        for item in result:
            encoded = item["account"]["data"]
            if not (isinstance(encoded, list) and len(encoded) == 2 and encoded[1] == "base64"):
                raise SnapshotError(
                    "getProgramAccounts returned an encoding other than base64",
                    hint="request encoding base64 with a dataSlice",
                )
            data.append(encoded[0])
        del document, result
    except (KeyError, TypeError) as exc:
        raise SnapshotError(f"unexpected getProgramAccounts response shape: {exc!r}") from exc
    finally:
        if gc_was_enabled:
            gc.enable()
    decoded = _decoded(pl.Series("bin", data, dtype=pl.String))
    if decoded is None:
        raise SnapshotError("getProgramAccounts returned account data that is not valid base64")
    return decoded, slot, pagination_key, paginated


def _columns(decoded: pl.Series) -> pl.DataFrame:
    """Owner, amount, state, slice length and account type from whole decoded slices."""
    frame = pl.DataFrame({"bin": decoded})
    if frame.height and int(frame["bin"].bin.size().min() or 0) < 40:  # type: ignore[arg-type]
        raise SnapshotError(
            "getProgramAccounts returned slices shorter than owner+amount",
            hint="request dataSlice offset 32, length 77 (134 for Token-2022)",
        )
    binary = pl.col("bin")
    size = binary.bin.size()
    return frame.select(
        owner=binary.bin.slice(0, 32),
        amount=binary.bin.slice(32, 8).bin.reinterpret(dtype=pl.UInt64, endianness="little"),
        state=pl.when(size > STATE_AT)
        .then(binary.bin.slice(STATE_AT, 1).bin.reinterpret(dtype=pl.UInt8))
        .otherwise(pl.lit(0, dtype=pl.UInt8)),
        slice_len=size.cast(pl.UInt32),
        account_type=pl.when(size > TYPE_AT)
        .then(binary.bin.slice(TYPE_AT, 1).bin.reinterpret(dtype=pl.UInt8))
        .otherwise(pl.lit(None, dtype=pl.UInt8)),
    )


def parse_program_accounts(
    raw: bytes | bytearray,
    *,
    method: str = "getProgramAccounts",
    decoder: str = "auto",
    found: Found | None = None,
) -> ParsedPage:
    """Decode one raw JSON-RPC response body (``decoder``: auto, scan, regex or exact;
    ``found``: the scan's first step, done by a ``StreamScan`` while the body arrived)."""
    _raise_if_error(raw, method)
    accounts: pl.DataFrame | None = None
    used = "exact"
    if decoder in ("auto", "scan"):
        accounts = decode_by_scan(raw, state_at=STATE_AT, type_at=TYPE_AT, found=found)
        used = "scan"
    if accounts is None and decoder in ("auto", "regex"):
        decoded = _regex(raw, raw.count(b'"pubkey"'))
        accounts, used = (_columns(decoded) if decoded is not None else None), "regex"
    if accounts is not None:
        slot_match = _SLOT.search(raw, 0, _EDGE) or _SLOT.search(raw)
        page_match = None
        if b'"accounts"' in raw[:_EDGE] or b'"paginationKey"' in raw[:_EDGE]:  # a V2 page
            page_match = (
                _PAGINATION.search(raw, max(0, len(raw) - _EDGE))
                or _PAGINATION.search(raw, 0, _EDGE)
                or _PAGINATION.search(raw)
            )
        return ParsedPage(
            accounts=accounts,
            slot=int(slot_match.group(1)) if slot_match else None,
            pagination_key=(
                page_match.group(1).decode() if page_match and page_match.group(1) else None
            ),
            paginated=page_match is not None,
            decoder=used,
        )
    exact, slot, pagination_key, paginated = _exact(raw)
    accounts = _columns(exact) if len(exact) else pl.DataFrame(schema=ACCOUNT_SCHEMA)
    return ParsedPage(accounts, slot, pagination_key, paginated, "exact")


def token_accounts_only(accounts: pl.LazyFrame, *, token_2022: bool) -> pl.LazyFrame:
    """Keep initialized token accounts; for Token-2022 check the account type on the client."""
    initialized = pl.col("state") != 0
    if not token_2022:
        return accounts.filter(initialized & (pl.col("slice_len") == SLICE_LEN_TOKEN))
    base = pl.col("slice_len") == BASE_ACCOUNT_SLICE
    extended = (pl.col("slice_len") == SLICE_LEN_TOKEN_2022) & (
        pl.col("account_type") == ACCOUNT_TYPE_ACCOUNT
    )
    return accounts.filter(initialized & (base | extended))


def address_bytes(addresses: Collection[str]) -> list[bytes]:
    return [bytes(Pubkey.from_string(a)) for a in addresses]


def aggregate_holders(accounts: pl.LazyFrame, *, excluded: Collection[str] = ()) -> pl.DataFrame:
    """Per-owner holdings: owners with several accounts count once; zero balances dropped.

    Columns: owner (32-byte key), amount (UInt64 raw units), accounts (non-zero accounts held),
    frozen_amount (held in frozen accounts), frozen, excluded. Sorted by owner bytes.

    Accounts are sorted by their owner's first 8 bytes read as a big-endian integer (which
    orders owners as their bytes do; sorting the binary column directly costs several times
    more) and summed per run of that key, in order: half the time of hashing 32-byte owners.
    Two different owners sharing those 8 bytes (about 1 in 10^7 for a million random keys)
    would share a run: then the accounts are grouped by the whole owner and sorted by it.
    Sums are taken in 64 bits when the balances together fit in 64 bits (always so for a real
    mint: they add up to its u64 supply), since then no owner's sum can wrap; otherwise in 128
    bits, and an owner beyond a u64 is refused.
    """
    positive = accounts.filter(pl.col("amount") > 0)
    total = positive.select(pl.col("amount").cast(pl.Int128).sum()).collect().item()
    wide = int(total or 0) > U64_MAX
    amount = pl.col("amount").cast(pl.Int128) if wide else pl.col("amount")
    frozen = pl.col("state") == STATE_FROZEN
    sums = {
        "amount": amount.sum(),
        "accounts": pl.len().cast(pl.UInt32),
        "frozen_amount": pl.when(frozen).then(amount).otherwise(0).sum(),  # not .filter: 2x
    }
    order = pl.col("_order")
    ordered = (
        positive.with_columns(
            _order=pl.col("owner")
            .bin.slice(0, 8)
            .bin.reinterpret(dtype=pl.UInt64, endianness="big")
        )
        .sort("_order")
        .collect()
    )
    shared = (order == order.shift(1)) & (pl.col("owner") != pl.col("owner").shift(1))
    if bool(ordered.select(shared.any()).item()):
        grouped = (
            ordered.lazy()
            .group_by("owner")
            .agg(order.first(), **sums)
            .sort("_order", "owner")  # owners sharing 8 bytes: the whole key decides
        )
    else:
        grouped = (
            ordered.lazy()
            .group_by("_order", maintain_order=True)
            .agg(pl.col("owner").first(), **sums)
        )
    holders = grouped.with_columns(
        excluded=pl.col("owner").is_in(
            pl.Series(address_bytes(excluded), dtype=pl.Binary).implode()
        )
    ).collect()
    if wide:
        if holders.height and int(holders["amount"].max()) > U64_MAX:  # type: ignore[arg-type]
            raise SnapshotError(
                "an owner's balances add up to more than a u64 can hold",
                hint="no real mint can be in this state; the RPC node returned inconsistent data",
            )
        holders = holders.with_columns(
            pl.col("amount").cast(pl.UInt64), pl.col("frozen_amount").cast(pl.UInt64)
        )
    return holders.select(
        "owner",
        "amount",
        "accounts",
        "frozen_amount",
        frozen=pl.col("frozen_amount") > 0,
        excluded="excluded",
    )


def total_amount(accounts: pl.DataFrame) -> int:
    """Exact sum of the ``amount`` column (128-bit, so it cannot wrap)."""
    if not accounts.height:
        return 0
    return int(accounts.select(pl.col("amount").cast(pl.Int128).sum()).item())


def owners_as_base58(holders: pl.DataFrame) -> pl.DataFrame:
    """The same frame with ``owner`` as base58 text (one conversion per distinct owner)."""
    text = [str(Pubkey.from_bytes(owner)) for owner in holders["owner"].to_list()]
    return holders.with_columns(owner=pl.Series(text, dtype=pl.String))

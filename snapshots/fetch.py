"""Read every token account of one mint through getProgramAccounts, consistently with supply.

Filters follow the mint's program: SPL Token ``dataSize 165`` + ``memcmp(0, mint)``; Token-2022
``memcmp(0, mint)`` only (sizes vary with extensions; the type byte is checked on the client).
A read is accepted when the mint's supply was the same just before and just after it and the
balances sum to exactly that supply; otherwise it is retried, and refused after the configured
number of attempts. Paginated providers (getProgramAccountsV2) are used when the settings say so
or when the plain method is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import polars as pl
from solders.pubkey import Pubkey

from corpactions.chain import layout
from corpactions.chain.rpc import Rpc
from corpactions.config import Settings
from corpactions.errors import RpcRefused, SnapshotError
from corpactions.logs import get_logger
from snapshots import download
from snapshots.parse import (
    SLICE_LEN_TOKEN,
    SLICE_LEN_TOKEN_2022,
    SLICE_OFFSET,
    STATE_AT,
    TYPE_AT,
    ParsedPage,
    RpcErrorResponse,
    parse_program_accounts,
    token_accounts_only,
    total_amount,
)
from snapshots.scan import StreamScan

log = get_logger(__name__)
Stage = Callable[[str, dict[str, Any]], None]
_METHOD_NOT_FOUND = -32601


@dataclass(frozen=True)
class MintState:
    program: Pubkey
    decimals: int
    multiplier: float | None
    new_multiplier: float | None
    new_multiplier_at: int | None


@dataclass(frozen=True)
class ChainRead:
    accounts: pl.DataFrame
    slot: int
    supply: int
    pages: int
    paginated: bool
    attempts: int


def refusal_hint() -> str:
    return (
        "use an RPC provider that serves getProgramAccounts for the token programs "
        "(CORPACTIONS_RPC_URL), or one with getProgramAccountsV2 and "
        "CORPACTIONS_SNAPSHOT_PAGINATION=always"
    )


async def read_mint(rpc: Rpc, mint: Pubkey) -> MintState:
    account = await rpc.account(mint)
    if account is None:
        raise SnapshotError(
            f"mint {mint} does not exist on {rpc.url}",
            hint="check the mint and CORPACTIONS_RPC_URL",
        )
    data = bytes(account.data)
    if not layout.is_mint(account.owner, data):
        raise SnapshotError(
            f"{mint} is not an SPL Token or Token-2022 mint (owner {account.owner})"
        )
    decoded = layout.decode_mint(data)
    scaled = decoded.scaled_ui_amount
    return MintState(
        program=account.owner,
        decimals=decoded.decimals,
        multiplier=scaled.multiplier if scaled else None,
        new_multiplier=scaled.new_multiplier if scaled else None,
        new_multiplier_at=scaled.new_multiplier_effective_timestamp if scaled else None,
    )


def _request_config(mint: Pubkey, token_2022: bool) -> dict[str, Any]:
    filters: list[dict[str, Any]] = [{"memcmp": {"offset": 0, "bytes": str(mint)}}]
    if not token_2022:
        filters.insert(0, {"dataSize": 165})
    return {
        "encoding": "base64",
        "withContext": True,
        "filters": filters,
        "dataSlice": {
            "offset": SLICE_OFFSET,
            "length": SLICE_LEN_TOKEN_2022 if token_2022 else SLICE_LEN_TOKEN,
        },
    }


async def _program_accounts(rpc: Rpc, method: str, params: list[Any]) -> ParsedPage:
    """One (large) getProgramAccounts(V2) answer, decoded. The body is read whole
    (``download``) and, when it comes with a length, scanned for its accounts while it
    arrives (``StreamScan``), so download and decoding overlap."""
    scans: list[StreamScan] = []

    def receiver(size: int) -> StreamScan:
        scans.append(StreamScan(size, state_at=STATE_AT, type_at=TYPE_AT))
        return scans[-1]

    raw = await download.call_raw(
        rpc.url,
        method,
        params,
        timeout=rpc.timeout,
        max_retries=rpc.max_retries,
        backoff_seconds=rpc.backoff_seconds,
        receiver=receiver,
    )
    found = scans[-1].found() if scans and raw is scans[-1].buffer else None
    return parse_program_accounts(raw, method=method, found=found)


async def _paginated(
    rpc: Rpc, program: Pubkey, config: dict[str, Any], limit: int, stage: Stage
) -> tuple[list[pl.DataFrame], int, int]:
    frames: list[pl.DataFrame] = []
    slot = 0
    key: str | None = None
    pages = 0
    while True:
        page_config = dict(config, limit=limit)
        if key:
            page_config["paginationKey"] = key
        page = await _program_accounts(rpc, "getProgramAccountsV2", [str(program), page_config])
        pages += 1
        frames.append(page.accounts)
        slot = max(slot, page.slot or 0)
        stage("page", {"pages": pages, "accounts": sum(f.height for f in frames)})
        key = page.pagination_key
        if not key:
            return frames, slot, pages


async def _read_accounts(
    rpc: Rpc, program: Pubkey, config: dict[str, Any], *, pagination: str, limit: int, stage: Stage
) -> tuple[list[pl.DataFrame], int, int, bool]:
    if pagination == "always":
        frames, slot, pages = await _paginated(rpc, program, config, limit, stage)
        return frames, slot, pages, True
    try:
        page = await _program_accounts(rpc, "getProgramAccounts", [str(program), config])
    except RpcRefused as exc:
        if pagination == "never":
            raise SnapshotError(
                f"the RPC node refused getProgramAccounts on {program}: {exc.message}",
                hint=refusal_hint(),
            ) from exc
        log.warning("getProgramAccounts refused; trying getProgramAccountsV2", error=exc.message)
        try:
            frames, slot, pages = await _paginated(rpc, program, config, limit, stage)
        except RpcErrorResponse as v2_exc:
            if v2_exc.code != _METHOD_NOT_FOUND:
                raise
            raise SnapshotError(
                f"the RPC node refused getProgramAccounts on {program} ({exc.message}) "
                "and does not offer getProgramAccountsV2",
                hint=refusal_hint(),
            ) from exc
        return frames, slot, pages, True
    return [page.accounts], page.slot or 0, 1, False


async def read_token_accounts(
    rpc: Rpc,
    mint: Pubkey,
    *,
    token_2022: bool,
    settings: Settings,
    stage: Stage | None = None,
) -> ChainRead:
    """All token accounts of ``mint``, proven complete against the mint's supply (paging,
    page size and attempts as ``settings`` say)."""
    pagination = settings.snapshot_pagination
    page_limit = settings.snapshot_page_limit
    attempts = settings.snapshot_attempts
    report: Stage = stage or (lambda _name, _detail: None)
    program = layout.TOKEN_2022_PROGRAM_ID if token_2022 else layout.TOKEN_PROGRAM_ID
    config = _request_config(mint, token_2022)
    reason = ""
    for attempt in range(1, attempts + 1):
        supply_before, _ = await rpc.token_supply(mint)
        report("supply-before", {"attempt": attempt, "supply": supply_before})
        frames, slot, pages, paginated = await _read_accounts(
            rpc, program, config, pagination=pagination, limit=page_limit, stage=report
        )
        accounts = token_accounts_only(pl.concat(frames).lazy(), token_2022=token_2022).collect()
        report("accounts-read", {"attempt": attempt, "accounts": accounts.height, "slot": slot})
        supply_after, _ = await rpc.token_supply(mint)
        total = total_amount(accounts)
        if supply_before == supply_after == total:
            return ChainRead(accounts, slot, supply_after, pages, paginated, attempt)
        if supply_before != supply_after:
            reason = f"supply moved from {supply_before} to {supply_after} during the read"
        else:
            reason = f"balances sum to {total} but supply is {supply_after}"
        log.warning(
            "snapshot read not consistent; retrying", mint=str(mint), attempt=attempt, reason=reason
        )
        report("retry", {"attempt": attempt, "reason": reason})
    raise SnapshotError(
        f"snapshot of {mint} refused after {attempts} attempts: {reason}",
        hint="a partial or inconsistent read is never stored; check the RPC node and retry",
    )

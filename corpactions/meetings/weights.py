"""Voting weights: raw token balances at the meeting's record-date snapshot.

Excluded wallets (issuer inventory, custodian, burn) hold no votes, as treasury shares do not
vote. Weights are raw base units; the UI amount is raw / 10**decimals times the multiplier then.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
from solders.pubkey import Pubkey

from corpactions.models import Snapshot
from snapshots.parse import owners_as_base58
from snapshots.take import load_holders


def weight_of(snapshot: Snapshot, wallet: str) -> int:
    """The wallet's voting weight (0 when it held nothing or is excluded). Reads only the
    matching rows of the snapshot file (the file's hash was checked when it was written; the
    tally re-reads it whole, with the check)."""
    owner = bytes(Pubkey.from_string(wallet))
    rows = (
        pl.scan_parquet(Path(snapshot.path))
        .filter(pl.col("owner") == owner, ~pl.col("excluded"))
        .select(pl.col("amount").cast(pl.UInt64).sum())
        .collect()
    )
    return int(rows.item() or 0)


def all_weights(snapshot: Snapshot) -> pl.DataFrame:
    """Every eligible owner (base58) and its weight, from the verified snapshot file."""
    holders = load_holders(snapshot).filter(~pl.col("excluded"))
    return owners_as_base58(holders).select("owner", weight=pl.col("amount").cast(pl.UInt64))

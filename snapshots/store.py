"""Snapshot files: per-owner holdings as zstd Parquet, named and verified by sha256.

A file is written once (temporary name, fsync, rename) and never rewritten: its sha256 goes into
the ledger's ``Snapshot`` row and every reader checks it before trusting the content.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import polars as pl

from corpactions.errors import SnapshotError

HOLDINGS_SCHEMA = {
    "owner": pl.Binary,
    "amount": pl.UInt64,
    "accounts": pl.UInt32,
    "frozen_amount": pl.UInt64,
    "frozen": pl.Boolean,
    "excluded": pl.Boolean,
}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_holdings(holders: pl.DataFrame, directory: Path, *, name: str) -> tuple[Path, str]:
    """Write ``holders`` under ``directory``; returns (path, sha256). The name carries the hash."""
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f".{name}.{os.getpid()}.tmp"
    holders.select(list(HOLDINGS_SCHEMA)).cast(HOLDINGS_SCHEMA).write_parquet(  # type: ignore[arg-type]
        tmp, compression="zstd", compression_level=1, statistics=True
    )  # level 1: as small as the default here (owners are random bytes), a third of the time
    with tmp.open("rb") as handle:
        os.fsync(handle.fileno())
    digest = sha256_file(tmp)
    final = directory / f"{name}-{digest[:16]}.parquet"
    if final.exists():
        tmp.unlink()
    else:
        tmp.replace(final)
    return final, digest


def read_holdings(path: Path, sha256: str) -> pl.DataFrame:
    """Read a snapshot file after checking it is byte for byte the one the ledger recorded."""
    if not path.exists():
        raise SnapshotError(
            f"snapshot file {path} is missing",
            hint="restore the data dir or take the snapshot again",
        )
    actual = sha256_file(path)
    if actual != sha256:
        raise SnapshotError(
            f"snapshot file {path} has sha256 {actual}, the ledger recorded {sha256}",
            hint="the file was altered; never edit snapshot files, take a new snapshot instead",
        )
    return pl.read_parquet(path)

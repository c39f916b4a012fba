"""Keypair files in the Solana CLI format: a JSON array of the 64 secret-key bytes.

Keys are read at the moment they are needed and never logged; errors name the file, never its
contents. New files are written with mode 0600.
"""

from __future__ import annotations

import os
from pathlib import Path

import orjson
from solders.keypair import Keypair

from corpactions.errors import ConfigurationError


def load_keypair(path: Path) -> Keypair:
    try:
        raw = orjson.loads(path.read_bytes())
    except FileNotFoundError as exc:
        raise ConfigurationError(
            f"keypair file {path} does not exist",
            hint="set CORPACTIONS_KEYPAIR_PATH to the payout authority's keypair file",
        ) from exc
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ConfigurationError(
            f"keypair file {path} is not readable JSON",
            hint="a Solana CLI keypair file is a JSON array of 64 numbers",
        ) from exc
    if not (
        isinstance(raw, list)
        and len(raw) == 64
        and all(isinstance(b, int) and 0 <= b < 256 for b in raw)
    ):
        raise ConfigurationError(
            f"keypair file {path} is not a Solana CLI keypair",
            hint="a Solana CLI keypair file is a JSON array of 64 numbers from 0 to 255",
        )
    try:
        return Keypair.from_bytes(bytes(raw))
    except ValueError as exc:
        raise ConfigurationError(f"keypair file {path} holds an invalid key") from exc


def write_keypair(path: Path, keypair: Keypair) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(orjson.dumps(list(bytes(keypair))))


def load_or_create_keypair(path: Path) -> Keypair:
    if path.exists():
        return load_keypair(path)
    keypair = Keypair()
    write_keypair(path, keypair)
    return keypair

"""Keypair files in the Solana CLI format: a JSON array of the 64 secret-key bytes.

Keys are read at the moment they are needed and never logged; errors name the file, never its
contents. As ssh does with private keys, a key file that its group or others may read, write or
run is refused (one line naming the file and the ``chmod 600`` to run); the override
``CORPACTIONS_ALLOW_INSECURE_KEYS=1`` uses it anyway and logs a warning. Every file written here
holding secret keys is created with mode 0600 (``os.open``, so it is never readable by others,
not even for a moment), in a folder created with mode 0700.
"""

from __future__ import annotations

import os
from pathlib import Path

import orjson
from solders.keypair import Keypair

from corpactions.config import get_settings
from corpactions.errors import ConfigurationError
from corpactions.logs import get_logger

log = get_logger(__name__)
PRIVATE = 0o600
TOO_OPEN = 0o077
"""Any permission of group or others, as ssh refuses for a private key."""


def check_private(path: Path) -> None:
    """Refuse a secret-key file its group or others may access (unless explicitly allowed)."""
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        return  # the read names the missing file
    except OSError as exc:
        raise ConfigurationError(f"cannot read keypair file {path}: {exc.strerror}") from exc
    if not mode & TOO_OPEN:
        return
    if get_settings().allow_insecure_keys:
        log.warning(
            "keypair file is accessible by group or others; used because "
            "CORPACTIONS_ALLOW_INSECURE_KEYS is set",
            file=str(path),
            mode=f"{mode:04o}",
        )
        return
    raise ConfigurationError(
        f"keypair file {path} has mode {mode:04o}: its group or others can access the secret "
        f"key; run: chmod 600 {path}",
        hint="or set CORPACTIONS_ALLOW_INSECURE_KEYS=1 to use it anyway (logged)",
    )


def write_private(path: Path, data: bytes) -> None:
    """Write a file holding secret keys: created 0600 (never chmod-ed later), in a 0700 folder
    when the folder is new. An existing file is replaced with the mode forced to 0600."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE)
    with os.fdopen(fd, "wb") as handle:
        if os.fstat(handle.fileno()).st_mode & 0o777 != PRIVATE:
            os.fchmod(handle.fileno(), PRIVATE)  # an older file: tighten before writing
        handle.write(data)


def load_keypair(path: Path) -> Keypair:
    check_private(path)
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
    write_private(path, orjson.dumps(list(bytes(keypair))))


def load_or_create_keypair(path: Path) -> Keypair:
    if path.exists():
        return load_keypair(path)
    keypair = Keypair()
    write_keypair(path, keypair)
    return keypair

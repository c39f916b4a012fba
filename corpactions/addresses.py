"""Validation of Solana addresses given by people, feeds or HTTP clients."""

from __future__ import annotations

import base58

from corpactions.errors import InvalidAddress

_BASE58_ALPHABET = frozenset("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz")


def parse_address(text: str, *, what: str = "address") -> str:
    """Return ``text`` if it is a base58-encoded 32-byte key, else raise ``InvalidAddress``."""
    value = text.strip()
    if not value:
        raise InvalidAddress(f"{what} is empty")
    bad = sorted(set(value) - _BASE58_ALPHABET)
    if bad:
        shown = "".join(bad[:5])
        raise InvalidAddress(f"{what} {value!r} has characters that are not base58: {shown!r}")
    size = len(base58.b58decode(value))
    if size != 32:
        raise InvalidAddress(f"{what} {value!r} decodes to {size} bytes, not 32")
    return value

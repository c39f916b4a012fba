"""Operator keys and signatures: ed25519, written the Solana way (base58 public keys and
signatures, Solana CLI keypair files).

An operator signs the exact bytes of a decision's message with ``sign_message`` (or any wallet
that signs raw bytes with the same key); the registry stores public keys only.
"""

from __future__ import annotations

from pathlib import Path

from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature

from corpactions.chain.keys import load_keypair
from corpactions.errors import OperatorError

SIGNATURE_BYTES = 64


def sign_message(keypair: Keypair, message: bytes) -> bytes:
    """The 64-byte ed25519 signature of ``message`` by ``keypair``."""
    return bytes(keypair.sign_message(message))


def load_operator_key(path: Path) -> Keypair:
    """An operator's keypair from a Solana CLI keypair file (errors name the file only)."""
    return load_keypair(path)


def parse_pubkey(text: str) -> Pubkey:
    try:
        return Pubkey.from_string(text.strip())
    except ValueError as exc:
        raise OperatorError(
            f"{text!r} is not an ed25519 public key",
            hint="give the operator's Solana public key in base58 ('solana-keygen pubkey FILE')",
        ) from exc


def parse_signature(text: str) -> bytes:
    """A base58 signature (as ``corpactions sign`` prints it) as its 64 bytes."""
    try:
        return bytes(Signature.from_string(text.strip()))
    except ValueError as exc:
        raise OperatorError(
            f"{text[:20]!r} is not a base58 ed25519 signature",
            hint="paste the signature exactly as the signer printed it",
        ) from exc


def signature_text(signature: bytes) -> str:
    """The base58 spelling of a 64-byte signature."""
    return str(Signature.from_bytes(signature))


def verifies(pubkey: str, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is ``pubkey``'s ed25519 signature of exactly ``message``."""
    if len(signature) != SIGNATURE_BYTES:
        return False
    try:
        return bool(Signature.from_bytes(signature).verify(Pubkey.from_string(pubkey), message))
    except ValueError:
        return False

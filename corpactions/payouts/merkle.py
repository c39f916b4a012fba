"""The plan root: a Merkle tree over a plan's canonical inputs and each of its lines.

Anyone can recompute it (docs/architecture.md, "The plan root", has the encoding and a test
vector):

- leaf 0 is the inputs: ``sha256(0x00 || "corpactions-inputs-v1|<plan id>|" || JSON)``, the JSON
  being the plan's inputs with sorted keys and no spaces;
- leaves 1..n are the lines in the order of their owner's base58 text (byte order):
  ``sha256(0x00 || "corpactions-line-v1|" || the fields of ``line_text`` joined by "|")``;
- a node is ``sha256(0x01 || left || right)``; the last node of a level with an odd count moves up
  unchanged. The root is the one node left.

A line's proof is the sibling hashes from its leaf up (levels where it has none are skipped); with
the leaf's index and the leaf count the walk to the root is fixed, so a proof cannot be reused
for another position. Leaves and nodes are domain-separated by their first byte.

Proofs are not materialised per line (20 hashes each, 640 MB for a million lines): the tree's
levels are kept instead, cut in chunks of ``CHUNK`` nodes (``stored_chunks``), and a line's proof
is read from the chunks that hold its siblings (``sibling_positions``, ``proof_from``): one
chunk per level, shared by neighbouring lines of a batch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

LEAF = b"\x00"
NODE = b"\x01"
SCHEME = "corpactions-merkle-v1"
DISPOSITIONS = {
    "pending": "pay",
    "batched": "pay",
    "paid": "pay",
    "failed": "pay",
    "held_for_claim": "pay",
}
"""A line's disposition as approved: execution moves a line to pay through these statuses
(held for claim: its recipient could not take it yet, it is still owed) without changing what
was approved; carried and escrowed lines keep their own names."""


def disposition(status: str) -> str:
    return DISPOSITIONS.get(status, status)


def line_text(
    *,
    plan_id: int,
    index: int,
    owner: str,
    account: str,
    mint: str,
    asset: str,
    amount_due: int,
    shares: int,
    gross: int,
    withholding: int,
    net: int,
    carried_in: int,
    tax_class: str | None,
    status: str,
) -> bytes:
    fields = (
        "corpactions-line-v1",
        str(plan_id),
        str(index),
        owner,
        account,
        mint,
        asset,
        str(amount_due),
        str(shares),
        str(gross),
        str(withholding),
        str(net),
        str(carried_in),
        tax_class or "",
        disposition(status),
    )
    for field in fields:
        if "|" in field:
            raise ValueError(f"a plan line field may not contain '|': {field!r}")
    return "|".join(fields).encode()


def inputs_text(plan_id: int, inputs: dict[str, Any]) -> bytes:
    return f"corpactions-inputs-v1|{plan_id}|".encode() + orjson.dumps(
        inputs, option=orjson.OPT_SORT_KEYS
    )


def leaf_hash(text: bytes) -> bytes:
    return hashlib.sha256(LEAF + text).digest()


def leaf_hashes(texts: Iterable[bytes]) -> bytes:
    """``leaf_hash`` of each text, concatenated (the leaf level), without building LEAF + text."""
    copy = hashlib.sha256(LEAF).copy
    out: list[bytes] = []
    append = out.append
    for text in texts:
        digest = copy()
        digest.update(text)
        append(digest.digest())
    return b"".join(out)


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE + left + right).digest()


def _next_level(level: bytes) -> bytes:
    count = len(level) // 32
    sha = hashlib.sha256
    out = [sha(NODE + level[i * 32 : i * 32 + 64]).digest() for i in range(0, count - 1, 2)]
    if count % 2:
        out.append(level[(count - 1) * 32 :])
    return b"".join(out)


def levels_of(leaves: Iterable[bytes] | bytes) -> list[bytes]:
    """Every level of the tree, leaves first, each as the concatenation of its 32-byte nodes
    (``leaves`` as hashes, or already concatenated)."""
    level = leaves if isinstance(leaves, bytes) else b"".join(leaves)
    if not level:
        raise ValueError("a Merkle tree needs at least one leaf")
    levels = [level]
    while len(level) > 32:
        level = _next_level(level)
        levels.append(level)
    return levels


def root_of(leaves: Sequence[bytes]) -> bytes:
    return levels_of(leaves)[-1]


CHUNK = 256
"""Nodes per stored chunk of a level (8 KiB)."""


def stored_chunks(levels: list[bytes]) -> list[tuple[int, int, bytes]]:
    """(level, chunk number, nodes) for every level below the root: what a line's proof is read
    from. The root itself is the plan hash."""
    size = CHUNK * 32
    return [
        (number, start // size, level[start : start + size])
        for number, level in enumerate(levels[:-1])
        for start in range(0, len(level), size)
    ]


def sibling_positions(index: int, count: int) -> list[tuple[int, int]]:
    """(level, node index) of each hash in the proof of leaf ``index`` of ``count``, leaf up."""
    out = []
    level = 0
    while count > 1:
        sibling = index ^ 1
        if sibling < count:
            out.append((level, sibling))
        index //= 2
        count = (count + 1) // 2
        level += 1
    return out


def proof_from(chunks: dict[tuple[int, int], bytes], index: int, count: int) -> bytes | None:
    """Leaf ``index``'s proof from stored chunks keyed by (level, chunk number); None if a chunk
    it needs is missing or short."""
    parts = []
    for level, node in sibling_positions(index, count):
        chunk = chunks.get((level, node // CHUNK))
        at = (node % CHUNK) * 32
        if chunk is None or len(chunk) < at + 32:
            return None
        parts.append(chunk[at : at + 32])
    return b"".join(parts)


def chunk_keys(indexes: Iterable[int], count: int) -> set[tuple[int, int]]:
    """The (level, chunk number) pairs the proofs of ``indexes`` need."""
    return {
        (level, node // CHUNK)
        for index in indexes
        for level, node in sibling_positions(index, count)
    }


def verify(leaf: bytes, index: int, count: int, proof: bytes, root: bytes) -> bool:
    """Walk ``proof`` from the leaf at ``index`` of ``count`` leaves; True if it ends at root."""
    if not 0 <= index < count or len(proof) % 32:
        return False
    node, used = leaf, 0
    while count > 1:
        sibling = index ^ 1
        if sibling < count:
            if used + 32 > len(proof):
                return False
            other = proof[used : used + 32]
            used += 32
            node = node_hash(node, other) if index % 2 == 0 else node_hash(other, node)
        index //= 2
        count = (count + 1) // 2
    return used == len(proof) and node == root

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
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
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


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE + left + right).digest()


def _next_level(level: bytes) -> bytes:
    count = len(level) // 32
    sha = hashlib.sha256
    out = [sha(NODE + level[i * 32 : i * 32 + 64]).digest() for i in range(0, count - 1, 2)]
    if count % 2:
        out.append(level[(count - 1) * 32 :])
    return b"".join(out)


def levels_of(leaves: Iterable[bytes]) -> list[bytes]:
    """Every level of the tree, leaves first, each as the concatenation of its 32-byte nodes."""
    level = b"".join(leaves)
    if not level:
        raise ValueError("a Merkle tree needs at least one leaf")
    levels = [level]
    while len(level) > 32:
        level = _next_level(level)
        levels.append(level)
    return levels


def root_of(leaves: Sequence[bytes]) -> bytes:
    return levels_of(leaves)[-1]


def all_proofs(levels: list[bytes]) -> list[bytes]:
    """Each leaf's proof (siblings from the leaf up, absent levels skipped), for every leaf at
    once: one gather per level into one buffer, sliced per leaf. Only leaves under the last,
    unpaired node of some level lack a sibling there; those few are trimmed one by one."""
    count = len(levels[0]) // 32
    depth = len(levels) - 1
    if depth == 0:
        return [b""] * count
    width = depth * 32
    index = np.arange(count, dtype=np.int64)
    wide = np.empty((count, width), dtype=np.uint8)
    absent = np.zeros((count, depth), dtype=bool)
    for level_no, level in enumerate(levels[:-1]):
        nodes = np.frombuffer(level, dtype=np.uint8).reshape(-1, 32)
        sibling = (index >> level_no) ^ 1
        missing = sibling >= len(nodes)
        wide[:, level_no * 32 : (level_no + 1) * 32] = nodes[np.minimum(sibling, len(nodes) - 1)]
        absent[:, level_no] = missing
    flat = wide.tobytes()
    del wide
    proofs = [flat[i * width : (i + 1) * width] for i in range(count)]
    for i in np.flatnonzero(absent.any(axis=1)).tolist():
        row = proofs[i]
        proofs[i] = b"".join(row[d * 32 : (d + 1) * 32] for d in range(depth) if not absent[i, d])
    return proofs


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

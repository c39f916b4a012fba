"""The plan root: every line's proof verifies, any one change fails, and the encoding is the one
docs/architecture.md gives (its test vector is recomputed here)."""

from __future__ import annotations

import hashlib
import re
from decimal import Decimal

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from solders.pubkey import Pubkey

from corpactions.payouts import merkle
from corpactions.payouts.plan import plan_tree
from tests.chainkit import ROOT

leaves = st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=600)
"""Up to 600 leaves: the lowest level spans three stored chunks of 256 nodes."""


@settings(max_examples=150, deadline=None)
@given(leaves=leaves, data=st.data())
def test_every_proof_verifies_and_any_change_fails(
    leaves: list[bytes], data: st.DataObject
) -> None:
    levels = merkle.levels_of(leaves)
    root = levels[-1]
    count = len(leaves)
    chunks = {(level, n): nodes for level, n, nodes in merkle.stored_chunks(levels)}
    proofs = [merkle.proof_from(chunks, index, count) or b"" for index in range(count)]
    for index, (leaf, proof) in enumerate(zip(leaves, proofs, strict=True)):
        assert merkle.verify(leaf, index, count, proof, root)
    index = data.draw(st.integers(0, count - 1))
    leaf, proof = leaves[index], proofs[index]
    flipped = bytes([leaf[0] ^ 1]) + leaf[1:]
    assert not merkle.verify(flipped, index, count, proof, root)
    if count > 1:
        other = data.draw(st.integers(0, count - 1).filter(lambda i: i != index))
        assert not merkle.verify(leaf, other, count, proof, root) or leaves[other] == leaf
        byte = data.draw(st.integers(0, len(proof) - 1))
        bent = proof[:byte] + bytes([proof[byte] ^ 0x80]) + proof[byte + 1 :]
        assert not merkle.verify(leaf, index, count, bent, root)
        assert not merkle.verify(leaf, index, count, proof[:-32], root)


def test_a_proof_needs_every_chunk_it_reads() -> None:
    leaves = [hashlib.sha256(bytes([i % 256, i // 256])).digest() for i in range(600)]
    levels = merkle.levels_of(leaves)
    chunks = {(level, n): nodes for level, n, nodes in merkle.stored_chunks(levels)}
    assert merkle.proof_from(chunks, 599, 600) is not None
    assert merkle.chunk_keys([599], 600) >= {(0, 2)}
    del chunks[(0, 2)]  # the chunk holding leaf 599's sibling
    assert merkle.proof_from(chunks, 599, 600) is None
    assert merkle.proof_from(chunks, 0, 600) is not None


def test_the_leaf_level_hashed_at_once_equals_each_leaf_hashed() -> None:
    texts = [f"line {i}".encode() for i in range(40)]
    assert merkle.leaf_hashes(texts) == b"".join(merkle.leaf_hash(t) for t in texts)


def test_a_leaf_cannot_pass_for_a_node() -> None:
    a, b = hashlib.sha256(b"a").digest(), hashlib.sha256(b"b").digest()
    root = merkle.root_of([merkle.leaf_hash(a), merkle.leaf_hash(b)])
    # the concatenation of the two leaves, offered as one leaf, does not give the same root
    assert merkle.root_of([merkle.leaf_hash(merkle.leaf_hash(a) + merkle.leaf_hash(b))]) != root


def _owner(n: int) -> str:
    return str(Pubkey.from_bytes(bytes([n]) * 32))


def _lines(rows: list[tuple[int, int, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "owner": [_owner(n) for n, _, _ in rows],
            "shares": pl.Series([a * 10**8 for _, a, _ in rows], dtype=pl.UInt64),
            "gross": [a * 26 * 10**4 for _, a, _ in rows],
            "withholding": [0 for _ in rows],
            "net": [a * 26 * 10**4 for _, a, _ in rows],
            "carried_in": [0 for _ in rows],
            "amount_due": [a * 26 * 10**4 for _, a, _ in rows],
            "status": [s for _, _, s in rows],
            "tax_class": ["us_person" for _ in rows],
        }
    )


VECTOR_INPUTS = {"action_id": 1, "rate_per_share": "0.26", "tree": merkle.SCHEME}
VECTOR_MINT = str(Pubkey.from_bytes(bytes([9]) * 32))


def _vector() -> str:
    lines = _lines([(1, 10, "pending"), (2, 3, "carried"), (3, 7, "escrowed")])
    return plan_tree(7, VECTOR_INPUTS, lines, mint=VECTOR_MINT, asset="usdc").root.hex()


def test_the_documented_test_vector_is_the_root() -> None:
    documented = (ROOT / "docs" / "architecture.md").read_text()
    section = documented[documented.index("## The plan root") :]
    match = re.search(r"root `([0-9a-f]{64})`", section)
    assert match is not None
    assert match.group(1) == _vector()


@settings(max_examples=40, deadline=None)
@given(
    field=st.sampled_from(
        ["shares", "gross", "withholding", "net", "carried_in", "amount_due", "status", "owner"]
    ),
    row=st.integers(0, 2),
)
def test_any_one_field_of_any_line_changes_the_root(field: str, row: int) -> None:
    lines = _lines([(1, 10, "pending"), (2, 3, "carried"), (3, 7, "escrowed")])
    reference = plan_tree(7, VECTOR_INPUTS, lines, mint=VECTOR_MINT, asset="usdc").root
    changed = (
        lines.with_row_index("i")
        .with_columns(
            pl.when(pl.col("i") == row)
            .then(
                pl.lit(_owner(40))
                if field == "owner"
                else pl.lit("escrowed" if lines["status"][row] != "escrowed" else "pending")
                if field == "status"
                else pl.col(field) + 1
            )
            .otherwise(pl.col(field))
            .alias(field)
        )
        .drop("i")
    )
    assert plan_tree(7, VECTOR_INPUTS, changed, mint=VECTOR_MINT, asset="usdc").root != reference


def test_the_plan_inputs_mint_asset_and_plan_id_are_all_under_the_root() -> None:
    lines = _lines([(1, 10, "pending"), (2, 3, "pending")])
    base = plan_tree(7, VECTOR_INPUTS, lines, mint=VECTOR_MINT, asset="usdc").root
    other_mint = str(Pubkey.from_bytes(bytes([8]) * 32))
    assert plan_tree(8, VECTOR_INPUTS, lines, mint=VECTOR_MINT, asset="usdc").root != base
    assert plan_tree(7, VECTOR_INPUTS, lines, mint=other_mint, asset="usdc").root != base
    assert plan_tree(7, VECTOR_INPUTS, lines, mint=VECTOR_MINT, asset="stock").root != base
    changed = {**VECTOR_INPUTS, "rate_per_share": str(Decimal("0.27"))}
    assert plan_tree(7, changed, lines, mint=VECTOR_MINT, asset="usdc").root != base


def test_execution_statuses_keep_a_lines_leaf() -> None:
    pending = _lines([(1, 10, "pending")])
    base = plan_tree(7, VECTOR_INPUTS, pending, mint=VECTOR_MINT, asset="usdc").root
    for status in ("batched", "paid", "failed"):
        moved = pending.with_columns(status=pl.lit(status))
        assert plan_tree(7, VECTOR_INPUTS, moved, mint=VECTOR_MINT, asset="usdc").root == base

"""A holder's line with its Merkle proof, and its verification up to the root attested on chain.

``line_proof`` reads the ledger only (the API serves it); ``verify_line`` recomputes the leaf from
the line's fields, walks the proof to a root, and compares that root with the one the plan's
attestation memo carries in its finalized transaction: what was approved, what was attested and
what the holder was paid are then the same thing, checked without trusting the ledger's hash.
"""

from __future__ import annotations

import re
from typing import Any

import base58
from sqlmodel import Session, select

from corpactions.chain import layout
from corpactions.chain.rpc import Rpc
from corpactions.errors import NotFound, PlanError
from corpactions.models import PayoutLine, PayoutPlan
from corpactions.payouts import merkle
from corpactions.payouts.plan import mint_of, stored_line_text, stored_proofs

MEMO_ROOT = re.compile(r"corpactions attest plan (\d+) root ([0-9a-f]{64})")


def memo_text(plan_id: int, root: str, ledger_sha256: str) -> str:
    """The attestation memo: the plan, its root, and the sha256 of its ledger file."""
    return f"corpactions attest plan {plan_id} root {root} ledger sha256 {ledger_sha256}"


def line_proof(session: Session, plan_id: int, wallet: str) -> dict[str, Any]:
    plan = session.get(PayoutPlan, plan_id)
    if plan is None:
        raise NotFound(f"no payout plan {plan_id}")
    line = session.exec(
        select(PayoutLine).where(PayoutLine.plan_id == plan_id, PayoutLine.owner == wallet)
    ).first()
    if line is None:
        raise NotFound(f"plan {plan_id} has no line for {wallet}")
    if plan.inputs.get("tree") != merkle.SCHEME or line.leaf_index is None:
        raise PlanError(f"plan {plan_id} was computed before plans had a Merkle root")
    proof = stored_proofs(session, plan_id, plan.line_count + 1, [line]).get(line.leaf_index)
    if proof is None:
        raise PlanError(
            f"plan {plan_id}'s stored tree lacks the nodes of {wallet}'s proof",
            hint="the ledger was changed: see 'corpactions status' and the plan's reconciliation",
        )
    text = stored_line_text(plan_id, line, mint=mint_of(plan.inputs, plan.asset), asset=plan.asset)
    return {
        "plan_id": plan_id,
        "wallet": wallet,
        "status": str(line.status),
        "amount_due": line.amount_due,
        "account": line.account,
        "signature": line.signature,
        "leaf_index": line.leaf_index,
        "leaf_count": plan.line_count + 1,
        "leaf_text": text.decode(),
        "leaf_hash": merkle.leaf_hash(text).hex(),
        "proof": [proof[i : i + 32].hex() for i in range(0, len(proof), 32)],
        "root": plan.plan_hash,
        "attestation_signature": plan.attestation_signature,
        "encoding": "docs/architecture.md, 'The plan root'",
    }


def walk(proof: dict[str, Any]) -> bool:
    """Recompute the leaf from its text and walk the proof to the stated root."""
    leaf = merkle.leaf_hash(proof["leaf_text"].encode())
    return merkle.verify(
        leaf,
        int(proof["leaf_index"]),
        int(proof["leaf_count"]),
        bytes.fromhex("".join(proof["proof"])),
        bytes.fromhex(proof["root"]),
    )


async def attested_root(rpc: Rpc, signature: str, plan_id: int) -> str | None:
    """The root the plan's attestation memo carries, read from the finalized transaction."""
    tx = await rpc.transaction(signature)
    if tx is None or (tx.get("meta") or {}).get("err") is not None:
        return None
    message = tx["transaction"]["message"]
    keys = message["accountKeys"]
    for ix in message["instructions"]:
        if keys[ix["programIdIndex"]] != str(layout.MEMO_PROGRAM_ID):
            continue
        found = MEMO_ROOT.search(base58.b58decode(ix["data"]).decode(errors="replace"))
        if found and int(found.group(1)) == plan_id:
            return found.group(2)
    return None


async def verify_line(rpc: Rpc, session: Session, plan_id: int, wallet: str) -> dict[str, Any]:
    proof = line_proof(session, plan_id, wallet)
    on_chain = (
        await attested_root(rpc, proof["attestation_signature"], plan_id)
        if proof["attestation_signature"]
        else None
    )
    proof_ok = walk(proof)
    return {
        **proof,
        "proof_reaches_root": proof_ok,
        "attested_root": on_chain,
        "verified": proof_ok and on_chain == proof["root"],
    }

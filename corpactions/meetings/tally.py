"""Weighted tally of a meeting's current ballots, and the published, attested record.

Per item: the weight behind each choice, the weight that voted on it, and the outcome by the
item's majority rule. Turnout: the weight of wallets that voted / all eligible weight at the
record date. Weights are exact integers (raw token units); turnout is an exact decimal string.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from sqlmodel import Session, col, select

from corpactions.config import get_settings
from corpactions.errors import MeetingError
from corpactions.meetings.agenda import Agenda, Item
from corpactions.meetings.ballots import meeting_of, snapshot_of
from corpactions.meetings.weights import all_weights
from corpactions.models import Ballot, MeetingResult


def current_ballots(session: Session, meeting_id: int) -> list[Ballot]:
    return list(
        session.exec(
            select(Ballot)
            .where(Ballot.action_id == meeting_id, col(Ballot.superseded_at).is_(None))
            .order_by(col(Ballot.wallet))
        )
    )


def _outcome(item: Item, totals: dict[str, int]) -> str:
    if item.majority == "plurality":
        best = max(totals.values(), default=0)
        leaders = [c for c, w in totals.items() if w == best]
        return "no votes" if best == 0 else (leaders[0] if len(leaders) == 1 else "tie")
    yes, no = totals.get("for", 0), totals.get("against", 0)
    if yes + no == 0:
        return "no votes"
    if item.majority == "two_thirds":
        return "passed" if 3 * yes >= 2 * (yes + no) else "failed"
    return "passed" if yes > no else "failed"


def compute_tally(
    agenda: Agenda,
    ballots: list[Ballot],
    eligible_weight: int,
    *,
    meeting_id: int,
    weights: Mapping[int, int] | None = None,
) -> dict[str, Any]:
    """Pure: the tally of ``ballots`` (current ones, one per wallet) under ``agenda``;
    ``weights`` (by ballot id) replaces the weights stored with the ballots."""

    def weight(ballot: Ballot) -> int:
        return weights[ballot.id or 0] if weights is not None else ballot.weight

    voted = sum(weight(b) for b in ballots)
    items = []
    for item in agenda.items:
        totals = dict.fromkeys(item.choices, 0)
        for ballot in ballots:
            choice = ballot.choices.get(item.id)
            if choice is not None:
                totals[choice] += weight(ballot)
        items.append(
            {
                "id": item.id,
                "text": item.text,
                "majority": item.majority,
                "totals": {choice: str(weight) for choice, weight in totals.items()},
                "voted_weight": str(sum(totals.values())),
                "outcome": _outcome(item, totals),
            }
        )
    turnout = Decimal(voted) / Decimal(eligible_weight) if eligible_weight else Decimal(0)
    return {
        "meeting_id": meeting_id,
        "ballots": len(ballots),
        "eligible_weight": str(eligible_weight),
        "voted_weight": str(voted),
        "turnout": f"{turnout:.6f}",
        "items": items,
    }


def tally(session: Session, meeting_id: int) -> dict[str, Any]:
    """The tally now (final once the meeting is closed: then the stored one)."""
    result = _stored_result(session, meeting_id)
    if result is not None:
        return {
            **result.tally,
            "final": True,
            "record_sha256": result.record_sha256,
            "attestation_signature": result.attestation_signature,
        }
    _, agenda = meeting_of(session, meeting_id)
    _, counted = _count(session, meeting_id, agenda)
    return {**counted, "final": False}


def _stored_result(session: Session, meeting_id: int) -> MeetingResult | None:
    return session.exec(select(MeetingResult).where(MeetingResult.action_id == meeting_id)).first()


def _count(
    session: Session, meeting_id: int, agenda: Agenda
) -> tuple[list[tuple[Ballot, int]], dict[str, Any]]:
    """The counted ballots with their weights, and the tally, by the meeting's current
    snapshot. A ballot cast while an earlier snapshot was current (the record-date snapshot
    was taken again, say after the record date was amended) weighs what its wallet holds in
    the current one; a wallet that holds nothing there is not counted."""
    snapshot = snapshot_of(session, meeting_id)
    ballots = current_ballots(session, meeting_id)
    eligible_weights = {
        str(owner): int(weight) for owner, weight in all_weights(snapshot).iter_rows()
    }
    counted: list[tuple[Ballot, int]] = []
    for ballot in ballots:
        if ballot.snapshot_id == snapshot.id:
            counted.append((ballot, ballot.weight))
        elif (weight := eligible_weights.get(ballot.wallet, 0)) > 0:
            counted.append((ballot, weight))
    reweighed = sum(1 for b, _ in counted if b.snapshot_id != snapshot.id)
    return counted, {
        **compute_tally(
            agenda,
            [b for b, _ in counted],
            sum(eligible_weights.values()),
            meeting_id=meeting_id,
            weights={b.id or 0: w for b, w in counted},
        ),
        "ballots_reweighed": reweighed,
        "ballots_without_weight": len(ballots) - len(counted),
        "snapshot_id": snapshot.id,
        "snapshot_slot": snapshot.slot,
        "snapshot_sha256": snapshot.sha256,
        "vote_deadline": agenda.vote_deadline.isoformat(),
    }


def record_path(meeting_id: int, digest: str) -> Path:
    return get_settings().data_dir / "meetings" / f"meeting-{meeting_id}-{digest[:16]}.json"


def close_meeting(session: Session, meeting_id: int, now: datetime | None = None) -> MeetingResult:
    """After the deadline: fix the tally, publish the record file (tally and every counted
    ballot with its message and signature) and store its hash. Idempotent."""
    existing = _stored_result(session, meeting_id)
    if existing is not None:
        return existing
    _, agenda = meeting_of(session, meeting_id)
    moment = now or datetime.now(UTC)
    if moment <= agenda.vote_deadline:
        raise MeetingError(
            f"meeting {meeting_id} is open until {agenda.vote_deadline.isoformat()}",
            hint="the final tally is made after the vote deadline; 'tally' shows it live",
        )
    ballots, counted = _count(session, meeting_id, agenda)
    record = orjson.dumps(
        {
            "tally": counted,
            "ballots": [
                {
                    "wallet": b.wallet,
                    "weight": str(weight),
                    "choices": b.choices,
                    "nonce": b.nonce,
                    "message": b.message,
                    "signature": b.signature,
                    "received_at": b.received_at.isoformat(),
                }
                for b, weight in ballots
            ],
        },
        option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2,
    )
    digest = hashlib.sha256(record).hexdigest()
    path = record_path(meeting_id, digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(record)
    result = MeetingResult(
        action_id=meeting_id,
        snapshot_id=int(counted["snapshot_id"] or 0),
        tally=counted,
        ballots_counted=len(ballots),
        record_sha256=digest,
    )
    session.add(result)
    session.flush()
    return result

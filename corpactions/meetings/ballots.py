"""Wallet-signed ballots: the canonical message, its verification, storage and replacement.

A holder signs, with the wallet's ed25519 key (what wallets' ``signMessage`` does: the raw UTF-8
bytes, no prefix), this exact text::

    corpactions ballot v1
    meeting: 7
    wallet: <the signing wallet, base58>
    nonce: <1-64 letters, digits, - or _>
    item 1: for
    item 2: against

One line per agenda item voted (items left out are not voted). A later ballot of the same
wallet before the deadline replaces the earlier one (both are kept; the earlier is marked
superseded). Every refusal is a ``BallotRejected`` naming the reason; nothing is stored then.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from solders.pubkey import Pubkey
from solders.signature import Signature
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from corpactions.actions import current_version
from corpactions.addresses import parse_address
from corpactions.config import get_settings
from corpactions.errors import BallotRejected, CorpactionsError, MeetingError, NotFound
from corpactions.logs import get_logger
from corpactions.meetings.agenda import Agenda, parse_agenda
from corpactions.meetings.weights import all_weights, weight_of
from corpactions.models import (
    ActionKind,
    ActionStatus,
    Ballot,
    CorporateAction,
    Snapshot,
)
from snapshots.take import current_snapshot

log = get_logger(__name__)
HEADER = "corpactions ballot v1"
MAX_MESSAGE_BYTES = 4096
NONCE = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
_LINE = re.compile(r"^(meeting|wallet|nonce): (.+)$")
_ITEM = re.compile(r"^item ([^:]{1,16}): (.{1,64})$")


@dataclass(frozen=True)
class ParsedBallot:
    meeting_id: int
    wallet: str
    nonce: str
    choices: dict[str, str]


def canonical_message(meeting_id: int, wallet: str, nonce: str, choices: dict[str, str]) -> str:
    """The text to sign for these choices (items in the order given)."""
    lines = [HEADER, f"meeting: {meeting_id}", f"wallet: {wallet}", f"nonce: {nonce}"]
    lines += [f"item {item}: {choice}" for item, choice in choices.items()]
    return "\n".join(lines)


def parse_message(text: str) -> ParsedBallot:
    """Read a ballot message strictly: the header, meeting, wallet, nonce, then items."""
    lines = text.split("\n")
    if len(lines) < 5 or lines[0] != HEADER:
        raise BallotRejected(
            f"the message is not a ballot: it must start with {HEADER!r} and then give "
            "meeting, wallet, nonce and at least one 'item <id>: <choice>' line"
        )
    fields: dict[str, str] = {}
    for name, line in zip(("meeting", "wallet", "nonce"), lines[1:4], strict=True):
        match = _LINE.match(line)
        if match is None or match.group(1) != name:
            raise BallotRejected(f"line {lines.index(line) + 1} must be '{name}: ...'")
        fields[name] = match.group(2)
    if not fields["meeting"].isdigit():
        raise BallotRejected(f"meeting {fields['meeting']!r} is not a meeting id")
    if not NONCE.match(fields["nonce"]):
        raise BallotRejected("the nonce must be 1-64 letters, digits, - or _")
    choices: dict[str, str] = {}
    for number, line in enumerate(lines[4:], start=5):
        match = _ITEM.match(line)
        if match is None:
            raise BallotRejected(f"line {number} must be 'item <id>: <choice>', not {line[:80]!r}")
        item, choice = match.group(1), match.group(2)
        if item in choices:
            raise BallotRejected(f"item {item} is voted twice")
        choices[item] = choice
    return ParsedBallot(int(fields["meeting"]), fields["wallet"], fields["nonce"], choices)


def meeting_of(session: Session, meeting_id: int) -> tuple[CorporateAction, Agenda]:
    action = session.get(CorporateAction, meeting_id)
    if action is None or action.kind != ActionKind.meeting:
        raise NotFound(f"no meeting {meeting_id}", hint="see GET /v1/meetings")
    if action.status in (ActionStatus.cancelled, ActionStatus.withdrawn):
        raise MeetingError(f"meeting {meeting_id} was {action.status}; it takes no ballots")
    version = current_version(session, action)
    assert version is not None
    return action, parse_agenda(version.details, zone=get_settings().record_date_timezone)


def _verify_signature(wallet: str, message: bytes, signature: str) -> None:
    try:
        sig = Signature.from_string(signature)
    except ValueError as exc:
        raise BallotRejected("the signature is not a base58 64-byte ed25519 signature") from exc
    if not sig.verify(Pubkey.from_string(wallet), message):
        raise BallotRejected(
            "the signature does not match the message and wallet",
            hint="sign the exact message text, byte for byte, with the wallet it names",
        )


def verify_ballot(
    meeting_id: int, agenda: Agenda, *, wallet: str, message: str, signature: str, now: datetime
) -> ParsedBallot:
    """Every check that needs no ledger: size, wallet, message form, meeting, signature,
    deadline, items and choices. Raises ``BallotRejected`` naming the first failure."""
    data = message.encode()
    if len(data) > MAX_MESSAGE_BYTES:
        raise BallotRejected(f"the message is {len(data)} bytes; at most {MAX_MESSAGE_BYTES}")
    try:
        wallet = parse_address(wallet, what="wallet")
    except CorpactionsError as exc:
        raise BallotRejected(exc.message, hint=exc.hint) from exc
    parsed = parse_message(message)
    if parsed.meeting_id != meeting_id:
        raise BallotRejected(
            f"the message is a ballot for meeting {parsed.meeting_id}, not {meeting_id}"
        )
    if parsed.wallet != wallet:
        raise BallotRejected("the message names another wallet than the one that signed")
    _verify_signature(wallet, data, signature)
    if now > agenda.vote_deadline:
        raise BallotRejected(
            f"voting closed at {agenda.vote_deadline.isoformat()}",
            hint="ballots are accepted until the vote deadline",
        )
    for item_id, choice in parsed.choices.items():
        item = agenda.item(item_id)
        if item is None:
            raise BallotRejected(f"the agenda has no item {item_id!r}")
        if choice not in item.choices:
            raise BallotRejected(
                f"{choice!r} is not a choice of item {item_id} ({', '.join(item.choices)})"
            )
    return parsed


def _no_weight(wallet: str, snapshot: Snapshot) -> BallotRejected:
    return BallotRejected(
        f"wallet {wallet} held no voting tokens at the record date (snapshot slot {snapshot.slot})"
    )


def _replace(
    session: Session,
    meeting_id: int,
    parsed: ParsedBallot,
    *,
    message: str,
    signature: str,
    weight: int,
    snapshot: Snapshot,
    previous: Ballot | None,
    now: datetime,
) -> Ballot:
    if previous is not None and previous.nonce == parsed.nonce:
        raise BallotRejected(
            "this nonce was used by the wallet's current ballot",
            hint="a replacement ballot needs a new nonce",
        )
    if previous is not None:
        previous.superseded_at = now
        session.add(previous)
    ballot = Ballot(
        action_id=meeting_id,
        wallet=parsed.wallet,
        message=message,
        signature=signature,
        nonce=parsed.nonce,
        choices=parsed.choices,
        weight=weight,
        snapshot_id=snapshot.id or 0,
        received_at=now,
    )
    session.add(ballot)
    return ballot


def _flush(session: Session) -> None:
    try:
        session.flush()
    except IntegrityError as exc:
        raise BallotRejected(
            "another ballot of this wallet arrived at the same moment",
            hint="send the ballot again; the later one replaces the other",
        ) from exc


def cast_ballot(
    session: Session,
    meeting_id: int,
    *,
    wallet: str,
    message: str,
    signature: str,
    now: datetime | None = None,
) -> tuple[Ballot, Ballot | None]:
    """Verify and store one ballot (the API's path); returns (stored, replaced or None)."""
    moment = now or datetime.now(UTC)
    _, agenda = meeting_of(session, meeting_id)
    parsed = verify_ballot(
        meeting_id, agenda, wallet=wallet, message=message, signature=signature, now=moment
    )
    snapshot = snapshot_of(session, meeting_id)
    weight = weight_of(snapshot, parsed.wallet)
    if weight <= 0:
        raise _no_weight(parsed.wallet, snapshot)
    previous = session.exec(
        select(Ballot).where(
            Ballot.action_id == meeting_id,
            Ballot.wallet == parsed.wallet,
            col(Ballot.superseded_at).is_(None),
        )
    ).first()
    ballot = _replace(
        session,
        meeting_id,
        parsed,
        message=message,
        signature=signature,
        weight=weight,
        snapshot=snapshot,
        previous=previous,
        now=moment,
    )
    _flush(session)
    log.info(
        "ballot stored",
        meeting=meeting_id,
        wallet=parsed.wallet,
        weight=weight,
        replaced=previous.id if previous else None,
    )
    return ballot, previous


def cast_ballots(
    session: Session,
    meeting_id: int,
    ballots: list[dict[str, str]],
    *,
    now: datetime | None = None,
) -> tuple[int, list[tuple[int, str]]]:
    """Verify and store many ballots ({wallet, message, signature}) at once, e.g. a batch a
    wallet provider forwards: weights and current ballots are read once. Returns the number
    stored and, per refused ballot, its position and reason (the others are stored)."""
    moment = now or datetime.now(UTC)
    _, agenda = meeting_of(session, meeting_id)
    snapshot = snapshot_of(session, meeting_id)
    weights = dict(all_weights(snapshot).iter_rows())
    current = {
        b.wallet: b
        for b in session.exec(
            select(Ballot).where(
                Ballot.action_id == meeting_id, col(Ballot.superseded_at).is_(None)
            )
        )
    }
    stored = 0
    refused: list[tuple[int, str]] = []
    for position, raw in enumerate(ballots):
        try:
            parsed = verify_ballot(meeting_id, agenda, now=moment, **raw)
            weight = int(weights.get(parsed.wallet) or 0)
            if weight <= 0:
                raise _no_weight(parsed.wallet, snapshot)
            current[parsed.wallet] = _replace(
                session,
                meeting_id,
                parsed,
                message=raw["message"],
                signature=raw["signature"],
                weight=weight,
                snapshot=snapshot,
                previous=current.get(parsed.wallet),
                now=moment,
            )
            stored += 1
        except BallotRejected as exc:
            refused.append((position, exc.one_line()))
    _flush(session)
    log.info("ballots stored", meeting=meeting_id, stored=stored, refused=len(refused))
    return stored, refused


def snapshot_of(session: Session, meeting_id: int) -> Snapshot:
    snapshot = current_snapshot(session, meeting_id)
    if snapshot is None:
        raise MeetingError(f"meeting {meeting_id} has no record-date snapshot yet")
    return snapshot

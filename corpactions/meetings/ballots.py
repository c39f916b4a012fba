"""Wallet-signed ballots: the canonical message, its verification, storage and replacement.

A holder signs, with the wallet's ed25519 key (what wallets' ``signMessage`` does: the raw UTF-8
bytes, no prefix), this exact text::

    corpactions ballot v2
    deployment: <CORPACTIONS_DEPLOYMENT of the ledger taking the ballot>
    meeting: 7
    reference: <the meeting's reference, e.g. AGM-2027>
    mint: <the voting instrument's mint, base58>
    wallet: <the signing wallet, base58>
    nonce: <1-64 letters, digits, - or _>
    item 1: for
    item 2: against

One line per agenda item voted (items left out are not voted). The deployment, meeting id,
reference and mint bind the ballot to one meeting of one ledger: signed for any other, it is
refused. A later ballot of the same wallet before the deadline replaces the earlier one (both
are kept; the earlier is marked superseded). A nonce, once used by a wallet in a meeting, is
refused forever (``BallotNonce``), so no earlier ballot can be replayed over a later one. Every
refusal is a ``BallotRejected`` naming the reason; nothing is stored then.
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
    BallotNonce,
    CorporateAction,
    Instrument,
    Snapshot,
)
from snapshots.take import current_snapshot

log = get_logger(__name__)
HEADER = "corpactions ballot v2"
MAX_MESSAGE_BYTES = 4096
NONCE = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
FIELDS = ("deployment", "meeting", "reference", "mint", "wallet", "nonce")
_LINE = re.compile(r"^([a-z]+): (.+)$")
_ITEM = re.compile(r"^item ([^:]{1,16}): (.{1,64})$")


@dataclass(frozen=True)
class BallotContext:
    """What binds a ballot to one meeting of one ledger: all of it is in the signed text."""

    deployment: str
    meeting_id: int
    reference: str
    mint: str


@dataclass(frozen=True)
class ParsedBallot:
    context: BallotContext
    wallet: str
    nonce: str
    choices: dict[str, str]

    @property
    def meeting_id(self) -> int:
        return self.context.meeting_id


def canonical_message(
    context: BallotContext, wallet: str, nonce: str, choices: dict[str, str]
) -> str:
    """The text to sign for these choices (items in the order given)."""
    lines = [
        HEADER,
        f"deployment: {context.deployment}",
        f"meeting: {context.meeting_id}",
        f"reference: {context.reference}",
        f"mint: {context.mint}",
        f"wallet: {wallet}",
        f"nonce: {nonce}",
    ]
    lines += [f"item {item}: {choice}" for item, choice in choices.items()]
    return "\n".join(lines)


def parse_message(text: str) -> ParsedBallot:
    """Read a ballot message strictly: the header, the binding fields in order, then items."""
    lines = text.split("\n")
    first_item = 1 + len(FIELDS)
    if len(lines) <= first_item or lines[0] != HEADER:
        raise BallotRejected(
            f"the message is not a ballot: it must start with {HEADER!r} and then give "
            f"{', '.join(FIELDS)} and at least one 'item <id>: <choice>' line",
            hint="print the text to sign with 'corpactions meetings message' or the holder page",
        )
    fields: dict[str, str] = {}
    for number, (name, line) in enumerate(zip(FIELDS, lines[1:first_item], strict=True), 2):
        match = _LINE.match(line)
        if match is None or match.group(1) != name:
            raise BallotRejected(f"line {number} must be '{name}: ...'")
        fields[name] = match.group(2)
    if not fields["meeting"].isdigit():
        raise BallotRejected(f"meeting {fields['meeting']!r} is not a meeting id")
    if not NONCE.match(fields["nonce"]):
        raise BallotRejected("the nonce must be 1-64 letters, digits, - or _")
    context = BallotContext(
        fields["deployment"], int(fields["meeting"]), fields["reference"], fields["mint"]
    )
    choices: dict[str, str] = {}
    for number, line in enumerate(lines[first_item:], start=first_item + 1):
        match = _ITEM.match(line)
        if match is None:
            raise BallotRejected(f"line {number} must be 'item <id>: <choice>', not {line[:80]!r}")
        item, choice = match.group(1), match.group(2)
        if item in choices:
            raise BallotRejected(f"item {item} is voted twice")
        choices[item] = choice
    return ParsedBallot(context, fields["wallet"], fields["nonce"], choices)


def meeting_of(session: Session, meeting_id: int) -> tuple[CorporateAction, Agenda]:
    action = session.get(CorporateAction, meeting_id)
    if action is None or action.kind != ActionKind.meeting:
        raise NotFound(f"no meeting {meeting_id}", hint="see GET /v1/meetings")
    if action.status in (ActionStatus.cancelled, ActionStatus.withdrawn):
        raise MeetingError(f"meeting {meeting_id} was {action.status}; it takes no ballots")
    version = current_version(session, action)
    assert version is not None
    return action, parse_agenda(version.details, zone=get_settings().record_date_timezone)


def ballot_context(session: Session, action: CorporateAction) -> BallotContext:
    """The binding fields a ballot for this meeting must name, on this deployment."""
    instrument = session.get(Instrument, action.instrument_id)
    assert instrument is not None
    return BallotContext(
        deployment=get_settings().deployment,
        meeting_id=action.id or 0,
        reference=action.source_ref,
        mint=instrument.mint,
    )


def _check_binding(parsed: BallotContext, expected: BallotContext) -> None:
    if parsed.meeting_id != expected.meeting_id:
        raise BallotRejected(
            f"the message is a ballot for meeting {parsed.meeting_id}, not {expected.meeting_id}"
        )
    for name, got, want in (
        ("deployment", parsed.deployment, expected.deployment),
        ("reference", parsed.reference, expected.reference),
        ("mint", parsed.mint, expected.mint),
    ):
        if got != want:
            raise BallotRejected(
                f"the message is a ballot for {name} {got[:64]!r}, but meeting "
                f"{expected.meeting_id} here has {name} {want!r}",
                hint="sign the text this meeting gives (corpactions meetings message, or the "
                "holder page)",
            )


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
    context: BallotContext,
    agenda: Agenda,
    *,
    wallet: str,
    message: str,
    signature: str,
    now: datetime,
) -> ParsedBallot:
    """Every check that needs no ledger: size, wallet, message form, binding (deployment,
    meeting, reference, mint), signature, deadline, items and choices. Raises
    ``BallotRejected`` naming the first failure."""
    data = message.encode()
    if len(data) > MAX_MESSAGE_BYTES:
        raise BallotRejected(f"the message is {len(data)} bytes; at most {MAX_MESSAGE_BYTES}")
    try:
        wallet = parse_address(wallet, what="wallet")
    except CorpactionsError as exc:
        raise BallotRejected(exc.message, hint=exc.hint) from exc
    parsed = parse_message(message)
    _check_binding(parsed.context, context)
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
    nonce_used: bool,
    now: datetime,
) -> Ballot:
    if nonce_used:
        raise BallotRejected(
            f"nonce {parsed.nonce!r} was already used by this wallet in meeting {meeting_id}: "
            "a ballot is counted once, never replayed",
            hint="a new or replacement ballot needs a new nonce",
        )
    session.add(
        BallotNonce(action_id=meeting_id, wallet=parsed.wallet, nonce=parsed.nonce, used_at=now)
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
            "another ballot of this wallet (or one with the same nonce) arrived at the same moment",
            hint="send the ballot again with a new nonce; the later one replaces the other",
        ) from exc


def _nonce_used(session: Session, meeting_id: int, wallet: str, nonce: str) -> bool:
    return (
        session.exec(
            select(BallotNonce.id).where(
                BallotNonce.action_id == meeting_id,
                BallotNonce.wallet == wallet,
                BallotNonce.nonce == nonce,
            )
        ).first()
        is not None
    )


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
    action, agenda = meeting_of(session, meeting_id)
    parsed = verify_ballot(
        ballot_context(session, action),
        agenda,
        wallet=wallet,
        message=message,
        signature=signature,
        now=moment,
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
        nonce_used=_nonce_used(session, meeting_id, parsed.wallet, parsed.nonce),
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
    action, agenda = meeting_of(session, meeting_id)
    context = ballot_context(session, action)
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
    used = {
        (row.wallet, row.nonce)
        for row in session.exec(select(BallotNonce).where(BallotNonce.action_id == meeting_id))
    }
    stored = 0
    refused: list[tuple[int, str]] = []
    for position, raw in enumerate(ballots):
        try:
            parsed = verify_ballot(context, agenda, now=moment, **raw)
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
                nonce_used=(parsed.wallet, parsed.nonce) in used,
                now=moment,
            )
            used.add((parsed.wallet, parsed.nonce))
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

"""Close a meeting after its deadline and attest its record on chain (memo), exactly once."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Session, select

from corpactions.chain.keys import load_keypair
from corpactions.chain.rpc import Rpc
from corpactions.config import Settings, get_settings
from corpactions.db import SessionFactory
from corpactions.errors import CorpactionsError
from corpactions.execution.attest import publish_memo, record_attempt
from corpactions.logs import get_logger
from corpactions.meetings.ballots import meeting_of
from corpactions.meetings.tally import close_meeting
from corpactions.models import (
    TERMINAL_ACTION_STATUSES,
    ActionKind,
    CorporateAction,
    MeetingResult,
)
from corpactions.notify import notify
from snapshots.take import current_snapshot

log = get_logger(__name__)


async def close_and_attest(
    meeting_id: int,
    *,
    session_factory: SessionFactory,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> MeetingResult:
    """Fix the final tally (once), then publish its record's sha256 in a memo signed by the
    payout authority. Safe to run again at any point: it resumes."""
    settings = settings or get_settings()
    with session_factory() as session:
        result = close_meeting(session, meeting_id, now=now)
        result_id = result.id
        if result.attested_at is not None:
            return result
        digest = result.record_sha256
        previous, last_valid = result.attestation_signature, result.attestation_last_valid or 0

    def record(signature: str, valid_until: int) -> bool:
        with session_factory() as session:
            return record_attempt(
                session,
                MeetingResult.__table__,  # type: ignore[attr-defined]
                result_id or 0,
                previous,
                attestation_signature=signature,
                attestation_last_valid=valid_until,
            )

    async with Rpc(settings=settings) as rpc:
        landed = await publish_memo(
            rpc,
            load_keypair(settings.authority_keypair_path),
            f"corpactions attest meeting {meeting_id} record sha256 {digest}",
            previous=previous,
            previous_last_valid=last_valid,
            record=record,
        )
    with session_factory() as session:
        stored: MeetingResult | None = session.get(MeetingResult, result_id)
        assert stored is not None
        if landed is not None:
            stored.attestation_signature = landed
            stored.attested_at = datetime.now(UTC)
            session.add(stored)
            notify(
                session,
                "meeting.closed",
                {
                    "meeting_id": meeting_id,
                    "record_sha256": digest,
                    "attestation_signature": landed,
                },
            )
            log.info("meeting attested", meeting=meeting_id, sha256=digest, signature=landed)
        return stored


def meetings_to_close(session: Session, now: datetime | None = None) -> list[int]:
    """Meetings past their deadline with a snapshot and no attested result yet."""
    moment = now or datetime.now(UTC)
    due = []
    for action in session.exec(
        select(CorporateAction).where(CorporateAction.kind == ActionKind.meeting)
    ):
        if action.status in TERMINAL_ACTION_STATUSES:
            continue
        done = session.exec(
            select(MeetingResult).where(MeetingResult.action_id == action.id)
        ).first()
        if done is not None and done.attested_at is not None:
            continue
        try:
            _, agenda = meeting_of(session, action.id or 0)
        except CorpactionsError:
            continue
        if moment > agenda.vote_deadline and current_snapshot(session, action.id or 0):
            due.append(action.id or 0)
    return due

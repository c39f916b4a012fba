"""Meeting routes: agendas, wallet-signed ballots (the API's one write), tallies."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field
from sqlmodel import Session, col, select

from corpactions import db
from corpactions.actions import current_version
from corpactions.addresses import parse_address
from corpactions.api.deps import MAX_ID, ReadSession
from corpactions.api.schemas import Problem
from corpactions.errors import CorpactionsError, NotFound
from corpactions.meetings.agenda import Agenda
from corpactions.meetings.ballots import HEADER, ballot_context, cast_ballot, meeting_of
from corpactions.meetings.tally import tally
from corpactions.models import (
    ActionKind,
    Ballot,
    CorporateAction,
    Instrument,
    MeetingResult,
)
from snapshots.take import current_snapshot

router = APIRouter()
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No such meeting."},
    409: {
        "model": Problem,
        "description": "The meeting cannot take this yet (no agenda or no record-date snapshot).",
    },
    422: {
        "model": Problem,
        "description": "The ballot or a parameter was refused; detail says "
        "why. Nothing was stored.",
    },
}


class AgendaItemOut(BaseModel):
    id: str
    text: str
    choices: list[str]
    majority: str


class MeetingItem(BaseModel):
    id: int
    symbol: str
    status: str
    record_date: date | None
    meeting_date: date | None
    vote_deadline: datetime | None
    open: bool
    agenda_items: int


class BallotIn(BaseModel):
    wallet: str = Field(max_length=64, description="The signing wallet, base58.")
    message: str = Field(max_length=4096, description="The exact ballot text that was signed.")
    signature: str = Field(max_length=128, description="ed25519 signature, base58 (64 bytes).")


class BallotOut(BaseModel):
    ballot_id: int
    meeting_id: int
    wallet: str
    weight: str
    choices: dict[str, str]
    received_at: datetime
    superseded_at: datetime | None
    replaced_ballot_id: int | None = None

    @classmethod
    def of(cls, ballot: Ballot, replaced_ballot_id: int | None = None) -> BallotOut:
        return cls(
            ballot_id=ballot.id or 0,
            meeting_id=ballot.action_id,
            wallet=ballot.wallet,
            weight=str(ballot.weight),
            choices=ballot.choices,
            received_at=ballot.received_at,
            superseded_at=ballot.superseded_at,
            replaced_ballot_id=replaced_ballot_id,
        )


class MeetingDetail(MeetingItem):
    agenda: list[AgendaItemOut]
    snapshot_slot: int | None
    problem: str | None = Field(description="Why ballots cannot be cast yet, if so.")
    tally: dict[str, Any] | None = Field(
        description="Weighted totals per item and turnout; shown once voting has closed."
    )
    ballot_header: str = Field(description="First line of the ballot text to sign.")
    deployment: str = Field(description="The deployment a ballot must name (signed text).")
    reference: str = Field(description="The meeting's reference a ballot must name.")
    mint: str = Field(description="The voting instrument's mint a ballot must name.")
    wallet_ballot: BallotOut | None = Field(
        default=None,
        description="With ?wallet=W: that wallet's current ballot in this meeting, if any.",
    )


MeetingId = Annotated[int, Path(ge=1, le=MAX_ID)]


def _describe(session: Session, action: CorporateAction, symbol: str) -> dict[str, Any]:
    version = current_version(session, action)
    assert version is not None
    agenda: Agenda | None = None
    problem = None
    try:
        _, agenda = meeting_of(session, action.id or 0)
    except CorpactionsError as exc:
        problem = exc.one_line()
    now = datetime.now(UTC)
    return {
        "id": action.id or 0,
        "symbol": symbol,
        "status": str(action.status),
        "record_date": version.record_date,
        "meeting_date": agenda.meeting_date if agenda else None,
        "vote_deadline": agenda.vote_deadline if agenda else None,
        "open": bool(agenda and now <= agenda.vote_deadline),
        "agenda_items": len(agenda.items) if agenda else 0,
        "_agenda": agenda,
        "_problem": problem,
    }


@router.get("/v1/meetings", response_model=list[MeetingItem], summary="Shareholder meetings")
def list_meetings(session: ReadSession) -> list[MeetingItem]:
    rows = session.exec(
        select(CorporateAction, Instrument.symbol)
        .join(Instrument, col(Instrument.id) == col(CorporateAction.instrument_id))
        .where(CorporateAction.kind == ActionKind.meeting)
        .order_by(col(CorporateAction.id).desc())
        .limit(500)
    ).all()
    out = []
    for action, symbol in rows:
        data = _describe(session, action, symbol)
        out.append(MeetingItem(**{k: v for k, v in data.items() if not k.startswith("_")}))
    return out


@router.get(
    "/v1/meetings/{meeting_id}",
    response_model=MeetingDetail,
    responses=ERRORS,
    summary="A meeting: agenda, deadline, and the tally once voting closed",
)
def get_meeting(
    meeting_id: MeetingId,
    session: ReadSession,
    wallet: Annotated[
        str | None,
        Query(max_length=64, description="A holder wallet: include its current ballot."),
    ] = None,
) -> MeetingDetail:
    action = session.get(CorporateAction, meeting_id)
    if action is None or action.kind != ActionKind.meeting:
        raise NotFound(f"no meeting {meeting_id}")
    binding = ballot_context(session, action)
    own = None
    if wallet is not None:
        own = current_ballot(session, meeting_id, parse_address(wallet, what="wallet"))
    instrument = session.get(Instrument, action.instrument_id)
    data = _describe(session, action, instrument.symbol if instrument else "")
    agenda: Agenda | None = data.pop("_agenda")
    problem = data.pop("_problem")
    snapshot = current_snapshot(session, meeting_id)
    closed = session.exec(
        select(MeetingResult).where(MeetingResult.action_id == meeting_id)
    ).first()
    shown = None
    if agenda is not None and snapshot is not None and (closed or not data["open"]):
        shown = tally(session, meeting_id)
    if problem is None and snapshot is None:
        problem = "no record-date snapshot yet: ballots open once it is taken"
    return MeetingDetail(
        **data,
        agenda=[AgendaItemOut(**i.as_dict()) for i in (agenda.items if agenda else ())],
        snapshot_slot=snapshot.slot if snapshot else None,
        problem=problem,
        tally=shown,
        ballot_header=HEADER,
        deployment=binding.deployment,
        reference=binding.reference,
        mint=binding.mint,
        wallet_ballot=BallotOut.of(own) if own else None,
    )


@router.post(
    "/v1/meetings/{meeting_id}/ballots",
    response_model=BallotOut,
    status_code=201,
    responses=ERRORS,
    summary="Cast (or replace) a wallet-signed ballot",
)
def post_ballot(meeting_id: MeetingId, ballot: BallotIn) -> BallotOut:
    with db.session_scope() as session:
        stored, replaced = cast_ballot(
            session,
            meeting_id,
            wallet=ballot.wallet,
            message=ballot.message,
            signature=ballot.signature,
        )
        return BallotOut.of(stored, replaced.id if replaced else None)


def current_ballot(session: Session, meeting_id: int, wallet: str) -> Ballot | None:
    return session.exec(
        select(Ballot).where(
            Ballot.action_id == meeting_id,
            Ballot.wallet == wallet,
            col(Ballot.superseded_at).is_(None),
        )
    ).first()


def wallet_ballots(session: Session, wallet: str) -> list[BallotOut]:
    return [
        BallotOut.of(b)
        for b in session.exec(
            select(Ballot).where(Ballot.wallet == wallet).order_by(col(Ballot.id).desc()).limit(500)
        )
    ]

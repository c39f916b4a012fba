"""A meeting's agenda and deadline, read from its action's current version.

Feeds and ``corpactions meetings create`` carry them in the version's details::

    {"meeting_date": "2027-03-01", "vote_deadline": "2027-02-26T17:00:00-05:00",
     "agenda": [{"id": "1", "text": "Elect the board", "choices": ["for", "against", "abstain"],
                 "majority": "simple"}, ...]}

``majority`` is ``simple`` (more for than against) or ``two_thirds`` (for ≥ 2/3 of for + against);
abstentions count for turnout only. An item's choices may also be candidates' names (plurality).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from corpactions.errors import MeetingError

VOTE_CHOICES = ("for", "against", "abstain")
MAJORITIES = ("simple", "two_thirds", "plurality")
ITEM_ID = re.compile(r"^[A-Za-z0-9.\-]{1,16}$")
CHOICE = re.compile(r"^[A-Za-z0-9 .,'\-]{1,64}$")
MAX_ITEMS = 100


@dataclass(frozen=True)
class Item:
    id: str
    text: str
    choices: tuple[str, ...]
    majority: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "text": self.text,
            "choices": list(self.choices),
            "majority": self.majority,
        }


@dataclass(frozen=True)
class Agenda:
    meeting_date: date | None
    vote_deadline: datetime
    items: tuple[Item, ...]

    def item(self, item_id: str) -> Item | None:
        return next((i for i in self.items if i.id == item_id), None)


def _deadline(value: Any, meeting_date: date | None, zone: str) -> datetime:
    if value in (None, ""):
        if meeting_date is None:
            raise MeetingError("the meeting has neither a vote deadline nor a meeting date")
        # Custodians need the instructions before the meeting: the day before, end of day.
        return datetime.combine(meeting_date, time(0), ZoneInfo(zone))
    text = str(value).strip()
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(23, 59, 59), ZoneInfo(zone))
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise MeetingError(f"vote deadline {text!r} is not an ISO date or date-time") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(zone))
    return moment


def parse_agenda(details: dict[str, Any], *, zone: str = "America/New_York") -> Agenda:
    """The agenda in ``details``, validated; ``MeetingError`` names what is wrong."""
    raw_date = details.get("meeting_date")
    try:
        meeting_date = date.fromisoformat(str(raw_date)) if raw_date else None
    except ValueError as exc:
        raise MeetingError(f"meeting date {raw_date!r} is not YYYY-MM-DD") from exc
    raw_items = details.get("agenda")
    if not isinstance(raw_items, list) or not raw_items:
        raise MeetingError(
            "the meeting has no agenda yet",
            hint="ballots open once a version with agenda items is ingested",
        )
    if len(raw_items) > MAX_ITEMS:
        raise MeetingError(f"an agenda of {len(raw_items)} items is more than {MAX_ITEMS}")
    items: list[Item] = []
    for position, raw in enumerate(raw_items, start=1):
        if not isinstance(raw, dict):
            raise MeetingError(f"agenda item {position} is not an object")
        item_id = str(raw.get("id", position)).strip()
        if not ITEM_ID.match(item_id):
            raise MeetingError(f"agenda item id {item_id!r} must be 1-16 letters, digits, . or -")
        choices = raw.get("choices") or list(VOTE_CHOICES)
        if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
            raise MeetingError(f"agenda item {item_id}: choices must be a list of names")
        names = tuple(c.strip().lower() for c in choices)
        bad = [c for c in names if not CHOICE.match(c)]
        if bad or len(set(names)) != len(names) or len(names) < 2:
            raise MeetingError(
                f"agenda item {item_id}: choices must be 2 or more distinct names "
                "(letters, digits, spaces, . , ' -)"
            )
        majority = str(raw.get("majority") or ("simple" if names == VOTE_CHOICES else "plurality"))
        if majority not in MAJORITIES:
            raise MeetingError(
                f"agenda item {item_id}: majority {majority!r} is not "
                f"one of {', '.join(MAJORITIES)}"
            )
        if majority != "plurality" and not {"for", "against"} <= set(names):
            raise MeetingError(f"agenda item {item_id}: a {majority} majority needs for/against")
        items.append(Item(item_id, str(raw.get("text") or "").strip(), names, majority))
    if len({i.id for i in items}) != len(items):
        raise MeetingError("agenda item ids must be unique")
    deadline = _deadline(details.get("vote_deadline"), meeting_date, zone)
    return Agenda(meeting_date, deadline, tuple(items))

"""ISO 20022 ``seev.001`` MeetingNotification (any version; namespaces are ignored).

Read (paths of seev.001.001.11; a test holds the test payload to that version's schema):
NtfctnGnlInf/NtfctnTp (NEWM new, RPLA replacement -> an amendment), Mtg/MtgId (the stable
reference; IssrMtgId kept), Mtg/Tp (GMET, XMET, ...), Mtg/EntitlmntFxgDt (the record date),
MtgDtls/DtAndTm (the meeting date), Scty/FinInstrmId (ticker as in seev.031), Vote/VoteDdln
(the vote deadline, date or date-time), and each Rsltn: IssrLabl (the item id), Desc/Titl (its
text), Sts (WDRA withdrawn items are left out), ForInfOnly (not voted: left out), Tp (EXTR
extraordinary or SPCL special -> two-thirds majority; none, an ordinary resolution -> simple;
a threshold given in VtngRghtsThrshldForApprvl is not read) and VoteInstrTp/VoteInstrTpCd/Tp
codes (CFOR for, CAGS against, ABST abstain; absent -> all three).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from corpactions.errors import InvalidRecord
from corpactions.feeds.isoxml import date_of, read_documents, text, ticker
from corpactions.feeds.normalized import (
    NormalizedAction,
    Rejected,
    parse_date,
    parse_sequence,
    parse_symbol,
)
from corpactions.models import ActionKind

SOURCE = "seev001"
FUNCTIONS = {"NEWM": "NEWM", "RPLA": "REPL", "REPL": "REPL"}
VOTE_CODES = {"CFOR": "for", "CAGS": "against", "ABST": "abstain"}
QUALIFIED = {"EXTR", "SPCL"}  # extraordinary and special resolutions: a two-thirds majority


def _resolutions(message: ET.Element) -> list[dict[str, Any]]:
    items = []
    for resolution in message.iterfind("{*}Rsltn"):
        label = text(resolution, "{*}IssrLabl")
        if not label:
            raise InvalidRecord("a resolution has no IssrLabl (its agenda item id)")
        if text(resolution, "{*}Sts") == "WDRA" or text(resolution, "{*}ForInfOnly") == "true":
            continue
        codes = [
            (node.text or "").strip()
            for node in resolution.iterfind("{*}VoteInstrTp/{*}VoteInstrTpCd/{*}Tp")
            if (node.text or "").strip() in VOTE_CODES
        ]
        choices = [VOTE_CODES[c] for c in dict.fromkeys(codes)] or list(VOTE_CODES.values())
        items.append(
            {
                "id": label,
                "text": text(resolution, "{*}Desc/{*}Titl")
                or text(resolution, "{*}Desc/{*}Desc")
                or "",
                "choices": choices,
                "majority": "two_thirds" if text(resolution, "{*}Tp") in QUALIFIED else "simple",
            }
        )
    return items


def notification(document: ET.Element, raw: str, created: str | None) -> NormalizedAction:
    message = document.find(".//{*}MtgNtfctn")
    if message is None:
        raise InvalidRecord("not a MeetingNotification (no MtgNtfctn element)")
    general = message.find("{*}NtfctnGnlInf")
    code = text(general, "{*}NtfctnTp") or text(general, "{*}NtfctnTp/{*}Cd") or "NEWM"
    function = FUNCTIONS.get(code)
    if function is None:
        raise InvalidRecord(f"notification type {code!r} is not NEWM or RPLA")
    meeting = message.find("{*}Mtg")
    reference = text(meeting, "{*}MtgId")
    if not reference:
        raise InvalidRecord("Mtg/MtgId (the meeting reference) is missing")
    symbol, isin = ticker(message.find("{*}Scty/{*}FinInstrmId"))
    details = message.find("{*}MtgDtls")
    vote = message.find("{*}Vote")
    agenda = _resolutions(message)
    return NormalizedAction(
        source=SOURCE,
        source_ref=reference,
        symbol=parse_symbol(symbol),
        kind=ActionKind.meeting,
        raw=raw,
        function=function,
        record_date=parse_date(date_of(meeting, "EntitlmntFxgDt"), "EntitlmntFxgDt"),
        sequence=parse_sequence(created, "CreDt"),
        details={
            k: v
            for k, v in {
                "isin": isin,
                "issuer_meeting_id": text(meeting, "{*}IssrMtgId"),
                "meeting_type": text(meeting, "{*}Tp"),
                "meeting_date": (date_of(details, "DtAndTm") or "")[:10] or None,
                "vote_deadline": date_of(vote, "VoteDdln"),
                "agenda": agenda or None,
            }.items()
            if v is not None
        },
    )


def parse_notifications(payload: bytes) -> list[NormalizedAction | Rejected]:
    return read_documents(
        payload,
        source=SOURCE,
        what="seev.001",
        parse=notification,
        reference=lambda document: text(document, ".//{*}MtgNtfctn/{*}Mtg/{*}MtgId"),
    )

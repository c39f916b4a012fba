"""The custodian's voting instruction: aggregated votes per agenda item, as CSV and as an ISO 20022
seev.004.001.09 MeetingInstruction: one instruction for the omnibus position the custodian holds
for all token holders, one vote line per resolution.

The quantities are shares (the record-date UI amount: raw / 10**decimals times the multiplier),
exact decimals; the raw weights travel in the CSV too.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from xml.etree import ElementTree as ET

SEEV004_NS = "urn:iso:std:iso:20022:tech:xsd:seev.004.001.09"
VOTE_TAGS = {"for": "For", "against": "Agnst", "abstain": "Abstn"}
MEETING_TYPES = {"GMET", "XMET", "MIXD", "SPCL", "BMET", "CMET"}
ISIN = re.compile(r"[A-Z]{2}[A-Z0-9]{9}[0-9]")


def shares(raw: int, decimals: int, multiplier: str | None) -> str:
    value = Decimal(raw).scaleb(-decimals) * Decimal(multiplier or "1")
    return f"{value:.{decimals}f}"


def instruction_csv(
    meeting: dict[str, Any], result: dict[str, Any], decimals: int, multiplier: str | None
) -> str:
    out = io.StringIO()
    out.write("meeting_id,symbol,item,choice,weight_raw,shares\n")
    for item in result["items"]:
        for choice, weight in item["totals"].items():
            out.write(
                f"{meeting['id']},{meeting['symbol']},{item['id']},{choice},{weight},"
                f"{shares(int(weight), decimals, multiplier)}\n"
            )
    return out.getvalue()


def _meeting_time(meeting: dict[str, Any]) -> str:
    """MtgDtAndTm (an ISODateTime, required): the meeting date at midnight UTC when only a date
    is known, else the vote deadline."""
    if meeting.get("meeting_date"):
        return f"{meeting['meeting_date']}T00:00:00Z"
    deadline = datetime.fromisoformat(str(meeting["vote_deadline"])).astimezone(UTC)
    return deadline.strftime("%Y-%m-%dT%H:%M:%SZ")


def instruction_xml(
    meeting: dict[str, Any], result: dict[str, Any], decimals: int, multiplier: str | None
) -> bytes:
    """A seev.004.001.09 MeetingInstruction: elements, order and lengths as the schema has them
    (a test checks it against the message's generated model). One instruction for the omnibus
    position (the token's mint as its wallet), one VoteInstr per resolution; an election gives
    one resolution per candidate, labelled ``item.n`` in agenda order and grouped by the item."""
    ET.register_namespace("", SEEV004_NS)

    def sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
        element = ET.SubElement(parent, f"{{{SEEV004_NS}}}{tag}")
        if text is not None:
            element.text = text
        return element

    def quantity(parent: ET.Element, tag: str, raw: int) -> None:
        sub(sub(sub(parent, tag), "Qty"), "Unit", shares(raw, decimals, multiplier))

    document = ET.Element(f"{{{SEEV004_NS}}}Document")
    instruction = sub(document, "MtgInstr")
    sub(instruction, "MtgInstrId", f"CORPACTIONS-{meeting['id']}"[:35])
    reference = sub(instruction, "MtgRef")
    sub(reference, "MtgId", str(meeting["reference"])[:35])
    if meeting.get("issuer_meeting_id"):
        sub(reference, "IssrMtgId", str(meeting["issuer_meeting_id"])[:35])
    sub(reference, "MtgDtAndTm", _meeting_time(meeting))
    kind = str(meeting.get("meeting_type") or "GMET")
    sub(reference, "Tp", kind if kind in MEETING_TYPES else "GMET")
    security = sub(instruction, "FinInstrmId")
    isin = str(meeting.get("isin") or "")
    if ISIN.fullmatch(isin):
        sub(security, "ISIN", isin)
    other = sub(security, "OthrId")
    sub(other, "Id", str(meeting["symbol"]))
    sub(sub(other, "Tp"), "Cd", "TS")  # ticker symbol
    sub(security, "Desc", f"tokenized shares, mint {meeting['mint']}")
    details = sub(instruction, "Instr")
    sub(details, "SnglInstrId", f"CORPACTIONS-{meeting['id']}-1"[:35])
    sub(details, "VoteExctnConf", "false")
    account = sub(details, "AcctDtls")
    sub(account, "BlckChainAdrOrWllt", str(meeting["mint"]))
    balance = sub(sub(account, "InstdBal"), "Bal")
    sub(balance, "ShrtLngPos", "LONG")
    sub(sub(balance, "Qty"), "Unit", shares(int(result["voted_weight"]), decimals, multiplier))
    per_resolution = sub(sub(sub(details, "VoteDtls"), "VoteInstrForAgndRsltn"), "VotePerAgndRsltn")
    for item in result["items"]:
        totals = {choice: int(weight) for choice, weight in item["totals"].items()}
        if set(totals) <= set(VOTE_TAGS):
            vote = sub(per_resolution, "VoteInstr")
            sub(vote, "IssrLabl", str(item["id"])[:35])
            for choice, tag in VOTE_TAGS.items():
                if choice in totals:
                    quantity(vote, tag, totals[choice])
            continue
        # An election: one resolution per candidate (the CSV names them; the label keeps the
        # agenda's order), grouped under the item.
        for number, weight in enumerate(totals.values(), start=1):
            vote = sub(per_resolution, "VoteInstr")
            sub(vote, "IssrLabl", f"{item['id']}.{number}"[:35])
            sub(vote, "ListgGrpRsltnLabl", str(item["id"])[:35])
            quantity(vote, "For", weight)
    ET.indent(document)
    data: bytes = ET.tostring(document, encoding="utf-8", xml_declaration=True)
    return data

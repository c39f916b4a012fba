"""The custodian's voting instruction: aggregated votes per agenda item, as CSV and as an XML
document shaped like ISO 20022 seev.004 (MeetingInstruction): one instruction for the omnibus
position the custodian holds for all token holders, one vote line per resolution.

The quantities are shares (the record-date UI amount: raw / 10**decimals times the multiplier),
exact decimals; the raw weights travel in the CSV too.
"""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any
from xml.etree import ElementTree as ET

SEEV004_NS = "urn:iso:std:iso:20022:tech:xsd:seev.004.001.09"
VOTE_TAGS = {"for": "For", "against": "Agst", "abstain": "Abstn"}


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


def instruction_xml(
    meeting: dict[str, Any], result: dict[str, Any], decimals: int, multiplier: str | None
) -> bytes:
    ET.register_namespace("", SEEV004_NS)

    def sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
        element = ET.SubElement(parent, f"{{{SEEV004_NS}}}{tag}")
        if text is not None:
            element.text = text
        return element

    document = ET.Element(f"{{{SEEV004_NS}}}Document")
    instruction = sub(document, "MtgInstr")
    reference = sub(instruction, "MtgRef")
    sub(reference, "MtgId", str(meeting["id"]))
    sub(reference, "IssrMtgId", meeting["reference"])
    if meeting.get("meeting_date"):
        sub(sub(reference, "MtgDtAndTm"), "Dt", meeting["meeting_date"])
    security = sub(instruction, "FinInstrmId")
    sub(sub(security, "OthrId"), "Id", meeting["symbol"])
    sub(security, "Desc", f"token mint {meeting['mint']}")
    details = sub(instruction, "Instr")
    sub(details, "SnglInstrId", f"corpactions-{meeting['id']}")
    position = sub(details, "AcctDtls")
    sub(position, "Acct", "omnibus (token holders, pass-through)")
    sub(sub(position, "InstdPos"), "Qty", shares(int(result["voted_weight"]), decimals, multiplier))
    votes = sub(details, "VoteDtls")
    for item in result["items"]:
        per_item = sub(votes, "VoteInstrForAgndRsltn")
        sub(per_item, "IssrLabl", item["id"])
        for choice, weight in item["totals"].items():
            quantity = shares(int(weight), decimals, multiplier)
            tag = VOTE_TAGS.get(choice)
            if tag is not None:
                sub(per_item, tag, quantity)
            else:  # an election: one line per candidate
                candidate = sub(per_item, "Cand")
                sub(candidate, "Nm", choice)
                sub(candidate, "Qty", quantity)
    ET.indent(document)
    data: bytes = ET.tostring(document, encoding="utf-8", xml_declaration=True)
    return data

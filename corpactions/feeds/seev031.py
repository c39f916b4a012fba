"""ISO 20022 ``seev.031`` CorporateActionNotification and ``seev.039``
CorporateActionCancellationAdvice (any version; namespaces are ignored).

A cancellation advice (CxlAdvcGnlInf/CxlRsnCd WITH: withdrawn by the issuer; PROC: cancelled
as a processing error) is a version of the same action (same CorpActnEvtId, same source) that
ends it; CANC and WITH given as a notification type are read the same way.

Read (paths of seev.031.001.14; a test holds the corpus to that version's schema):
NtfctnGnlInf/NtfctnTp (NEWM, REPL, RMDR; CANC and WITH accepted for cancellations and
withdrawals), NtfctnGnlInf/PrcgSts/Cd (EvtCmpltnsSts + EvtConfSts, or a plain PREU/PREC/COMP
code), CorpActnGnlInf/CorpActnEvtId (the stable reference), EvtTp/Cd (DVCA, DVSE, SPLF, SPLR,
MEET, XMET), UndrlygScty/FinInstrmId (ticker from OthrId typed TS/TICKER, else Desc; ISIN kept),
CorpActnDtls/DtDtls (ExDvddDt, RcrdDt, PmtDt, FctvDt, MtgDt), and from the first
CorpActnOptnDtls: the rates wherever the option gives them (GrssDvddRate and NetDvddRate with
their currency, WhldgTaxRate in percent; under RateAndAmtDtls or CshMvmntDtls/RateAndAmtDtls),
the payment date of the cash or securities movement when the event has none, the ratio under
SctiesMvmntDtls/RateDtls (NewToOd, or AddtlQtyForExstgScties for stock dividends: additional
for existing, turned into new to old; QtyToQty Qty1/Qty2), FrctnDspstn, and the business
application header's creation date for ordering versions.
A file holds one Document, or several under any root.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from decimal import Decimal

from corpactions.errors import InvalidRecord
from corpactions.feeds.events import ISO_EVENTS, kind_of_iso
from corpactions.feeds.isoxml import date_of as _date
from corpactions.feeds.isoxml import read_documents
from corpactions.feeds.isoxml import text as _text
from corpactions.feeds.isoxml import ticker as _ticker
from corpactions.feeds.normalized import (
    FUNCTIONS,
    NormalizedAction,
    Rejected,
    parse_date,
    parse_decimal,
    parse_sequence,
    parse_symbol,
)
from corpactions.models import ActionKind

SOURCE = "seev031"
EVENT_KINDS = ISO_EVENTS  # every CAEV code; unknown ones are ActionKind.other
_HUNDRED = Decimal(100)
CANCELLATION_REASONS = {"WITH": "WITH", "PROC": "CANC"}  # seev.039 CxlRsnCd -> version function


def _processing_status(general: ET.Element | None) -> str | None:
    code = _text(general, "{*}PrcgSts/{*}Cd")
    if code:  # a plain status code
        return code
    # seev.031 wraps the two statuses in a Cd choice; seev.039 has them directly.
    complete = _text(general, "{*}PrcgSts/{*}Cd/{*}EvtCmpltnsSts") or _text(
        general, "{*}PrcgSts/{*}EvtCmpltnsSts"
    )
    confirmed = _text(general, "{*}PrcgSts/{*}Cd/{*}EvtConfSts") or _text(
        general, "{*}PrcgSts/{*}EvtConfSts"
    )
    if confirmed == "CONF":
        return "COMP" if complete == "COMP" else "PREC"
    return "PREU" if (complete or confirmed) else None


def _quantities(node: ET.Element, label: str) -> tuple[Decimal | None, Decimal | None]:
    first = _text(node, ".//{*}Qty1")
    second = _text(node, ".//{*}Qty2")
    if first is None and node.text and "/" in node.text:
        first, second = (part.strip() for part in node.text.split("/", 1))
    return parse_decimal(first, f"{label} quantity 1"), parse_decimal(second, f"{label} quantity 2")


def _ratio(option: ET.Element | None) -> tuple[Decimal | None, Decimal | None]:
    """(new, old) shares held after and before: NewToOd as given; AddtlQtyForExstgScties
    (additional shares for existing ones, the usual form of a stock dividend: 1 for 20 means
    21 held for 20) as (additional + existing, existing)."""
    if option is None:
        return None, None
    node = option.find(".//{*}NewToOd")
    if node is not None:
        return _quantities(node, "NewToOd")
    node = option.find(".//{*}AddtlQtyForExstgScties")
    if node is None:
        return None, None
    additional, existing = _quantities(node, "AddtlQtyForExstgScties")
    if additional is None or existing is None:
        return None, None
    return additional + existing, existing


@dataclass(frozen=True)
class _Event:
    reference: str
    code: str | None
    kind: ActionKind
    ticker: str | None
    isin: str | None


def _event(info: ET.Element | None, security: str) -> _Event:
    """The event as CorpActnGnlInf states it (``security``: where its FinInstrmId sits)."""
    reference = _text(info, "{*}CorpActnEvtId")
    if not reference:
        raise InvalidRecord("CorpActnEvtId (the event reference) is missing")
    code = _text(info, "{*}EvtTp/{*}Cd") or _text(info, "{*}EvtTp/{*}Prtry/{*}Id")
    if not code:
        raise InvalidRecord("EvtTp (the event type) is missing")
    kind = kind_of_iso(code)
    ticker, isin = _ticker(info.find(security) if info is not None else None)
    return _Event(reference, code, kind, ticker, isin)


def cancellation(advice: ET.Element, raw: str, created: str | None) -> NormalizedAction:
    """A seev.039 CorporateActionCancellationAdvice: the event withdrawn by the issuer (WITH)
    or cancelled as a processing error (PROC); a version of the same action that ends it."""
    general = advice.find("{*}CxlAdvcGnlInf")
    reason = _text(general, "{*}CxlRsnCd")
    function = CANCELLATION_REASONS.get(reason or "")
    if function is None:
        raise InvalidRecord(f"cancellation reason {reason!r} is not WITH or PROC")
    event = _event(advice.find("{*}CorpActnGnlInf"), "{*}FinInstrmId")
    return NormalizedAction(
        source=SOURCE,
        source_ref=event.reference,
        symbol=parse_symbol(event.ticker),
        kind=event.kind,
        raw=raw,
        function=function,
        processing_status=_processing_status(general),
        sequence=parse_sequence(created, "CreDt"),
        details={
            "isin": event.isin,
            "event_type": event.code,
            "cancellation_reason": reason,
            "cancellation_text": _text(general, "{*}CxlRsn"),
        },
    )


def notification(document: ET.Element, raw: str, created: str | None) -> NormalizedAction:
    advice = document.find(".//{*}CorpActnCxlAdvc")
    if advice is not None:
        return cancellation(advice, raw, created)
    message = document.find(".//{*}CorpActnNtfctn")
    if message is None:
        raise InvalidRecord("not a CorporateActionNotification (no CorpActnNtfctn element)")
    general = message.find("{*}NtfctnGnlInf")
    function = _text(general, "{*}NtfctnTp") or _text(general, "{*}NtfctnTp/{*}Cd") or "NEWM"
    if function not in FUNCTIONS:
        raise InvalidRecord(f"notification type {function!r} is not one of {', '.join(FUNCTIONS)}")
    info = message.find("{*}CorpActnGnlInf")
    event = _event(info, "{*}UndrlygScty")
    details_node = message.find("{*}CorpActnDtls")
    dates = details_node.find("{*}DtDtls") if details_node is not None else None
    option = message.find("{*}CorpActnOptnDtls")  # the first option: the default one
    gross = option.find(".//{*}GrssDvddRate/{*}Amt") if option is not None else None
    net = option.find(".//{*}NetDvddRate/{*}Amt") if option is not None else None
    withholding = _text(option, ".//{*}WhldgTaxRate/{*}Rate") or _text(option, ".//{*}WhldgTaxRate")
    withholding_pct = parse_decimal(withholding, "WhldgTaxRate")
    ratio_new, ratio_old = _ratio(option)
    pay = _date(dates, "PmtDt")
    if pay is None and option is not None:  # the movement's own payment date
        pay = _date(option.find(".//{*}CshMvmntDtls/{*}DtDtls"), "PmtDt") or _date(
            option.find(".//{*}SctiesMvmntDtls/{*}DtDtls"), "PmtDt"
        )
    currency = (gross.get("Ccy") if gross is not None else None) or (
        net.get("Ccy") if net is not None else None
    )
    kind = event.kind
    new_symbol = None
    if kind == ActionKind.ticker_change:  # the new ticker is the security credited
        credited = option.find(".//{*}SctiesMvmntDtls/{*}SctyDtls") if option is not None else None
        new_symbol = _ticker(credited)[0]
        if new_symbol is None:
            kind = ActionKind.name_change
    return NormalizedAction(
        source=SOURCE,
        source_ref=event.reference,
        symbol=parse_symbol(event.ticker),
        kind=kind,
        raw=raw,
        function=function,
        processing_status=_processing_status(general),
        ex_date=parse_date(_date(dates, "ExDvddDt"), "ExDvddDt"),
        record_date=parse_date(_date(dates, "RcrdDt"), "RcrdDt"),
        pay_date=parse_date(pay, "PmtDt"),
        effective_date=parse_date(_date(dates, "FctvDt"), "FctvDt"),
        currency=currency,
        gross_rate=parse_decimal(gross.text if gross is not None else None, "GrssDvddRate"),
        net_rate=parse_decimal(net.text if net is not None else None, "NetDvddRate"),
        withholding_rate=withholding_pct / _HUNDRED if withholding_pct is not None else None,
        ratio_new=ratio_new,
        ratio_old=ratio_old,
        fraction_disposition=_text(option, ".//{*}FrctnDspstn/{*}Cd")
        or _text(option, ".//{*}FrctnDspstn"),
        sequence=parse_sequence(created, "CreDt"),
        details={
            "isin": event.isin,
            "official_reference": _text(info, "{*}OffclCorpActnEvtId"),
            "event_type": event.code,
            "meeting_date": _date(dates, "MtgDt"),
            **({"new_symbol": parse_symbol(new_symbol)} if new_symbol else {}),
        },
    )


def parse_notifications(payload: bytes) -> list[NormalizedAction | Rejected]:
    return read_documents(
        payload,
        source=SOURCE,
        what="seev.031",
        parse=notification,
        reference=lambda document: _text(document, ".//{*}CorpActnEvtId"),
    )

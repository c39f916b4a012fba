"""Every event type the sources name, mapped to an ``ActionKind``, and what a person has to do
about the ones corpactions does not carry out.

Carried out: cash and stock dividends, forward and reverse splits, meetings, and ticker changes
(the instrument keeps its mint and records the new symbol from the effective date). Every other
event becomes an action in the ``needs_operator`` status whose reason says what it is and what
to do; an event type no table here knows is kept as ``other`` with the source's code. None is
quarantined for its type, and none is dropped.
"""

from __future__ import annotations

from typing import Any

from corpactions.models import ActionKind, ActionStatus

CARRIED_OUT = frozenset(
    {
        ActionKind.cash_dividend,
        ActionKind.stock_dividend,
        ActionKind.forward_split,
        ActionKind.reverse_split,
        ActionKind.meeting,
        ActionKind.ticker_change,
    }
)

ISO_EVENTS: dict[str, ActionKind] = {
    # ISO 15022/20022 CAEV codes
    "DVCA": ActionKind.cash_dividend,
    "DVSE": ActionKind.stock_dividend,
    "BONU": ActionKind.stock_dividend,
    "SPLF": ActionKind.forward_split,
    "SPLR": ActionKind.reverse_split,
    "MEET": ActionKind.meeting,
    "XMET": ActionKind.meeting,
    "OMET": ActionKind.meeting,
    "CHAN": ActionKind.ticker_change,  # a name change when no new ticker is given
    "MRGR": ActionKind.merger,
    "EXOF": ActionKind.merger,
    "SOFF": ActionKind.spin_off,
    "RHTS": ActionKind.rights,
    "RHDI": ActionKind.rights,
    "EXRI": ActionKind.rights,
    "PRIO": ActionKind.rights,
    "DLST": ActionKind.delisting,
    "CAPD": ActionKind.return_of_capital,
    "CAPG": ActionKind.return_of_capital,
    "LIQU": ActionKind.liquidation,
    "TEND": ActionKind.tender_offer,
    "BIDS": ActionKind.tender_offer,
    "DTCH": ActionKind.tender_offer,
    "REDM": ActionKind.redemption,
    "MCAL": ActionKind.redemption,
    "PCAL": ActionKind.redemption,
    "BPUT": ActionKind.redemption,
}

ALPACA_TYPES: dict[str, ActionKind] = {
    # /v2/corporate_actions/announcements ca_type (dividend and split are read in alpaca.py)
    "merger": ActionKind.merger,
    "spinoff": ActionKind.spin_off,
    "name_change": ActionKind.name_change,
    "symbol_change": ActionKind.ticker_change,
    "rights_distribution": ActionKind.rights,
    "redemption": ActionKind.redemption,
    "liquidation": ActionKind.liquidation,
    "worthless_removal": ActionKind.delisting,
    "delisting": ActionKind.delisting,
    "tender_offer": ActionKind.tender_offer,
}

_GUIDANCE: dict[ActionKind, tuple[str, str]] = {
    ActionKind.merger: (
        "a merger or exchange offer: the shares are exchanged for the acquirer's cash and/or "
        "shares",
        "agree the exchange with the issuer and the custodian (redeem the tokens for the cash, "
        "or register the acquirer's token and convert), then pause or retire this mint",
    ),
    ActionKind.spin_off: (
        "a spin-off: holders receive shares of a new company",
        "have the custodian hold the new shares, register a token for them "
        "('corpactions instruments add') and distribute it to the record-date holders",
    ),
    ActionKind.rights: (
        "a rights issue: holders may buy new shares at a set price",
        "decide with the issuer whether token holders can exercise; if not, have the custodian "
        "sell the rights and pay the proceeds as a cash distribution",
    ),
    ActionKind.name_change: (
        "the issuer's name changed (the ticker and the mint stay)",
        "update the token's metadata name if it carries the company name",
    ),
    ActionKind.delisting: (
        "the underlying is delisted from its exchange",
        "stop issuing, agree with the custodian how holders are redeemed, and tell holders",
    ),
    ActionKind.return_of_capital: (
        "a return of capital: cash that is not a dividend (taxed differently)",
        "confirm the tax treatment, then pay it as a cash distribution with the right tax "
        "class, or have it handled off-chain",
    ),
    ActionKind.liquidation: (
        "a liquidation: the company pays out what is left and ceases",
        "collect each liquidation payment from the custodian, pay holders, then retire the mint",
    ),
    ActionKind.tender_offer: (
        "a tender or buy-back offer that holders may accept",
        "decide with the issuer whether token holders can tender; voluntary events are not "
        "carried out automatically",
    ),
    ActionKind.redemption: (
        "a redemption or call of the security",
        "redeem the tokens against the custodian's proceeds, then retire the mint",
    ),
    ActionKind.other: (
        "an event type corpactions does not know",
        "read the raw payload ('corpactions actions show ID --json'), decide with the custodian "
        "what holders are owed, and handle it by hand",
    ),
}


def kind_of_iso(code: str | None) -> ActionKind:
    return ISO_EVENTS.get((code or "").strip().upper(), ActionKind.other)


def status_for_kind(kind: ActionKind) -> ActionStatus | None:
    """The status an action of ``kind`` takes at ingest, or None when it follows the normal
    lifecycle (announced/confirmed, then snapshot and plans)."""
    if kind == ActionKind.ticker_change:
        return ActionStatus.applied
    if kind not in CARRIED_OUT:
        return ActionStatus.needs_operator
    return None


def operator_reason(kind: ActionKind, details: dict[str, Any]) -> str:
    """What the event is and what to do, for ``status``, the API and the logs."""
    if kind == ActionKind.ticker_change:
        return (
            f"ticker change to {details.get('new_symbol')} from {details.get('effective')}: "
            "recorded on the instrument, which keeps its mint"
        )
    what, todo = _GUIDANCE.get(kind, _GUIDANCE[ActionKind.other])
    code = details.get("event_type") or details.get("ca_type")
    source_type = f" (source type {code})" if code else ""
    return f"needs an operator: {what}{source_type}; corpactions does not carry it out: {todo}"

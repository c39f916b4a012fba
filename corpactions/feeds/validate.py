"""Business validation of normalized records; every failure becomes a quarantine reason."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal

from corpactions.errors import InvalidRecord, MeetingError
from corpactions.feeds.entitlement import calendar_problems
from corpactions.feeds.events import CARRIED_OUT
from corpactions.feeds.normalized import TERMINAL_FUNCTIONS, NormalizedAction, shown
from corpactions.meetings.agenda import parse_agenda
from corpactions.models import ActionKind

PROCESSING_STATUSES = {"PREU", "PREC", "COMP"}
FRACTION_DISPOSITIONS = {"CINL", "RDDN", "RDUP", "STAN", "DIST", "BUYU", "UKWN"}
_SPLITS = {ActionKind.forward_split, ActionKind.reverse_split, ActionKind.stock_dividend}


@dataclass(frozen=True)
class Rules:
    known_symbols: Collection[str]
    currencies: Collection[str] = ("USD",)


def validate(action: NormalizedAction, rules: Rules) -> None:
    """Raise ``InvalidRecord`` with every reason (joined by '; '), or return."""
    reasons = problems(action, rules)
    if reasons:
        raise InvalidRecord("; ".join(reasons))


def problems(action: NormalizedAction, rules: Rules) -> list[str]:
    """Every reason a person can act on why ``action`` cannot be taken, or []."""
    reasons: list[str] = []
    try:
        _check(action, rules, reasons)
    except InvalidRecord as exc:  # a check that cannot go on without the field it refused
        reasons.append(exc.message)
    return reasons


def _check(action: NormalizedAction, rules: Rules, reasons: list[str]) -> None:
    def bad(reason: str) -> None:
        reasons.append(reason)

    if len(action.source_ref) > 128:
        bad(f"the reference is {len(action.source_ref)} characters long (at most 128)")
    if action.currency is not None and not (
        isinstance(action.currency, str)
        and len(action.currency) == 3
        and action.currency.isascii()
        and action.currency.isalpha()
    ):
        bad(f"currency {shown(action.currency)} is not an ISO 4217 code")
    if action.fraction_disposition is not None and len(action.fraction_disposition) > 8:
        bad(f"fraction disposition {shown(action.fraction_disposition)} is not a known code")
    if action.symbol not in rules.known_symbols:
        bad(
            f"unknown ticker {action.symbol}: no registered instrument "
            "(register it with 'corpactions instruments add', then ingest again)"
        )
    if action.processing_status is not None and action.processing_status not in PROCESSING_STATUSES:
        bad(f"processing status {action.processing_status!r} is not PREU, PREC or COMP")
    if action.function in TERMINAL_FUNCTIONS:
        return  # a cancellation or withdrawal needs only to name the action
    if action.kind == ActionKind.ticker_change:
        new_symbol = action.details.get("new_symbol")
        if not new_symbol:
            bad("a ticker change needs the new symbol")
        elif new_symbol != action.symbol and new_symbol in rules.known_symbols:
            bad(f"new symbol {new_symbol} is already another registered instrument's")
        if (action.effective_date or action.ex_date) is None:
            bad("a ticker change needs its effective date")
        return
    if action.kind not in CARRIED_OUT:
        return  # recognised, kept for an operator: its terms are not acted on
    for name in ("gross_rate", "net_rate", "ratio_new", "ratio_old"):
        value = getattr(action, name)
        if value is not None and value <= 0:
            bad(f"{name} must be positive, not {value}")
    if action.withholding_rate is not None and not Decimal(0) <= action.withholding_rate <= 1:
        bad(f"withholding_rate must be a fraction from 0 to 1, not {action.withholding_rate}")
    if action.kind == ActionKind.cash_dividend:
        if action.record_date is None:
            bad("record date is missing (positions are struck on it)")
        if action.gross_rate is None and action.net_rate is None:
            bad("a cash dividend needs a gross or net rate per share")
        if action.currency is None:
            bad("currency is missing")
        elif len(action.currency) == 3 and action.currency not in rules.currencies:
            bad(
                f"currency {action.currency} is not supported "
                f"(only {', '.join(sorted(rules.currencies))})"
            )
        if (
            action.gross_rate is not None
            and action.net_rate is not None
            and action.net_rate > action.gross_rate
        ):
            bad(f"net rate {action.net_rate} exceeds gross rate {action.gross_rate}")
    if action.kind in _SPLITS:
        if action.ratio_new is None or action.ratio_old is None:
            bad("a split needs ratio_new and ratio_old")
        elif action.kind == ActionKind.forward_split and action.ratio_new <= action.ratio_old:
            bad(
                "a forward split needs more new shares than old, "
                f"not {action.ratio_new}:{action.ratio_old}"
            )
        elif action.kind == ActionKind.stock_dividend and action.ratio_new <= action.ratio_old:
            bad(
                "a stock dividend needs more shares held after than before "
                f"(new to old, e.g. 105:100 for 5 %), not {action.ratio_new}:{action.ratio_old}"
            )
        elif action.kind == ActionKind.reverse_split and action.ratio_new >= action.ratio_old:
            bad(
                "a reverse split needs fewer new shares than old, "
                f"not {action.ratio_new}:{action.ratio_old}"
            )
        if (action.effective_date or action.ex_date or action.record_date) is None:
            bad("a split needs an effective (execution) date")
    if (
        action.kind == ActionKind.meeting
        and action.record_date is None
        and not action.details.get("meeting_date")
    ):
        bad("a meeting needs a record date or a meeting date")
    if action.kind == ActionKind.meeting and action.details.get("agenda") is not None:
        try:
            parse_agenda(action.details)
        except MeetingError as exc:
            bad(f"meeting agenda: {exc.message}")
    if (
        action.fraction_disposition is not None
        and action.fraction_disposition not in FRACTION_DISPOSITIONS
    ):
        bad(f"fraction disposition {action.fraction_disposition!r} is not a known code")
    reasons.extend(calendar_problems(action))  # FINRA 11140 by the size of the distribution

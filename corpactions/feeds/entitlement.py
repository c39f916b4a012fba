"""Who is entitled to a corporate action, and when its dates are a real US calendar
(FINRA Rule 11140, T+1 settlement since 2024-05-28; NYSE business days from
``corpactions.feeds.calendar``).

- ``regular``: cash dividends and stock distributions under 25 %. Ex = record (T+1; before
  2024-05-28 the ex-date came before the record date), record <= pay. Entitled: holders at the
  end of the record date (11140(b)(1)).
- ``deferred``: distributions of 25 % or more (forward splits of 5:4 and up, large stock
  dividends, cash of 25 % or more of the price when a price is given). Record <= pay < ex, and
  ex = the first NYSE business day after pay (11140(b)(2)). Entitled: holders at the end of the
  payable date, since a seller between record date and ex-date owes the distribution to the
  buyer by a due bill.
- ``reverse_split``: the effective (ex) date is a business day and the split takes effect at its
  market open. Entitled: holders at the end of the business day before.
- ``meeting``: holders at the end of the record date.
- ``none``: a ticker change or an event kept for an operator: no holders are snapshotted here.

The size of a distribution is what it adds to a holding: (new - old) / old for a split or stock
dividend, cash / price for a cash dividend. A split under 25 % (6:5) is a small stock
distribution in FINRA's terms and follows the regular rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Protocol

from corpactions.feeds.calendar import is_business_day, next_business_day, previous_business_day
from corpactions.models import ActionKind

LARGE = Decimal("0.25")
_ENTITLED = frozenset(
    {
        ActionKind.cash_dividend,
        ActionKind.stock_dividend,
        ActionKind.forward_split,
        ActionKind.reverse_split,
        ActionKind.meeting,
    }
)
T_PLUS_ONE = date(2024, 5, 28)
"""The first US trading day settled T+1: from then on a regular ex-date is the record date."""


class Rule(StrEnum):
    regular = "regular"
    deferred = "deferred"
    reverse_split = "reverse_split"
    meeting = "meeting"
    none = "none"


class Terms(Protocol):
    """What the rules read of an action's terms (a ``NormalizedAction`` or a stored version)."""

    @property
    def kind(self) -> ActionKind: ...
    @property
    def ex_date(self) -> date | None: ...
    @property
    def record_date(self) -> date | None: ...
    @property
    def pay_date(self) -> date | None: ...
    @property
    def effective_date(self) -> date | None: ...
    @property
    def gross_rate(self) -> Decimal | None: ...
    @property
    def ratio_new(self) -> Decimal | None: ...
    @property
    def ratio_old(self) -> Decimal | None: ...
    @property
    def details(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Entitlement:
    rule: Rule
    why: str
    """Which rule applied and why, in words."""
    cutoff: date | None
    """Holders at the end of this day (in the record-date zone) are entitled."""
    basis: str
    """What the cutoff is: 'end of the record date', 'end of the payable date (due bill)', ..."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule.value,
            "why": self.why,
            "cutoff": self.cutoff,
            "basis": self.basis,
        }


def _price(terms: Terms) -> Decimal | None:
    value = terms.details.get("price") if isinstance(terms.details, dict) else None
    try:
        price = Decimal(str(value)) if value not in (None, "") else None
    except InvalidOperation:
        return None
    return price if price is not None and price.is_finite() and price > 0 else None


def _due_bill(terms: Terms) -> str:
    """The source's due-bill dates, as words ('' when it gives none)."""
    details = terms.details if isinstance(terms.details, dict) else {}
    named = [
        f"{name.replace('_', ' ')} {details[name]}"
        for name in ("due_bill_on_date", "due_bill_off_date", "due_bill_redemption_date")
        if details.get(name)
    ]
    return ", ".join(named)


def distribution_size(terms: Terms) -> Decimal | None:
    """What the action adds to a holding, as a fraction; None when it cannot be told."""
    if terms.kind in (ActionKind.forward_split, ActionKind.stock_dividend):
        if terms.ratio_new is None or not terms.ratio_old:
            return None
        return (terms.ratio_new - terms.ratio_old) / terms.ratio_old
    if terms.kind == ActionKind.cash_dividend:
        price = _price(terms)
        if price is None or terms.gross_rate is None:
            return None
        return terms.gross_rate / price
    return None


def _percent(size: Decimal) -> str:
    return f"{(size * 100).quantize(Decimal('0.01')).normalize():f} %"


def entitlement(terms: Terms) -> Entitlement:
    """The rule that applies to ``terms``, why, and the day whose closing holders are entitled."""
    record = terms.record_date or terms.effective_date
    if terms.kind not in _ENTITLED:
        what = str(terms.kind).replace("_", " ")
        return Entitlement(
            Rule.none,
            f"a {what}: corpactions takes no holder snapshot for it"
            + (
                " (the instrument's symbol changes)"
                if terms.kind == ActionKind.ticker_change
                else " (an operator handles it)"
            ),
            None,
            "no entitlement computed",
        )
    if terms.kind == ActionKind.meeting:
        return Entitlement(
            Rule.meeting,
            "a meeting: holders on its record date vote",
            record,
            "end of the record date",
        )
    if terms.kind == ActionKind.reverse_split:
        effective = terms.effective_date or terms.ex_date
        before = previous_business_day(effective) if effective else None
        return Entitlement(
            Rule.reverse_split,
            "a reverse split takes effect at the market open of its effective (ex) date",
            before or record,
            "end of the business day before the effective date"
            if before
            else "end of the record date (no effective date given)",
        )
    size = distribution_size(terms)
    what = str(terms.kind).replace("_", " ")
    due_bill = _due_bill(terms)
    if due_bill and (size is None or size >= LARGE):
        return Entitlement(
            Rule.deferred,
            f"a {what} the source gives due-bill dates for ({due_bill}): its ex-date is deferred "
            "past the payable date (FINRA Rule 11140(b)(2)); a seller between the record date and "
            "the ex-date owes it to the buyer by the due bill",
            terms.pay_date or record,
            "end of the payable date (due bill)"
            if terms.pay_date
            else "end of the record date (no payable date given)",
        )
    if size is not None and size >= LARGE:
        why = (
            f"a {what} of {_percent(size)} (25 % or more): FINRA Rule 11140(b)(2) defers the "
            "ex-date to the first business day after the payable date; a seller between the "
            "record date and the ex-date owes it to the buyer by a due bill"
        )
        if terms.pay_date is not None:
            return Entitlement(
                Rule.deferred, why, terms.pay_date, "end of the payable date (due bill)"
            )
        return Entitlement(
            Rule.deferred, why, record, "end of the record date (no payable date given)"
        )
    why = (
        f"a {what} of {_percent(size)} (under 25 %)"
        if size is not None
        else f"a {what}"
        + (" (no price given to size it)" if terms.kind == ActionKind.cash_dividend else "")
    ) + ": FINRA Rule 11140(b)(1), the ex-date is the record date under T+1 settlement"
    return Entitlement(Rule.regular, why, record, "end of the record date")


def calendar_problems(terms: Terms) -> list[str]:
    """Every way the dates of ``terms`` break the rule that applies, each naming the rule."""
    rule = entitlement(terms)
    ex, record, pay = terms.ex_date, terms.record_date, terms.pay_date
    problems: list[str] = []
    if rule.rule == Rule.regular:
        name = "FINRA Rule 11140(b)(1) (a distribution under 25 %)"
        if record and pay and record > pay:
            problems.append(f"record date {record} is after pay date {pay}")
        if ex and record and record >= T_PLUS_ONE and ex != record:
            problems.append(
                f"{name}: under T+1 the ex date is the record date {record}, not {ex}"
                + (
                    " (a deferred ex date needs a distribution of 25 % or more)"
                    if pay and ex > pay
                    else ""
                )
            )
        elif ex and record and record < T_PLUS_ONE and ex > record:
            problems.append(f"{name}: ex date {ex} is after the record date {record}")
        elif ex and pay and ex > pay and not record:
            problems.append(f"{name}: ex date {ex} is after pay date {pay}")
    elif rule.rule == Rule.deferred:
        name = "FINRA Rule 11140(b)(2) (a distribution of 25 % or more)"
        if record and pay and record > pay:
            problems.append(f"{name}: record date {record} is after pay date {pay}")
        ex = ex or terms.effective_date
        if ex and pay:
            expected = next_business_day(pay)
            if expected is not None and ex != expected:
                problems.append(
                    f"{name}: the ex date is the first business day after the payable date "
                    f"{pay}, {expected}, not {ex}"
                )
    elif rule.rule == Rule.reverse_split:
        effective = terms.effective_date or ex
        if effective and is_business_day(effective) is False:
            problems.append(
                f"a reverse split takes effect at the market open of its effective date; "
                f"{effective} is not an NYSE business day"
            )
        if record and pay and record > pay:
            problems.append(f"record date {record} is after pay date {pay}")
    return problems

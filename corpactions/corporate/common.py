"""What the share-count adjustments share: loading an action with its instrument and current
version, and the one refusal both mechanisms give."""

from __future__ import annotations

from sqlmodel import Session

from corpactions.actions import current_version
from corpactions.errors import NotFound, PlanError
from corpactions.models import (
    TERMINAL_ACTION_STATUSES,
    CorporateAction,
    CorporateActionVersion,
    Instrument,
)


def action_in_force(
    session: Session, action_id: int
) -> tuple[CorporateAction, Instrument, CorporateActionVersion]:
    action = session.get(CorporateAction, action_id)
    if action is None:
        raise NotFound(f"no corporate action {action_id}")
    if action.status in TERMINAL_ACTION_STATUSES:
        # Its plans are settled (or it will never be paid): a new plan could be neither paid
        # nor decided, so none is made.
        raise PlanError(
            f"action {action_id} is {action.status}; nothing can be planned for it again",
            hint=f"its plans and outcome: corpactions actions show {action_id}",
        )
    instrument = session.get(Instrument, action.instrument_id)
    assert instrument is not None
    version = current_version(session, action)
    assert version is not None
    return action, instrument, version


def reverse_split_refused(symbol: str) -> PlanError:
    return PlanError(
        f"a reverse split cannot be done on {symbol}'s classic SPL mint: "
        "holders' tokens cannot be burned without their signature",
        hint="only Token-2022 instruments with ScaledUiAmount take reverse splits (by multiplier)",
    )

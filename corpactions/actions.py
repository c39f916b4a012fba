"""Reads of corporate actions that several parts of the project share."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import date

from sqlmodel import Session, col, select
from sqlmodel.sql.expression import Select

from corpactions.feeds.entitlement import Entitlement, entitlement
from corpactions.models import CorporateAction, CorporateActionVersion, Instrument


def current_version(session: Session, action: CorporateAction) -> CorporateActionVersion | None:
    """The version of ``action`` in force (ingest writes it with the action; None only if the
    ledger was altered by hand)."""
    return session.exec(
        select(CorporateActionVersion).where(
            CorporateActionVersion.action_id == action.id,
            CorporateActionVersion.version == action.current_version,
        )
    ).first()


def with_version_in_force() -> Select[CorporateAction, str, CorporateActionVersion]:
    """Every action with its instrument's symbol and its version in force (filter and order
    as needed)."""
    return (
        select(CorporateAction, Instrument.symbol, CorporateActionVersion)
        .join(Instrument, col(Instrument.id) == col(CorporateAction.instrument_id))
        .join(
            CorporateActionVersion,
            (col(CorporateActionVersion.action_id) == col(CorporateAction.id))
            & (col(CorporateActionVersion.version) == col(CorporateAction.current_version)),
        )
    )


def record_reason(
    session_factory: Callable[[], AbstractContextManager[Session]], action_id: int, reason: str
) -> None:
    """Keep on the action why the scheduler could not carry it on (shown by ``status`` and the
    API), in a session of its own so it survives the failed step's rollback."""
    with session_factory() as session:
        action = session.get(CorporateAction, action_id)
        if action is not None:
            action.status_reason = reason
            session.add(action)


def entitlement_of(version: CorporateActionVersion) -> Entitlement:
    """The FINRA 11140 rule the version's terms follow, why, and the day whose closing holders
    are entitled (the snapshot's cutoff): the record date, or for a deferred ex-date the
    payable date (the due bill), or for a reverse split the business day before it takes
    effect."""
    return entitlement(version)


def entitlement_date(version: CorporateActionVersion) -> date | None:
    """The day whose closing holders are entitled to ``version`` (see ``entitlement_of``)."""
    return entitlement(version).cutoff

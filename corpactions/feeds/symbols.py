"""Ticker changes, carried out: the instrument keeps its mint and trades under the new symbol
from the effective date.

``record_ticker_changes`` writes the new symbol (and the old one, once) into ``InstrumentSymbol``
when a ticker change is ingested; ``apply_ticker_changes`` renames the instrument once the
effective date has come (the ingest calls it, and so does the feed task's inbox scan, so a
change announced ahead takes effect on its day). Feed records under any of an instrument's
tickers are its records.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from sqlmodel import Session, col, select

from corpactions.logs import get_logger
from corpactions.models import (
    ActionKind,
    ActionStatus,
    CorporateAction,
    CorporateActionVersion,
    Instrument,
    InstrumentSymbol,
)

log = get_logger(__name__)


def symbols_to_instruments(session: Session) -> dict[str, int]:
    """Every ticker an instrument trades or traded under, to its id (the current symbol wins)."""
    known: dict[str, int] = {}
    for row in session.exec(select(InstrumentSymbol)):
        known[row.symbol] = row.instrument_id
    for instrument in session.exec(select(Instrument)):
        if instrument.id is not None:
            known[instrument.symbol] = instrument.id
    return known


def record_ticker_changes(session: Session, action_ids: Iterable[int], today: date) -> None:
    ids = list(action_ids)
    if not ids:
        return
    changes = session.exec(
        select(CorporateAction, CorporateActionVersion)
        .join(
            CorporateActionVersion,
            (col(CorporateActionVersion.action_id) == col(CorporateAction.id))
            & (col(CorporateActionVersion.version) == col(CorporateAction.current_version)),
        )
        .where(
            col(CorporateAction.id).in_(ids),
            CorporateAction.kind == ActionKind.ticker_change,
            CorporateAction.status == ActionStatus.applied,
        )
    ).all()
    for action, version in changes:
        new_symbol = version.details.get("new_symbol")
        effective = version.effective_date or version.ex_date
        instrument = session.get(Instrument, action.instrument_id)
        if instrument is None or instrument.id is None or not new_symbol or effective is None:
            continue
        held = {
            row.symbol: row
            for row in session.exec(
                select(InstrumentSymbol).where(InstrumentSymbol.instrument_id == instrument.id)
            )
        }
        if instrument.symbol not in held and instrument.symbol != new_symbol:
            session.add(InstrumentSymbol(instrument_id=instrument.id, symbol=instrument.symbol))
        row = held.get(new_symbol) or InstrumentSymbol(
            instrument_id=instrument.id, symbol=new_symbol
        )
        row.valid_from, row.action_id = effective, action.id
        session.add(row)
    session.flush()
    apply_ticker_changes(session, today)


def apply_ticker_changes(session: Session, today: date) -> list[tuple[int, str, str]]:
    """Rename each instrument whose latest recorded ticker change has taken effect by ``today``;
    returns (instrument id, old symbol, new symbol) for each rename."""
    latest: dict[int, InstrumentSymbol] = {}
    for row in session.exec(
        select(InstrumentSymbol)
        .join(CorporateAction, col(CorporateAction.id) == col(InstrumentSymbol.action_id))
        .where(
            col(InstrumentSymbol.valid_from) <= today,
            CorporateAction.status == ActionStatus.applied,  # a cancelled change never applies
        )
        .order_by(col(InstrumentSymbol.valid_from), col(InstrumentSymbol.id))
    ):
        latest[row.instrument_id] = row
    renamed = []
    for instrument_id, row in latest.items():
        instrument = session.get(Instrument, instrument_id)
        if instrument is None or instrument.symbol == row.symbol:
            continue
        taken = session.exec(select(Instrument).where(Instrument.symbol == row.symbol)).first()
        if taken is not None:
            log.warning(
                "ticker change not applied: the symbol is another instrument's",
                instrument=instrument_id,
                symbol=row.symbol,
            )
            continue
        renamed.append((instrument_id, instrument.symbol, row.symbol))
        log.info(
            "ticker change applied", instrument=instrument_id, old=instrument.symbol, new=row.symbol
        )
        instrument.symbol = row.symbol
        session.add(instrument)
    session.flush()
    return renamed

"""Reads of corporate actions that several parts of the project share."""

from __future__ import annotations

from sqlmodel import Session, select

from corpactions.models import CorporateAction, CorporateActionVersion


def current_version(session: Session, action: CorporateAction) -> CorporateActionVersion | None:
    """The version of ``action`` in force (ingest writes it with the action; None only if the
    ledger was altered by hand)."""
    return session.exec(
        select(CorporateActionVersion).where(
            CorporateActionVersion.action_id == action.id,
            CorporateActionVersion.version == action.current_version,
        )
    ).first()

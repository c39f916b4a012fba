"""Reading the wallet registry: a wallet's state now or at a moment, its history, and the state
a payout plan used (rows and their digest).

Each ``WalletRecord`` row is a wallet's whole state after one change. The state at a moment is,
per wallet, the row with the highest ``seq`` among those recorded at or before it; a wallet
without one has the default state (default tax class, not blocked, not excluded).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

import polars as pl
import sqlalchemy as sa
from sqlmodel import Session, col, select

from corpactions.models import WalletRecord


@dataclass(frozen=True)
class WalletState:
    tax_class: str | None = None
    tax_form: str | None = None
    blocked: bool = False
    blocked_reason: str | None = None
    excluded: bool = False
    excluded_reason: str | None = None

    @classmethod
    def of(cls, row: WalletRecord | None) -> WalletState:
        if row is None:
            return cls()
        return cls(
            tax_class=row.tax_class,
            tax_form=row.tax_form,
            blocked=row.blocked,
            blocked_reason=row.blocked_reason,
            excluded=row.excluded,
            excluded_reason=row.excluded_reason,
        )


@dataclass(frozen=True)
class RegistryState:
    """The registry as it stood at ``as_of``: the rows in force and a digest of them."""

    as_of: datetime
    rows: list[WalletRecord]
    sha256: str

    def as_input(self) -> dict[str, object]:
        """What a plan records in its inputs (and so commits to in its root)."""
        return {"as_of": self.as_of.isoformat(), "rows": len(self.rows), "sha256": self.sha256}

    def flags(self) -> pl.DataFrame:
        """Per wallet with a row: owner, blocked, blocked_reason, wallet_class, excluded."""
        return pl.DataFrame(
            [(r.address, r.blocked, r.blocked_reason, r.tax_class, r.excluded) for r in self.rows],
            schema={
                "owner": pl.String,
                "blocked": pl.Boolean,
                "blocked_reason": pl.String,
                "wallet_class": pl.String,
                "excluded": pl.Boolean,
            },
            orient="row",
        )

    def excluded(self) -> set[str]:
        return {r.address for r in self.rows if r.excluded}


def _latest(moment: datetime | None) -> sa.Subquery:
    recorded = [] if moment is None else [col(WalletRecord.recorded_at) <= moment]
    return (
        sa.select(
            col(WalletRecord.address).label("address"),
            sa.func.max(WalletRecord.seq).label("seq"),
        )
        .where(*recorded)
        .group_by(col(WalletRecord.address))
        .subquery()
    )


def rows_in_force(session: Session, moment: datetime | None = None) -> list[WalletRecord]:
    """Each wallet's latest row recorded at or before ``moment`` (now when None), by address."""
    latest = _latest(moment)
    return list(
        session.exec(
            select(WalletRecord)
            .join(
                latest,
                sa.and_(
                    col(WalletRecord.address) == latest.c.address,
                    col(WalletRecord.seq) == latest.c.seq,
                ),
            )
            .order_by(col(WalletRecord.address))
        )
    )


def row_digest_line(row: WalletRecord) -> str:
    fields = (
        row.id,
        row.address,
        row.seq,
        row.tax_class,
        row.tax_form,
        row.blocked,
        row.blocked_reason,
        row.excluded,
        row.excluded_reason,
        row.operator,
        row.signature,
        row.recorded_at.isoformat(),
    )
    return "|".join("" if f is None else str(f) for f in fields)


def registry_at(session: Session, moment: datetime) -> RegistryState:
    """The registry as it stood at ``moment``, with the sha256 over its rows in force (one
    canonical line per row, by address): a later change leaves both unchanged."""
    rows = rows_in_force(session, moment)
    digest = hashlib.sha256()
    for row in rows:
        digest.update(row_digest_line(row).encode() + b"\n")
    return RegistryState(moment, rows, digest.hexdigest())


def current_row(session: Session, address: str) -> WalletRecord | None:
    return session.exec(
        select(WalletRecord)
        .where(WalletRecord.address == address)
        .order_by(col(WalletRecord.seq).desc())
        .limit(1)
    ).first()


def history(session: Session, address: str) -> list[WalletRecord]:
    """Every row of the wallet, oldest first."""
    return list(
        session.exec(
            select(WalletRecord)
            .where(WalletRecord.address == address)
            .order_by(col(WalletRecord.seq))
        )
    )


def blocked_now(session: Session) -> set[str]:
    return {r.address for r in rows_in_force(session) if r.blocked}

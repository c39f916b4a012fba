"""Where a plan's payment stands, from the ledger: line counts and sums by status, batch totals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from corpactions.models import BatchStatus, LineStatus, PayoutBatch, PayoutLine, PayoutPlan


@dataclass
class Report:
    plan_id: int
    status: str = ""
    batches: int = 0
    paid_lines: int = 0
    paid_total: int = 0
    held_lines: int = 0
    held_total: int = 0
    failed_lines: int = 0
    open_lines: int = 0
    fees: int = 0
    attempts: int = 0

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def summarize(session: Session, plan_id: int) -> Report:
    """Where a plan's payment stands: one grouped count and sum over its lines, and totals over
    its batches (cheap enough to run on every progress tick)."""
    report = Report(plan_id=plan_id)
    plan = session.get(PayoutPlan, plan_id)
    report.status = str(plan.status) if plan else "missing"
    by_status = {
        str(status): (int(count), int(total))
        for status, count, total in session.exec(
            select(
                PayoutLine.status, func.count(), func.coalesce(func.sum(PayoutLine.amount_due), 0)
            )
            .where(PayoutLine.plan_id == plan_id)
            .group_by(col(PayoutLine.status))
        ).all()
    }
    report.paid_lines, report.paid_total = by_status.get(LineStatus.paid, (0, 0))
    report.held_lines, report.held_total = by_status.get(LineStatus.held_for_claim, (0, 0))
    report.failed_lines = by_status.get(LineStatus.failed, (0, 0))[0]
    report.open_lines = sum(
        by_status.get(s, (0, 0))[0] for s in (LineStatus.pending, LineStatus.batched)
    )
    finalized, fees, attempts = session.exec(
        select(
            func.coalesce(
                func.sum(sa.case((col(PayoutBatch.status) == BatchStatus.finalized, 1), else_=0)), 0
            ),
            func.coalesce(func.sum(PayoutBatch.fee), 0),
            func.coalesce(func.sum(PayoutBatch.attempt), 0),
        ).where(PayoutBatch.plan_id == plan_id)
    ).one()
    report.batches, report.fees, report.attempts = int(finalized), int(fees or 0), int(attempts)
    return report

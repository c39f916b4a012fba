"""Routes: period reports for accountants (the same reports as ``corpactions reports``)."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from corpactions.api.deps import ReadSession
from corpactions.api.schemas import Problem
from corpactions.reports.payouts import encode, payout_lines

router = APIRouter(tags=["reports"])
MEDIA = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet"}


class ReportFormat(StrEnum):
    csv = "csv"
    parquet = "parquet"


@router.get(
    "/v1/reports/payouts",
    response_class=Response,
    responses={
        200: {
            "content": {"text/csv": {}, "application/vnd.apache.parquet": {}},
            "description": "One row per payout line of the period.",
        },
        422: {"model": Problem, "description": "A parameter is not acceptable; detail says why."},
    },
    summary="Payout lines of a period: amounts, withholding, signatures, approvers, plans",
)
def payouts_report(
    session: ReadSession,
    since: Annotated[date, Query(alias="from", description="First pay date, YYYY-MM-DD.")],
    until: Annotated[date, Query(alias="to", description="Last pay date, YYYY-MM-DD.")],
    fmt: Annotated[ReportFormat, Query(alias="format", description="csv or parquet.")] = (
        ReportFormat.csv
    ),
) -> Response:
    data = encode(payout_lines(session, since, until), fmt.value)
    name = f"payouts-{since}-{until}.{fmt.value}"
    return Response(
        data,
        media_type=MEDIA[fmt.value],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )

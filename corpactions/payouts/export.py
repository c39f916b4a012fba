"""Export a plan's lines, one row per holder, as CSV or Parquet."""

from __future__ import annotations

import io
from pathlib import Path

from sqlmodel import Session

from corpactions.errors import UserInputError
from corpactions.payouts.plan import get_plan, load_lines

EXPORT_COLUMNS = (
    "owner",
    "shares",
    "gross",
    "withholding",
    "net",
    "carried_in",
    "amount_due",
    "status",
    "status_reason",
    "tax_class",
    "signature",
    "slot",
)


def export_plan(session: Session, plan_id: int, fmt: str) -> bytes:
    get_plan(session, plan_id)
    lines = load_lines(session, plan_id).select(EXPORT_COLUMNS)
    buffer = io.BytesIO()
    if fmt == "csv":
        lines.write_csv(buffer)
    elif fmt == "parquet":
        lines.write_parquet(buffer, compression="zstd")
    else:
        raise UserInputError(f"--format must be csv or parquet, not {fmt!r}")
    return buffer.getvalue()


def write_export(data: bytes, out: Path) -> None:
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
    except OSError as exc:
        raise UserInputError(f"cannot write {out}: {exc.strerror}") from exc

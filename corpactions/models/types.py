"""Column types that keep money and time exact on both PostgreSQL and SQLite.

- ``U64``: an unsigned 64-bit token amount (raw base units), read back as ``int``. BIGINT is
  signed and a u64 balance can exceed it: PostgreSQL stores NUMERIC(20, 0), SQLite exact text.
- ``DecimalText``: a rate as given by a feed (``Decimal``), stored as its canonical text so that
  no database rounds it (SQLite has no exact NUMERIC).
- ``UTCDateTime``: timezone-aware timestamps; naive values are refused on write, and values read
  back from SQLite (which drops the zone) are marked UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, Dialect, Numeric, String
from sqlalchemy.types import TypeDecorator, TypeEngine

U64_MAX = 2**64 - 1


class U64(TypeDecorator[int]):
    impl = Numeric(20, 0)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        # SQLite has no exact NUMERIC: values past 2**63 would become REAL. Zero-padded
        # text of 20 digits is exact and still sorts in numeric order.
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(20))
        return dialect.type_descriptor(Numeric(20, 0))

    def process_bind_param(self, value: int | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"U64 column takes int, got {type(value).__name__}")
        if not 0 <= value <= U64_MAX:
            raise ValueError(f"{value} is outside the u64 range")
        if dialect.name == "sqlite":
            return f"{value:020d}"
        return Decimal(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        if value is None:
            return None
        return int(value)


class DecimalText(TypeDecorator[Decimal]):
    impl = String(64)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, Decimal) or not value.is_finite():
            raise ValueError(f"rates are finite Decimals, got {value!r}")
        return format(value, "f")

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


class UTCDateTime(TypeDecorator[datetime]):
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)

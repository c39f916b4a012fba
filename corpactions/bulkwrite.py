"""Many new rows into one table at once, in the session's transaction.

On PostgreSQL the rows go through ``COPY ... FROM STDIN``: a multi-row INSERT of 100,000 rows
costs more in building and parsing its statement (client side) than in storing the rows, and
``executemany`` sends a statement per row. Values pass through each column's SQLAlchemy bind
processing first (the project's decimal-as-text, UTC datetime and JSON types), so a row is
stored exactly as an INSERT would store it; a test compares both. Elsewhere (SQLite) the rows
go through one ``executemany`` INSERT.

New ids on PostgreSQL come from the table's own sequence (``reserve_ids``), so dependent rows
can be written by COPY too without reading anything back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, SQLModel


def uses_copy(session: Session) -> bool:
    return session.connection().dialect.name == "postgresql"


def _table(model: type[SQLModel]) -> sa.Table:
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, sa.Table)
    return table


def insert_rows(session: Session, model: type[SQLModel], rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys: column names) into ``model``'s table."""
    if not rows:
        return
    table = _table(model)
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        session.execute(sa.insert(table), list(rows))
        return
    dialect = connection.dialect
    names = list(rows[0])
    processors: list[Callable[[Any], Any] | None] = [
        table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
    ]
    quote = dialect.identifier_preparer.quote
    statement = f"COPY {quote(table.name)} ({', '.join(quote(name) for name in names)}) FROM STDIN"
    driver = connection.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(
                [
                    process(row[name]) if process is not None else row[name]
                    for name, process in zip(names, processors, strict=True)
                ]
            )


def reserve_ids(session: Session, model: type[SQLModel], count: int) -> list[int]:
    """PostgreSQL: ``count`` new values of the table's ``id`` sequence."""
    table = _table(model)
    result = session.execute(
        sa.text(
            "SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :count)"
        ),
        {"table": table.name, "count": count},
    )
    return [int(value) for (value,) in result]

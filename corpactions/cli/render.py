"""Output helpers: every data-printing command prints a Rich table, or JSON with ``--json``.

Rich is imported when a table or a live status is first shown (a ``--json`` command never
pays for it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import TYPE_CHECKING, Any

import orjson
import typer

if TYPE_CHECKING:
    from rich.console import Console

JSON_OPTION = typer.Option(False, "--json", help="Print machine-readable JSON instead of a table.")


@cache
def console(*, stderr: bool = False) -> Console:
    """The Rich console for stdout (or stderr), made on first use."""
    from rich.console import Console

    return Console(stderr=stderr)


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, int):  # ints beyond 64 bits
        return str(value)
    raise TypeError(f"cannot render {type(value).__name__} as JSON")


def to_json(data: Any) -> str:
    return orjson.dumps(
        data,
        default=_default,
        option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME,
    ).decode()


@contextmanager
def status_line(text: str, *, quiet: bool = False) -> Iterator[Callable[[str], None]]:
    """A live one-line status on stderr (nothing when ``quiet``); yields its update function."""
    if quiet or not console(stderr=True).is_terminal:
        yield lambda _text: None
        return
    with console(stderr=True).status(text) as status:
        yield status.update


def print_json(data: Any) -> None:
    typer.echo(to_json(data))


def print_table(title: str, rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> None:
    from rich.table import Table

    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(_cell(row.get(c)) for c in columns))
    console().print(table)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)

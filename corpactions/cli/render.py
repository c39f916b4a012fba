"""Output helpers: every data-printing command prints a Rich table, or JSON with ``--json``.

Rich is imported when a table or a live status is first shown (a ``--json`` command never
pays for it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import TYPE_CHECKING, Any

import orjson
import typer

from corpactions.units import Unit, human

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
    """A table whose cells wrap (fold) instead of being cut: wallets, hashes and signatures are
    copied from it, so no value is ever shortened with an ellipsis."""
    from rich.table import Table

    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(row.get(c)) for c in columns))
    console().print(table)


def print_records(
    title: str,
    rows: Sequence[Mapping[str, Any]],
    *,
    heading: Callable[[Mapping[str, Any]], str],
    whole: Sequence[str] = (),
    fields: Sequence[tuple[str, str]] = (),
) -> None:
    """Rows as blocks instead of table cells, for rows that carry values that must be copied
    whole (wallets, hashes, signatures): a heading line, each ``whole`` value on its own line,
    then ``label value`` pairs wrapped at the terminal width (never cut)."""
    import textwrap

    width = max(console().width, 40)
    typer.echo(f"{title}:" if rows else f"{title}: none")
    for row in rows:
        typer.echo(f"  {heading(row)}")
        for key in whole:
            if row.get(key):
                typer.echo(f"    {key.replace('_', ' ')}: {row[key]}")
        pairs = [
            f"{label} {text(row.get(key))}" for label, key in fields if row.get(key) is not None
        ]
        if pairs:
            for line in textwrap.wrap(
                "; ".join(pairs), width=width - 4, break_long_words=False, break_on_hyphens=False
            ):
                typer.echo(f"    {line}")


def _cell(value: Any) -> str:
    return text(value)


def text(value: Any) -> str:
    """A value as a person reads it: no Python reprs (lists joined, mappings as ``key: value``,
    times in ISO 8601 with their timezone, decimals in plain notation)."""
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(text(v) for v in value)
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {text(v)}" for k, v in value.items())
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, datetime):
        return iso_time(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def iso_time(value: datetime | int | float) -> str:
    """ISO 8601 with a timezone; naive datetimes are the ledger's UTC, numbers unix seconds."""
    if isinstance(value, int | float):
        value = datetime.fromtimestamp(value, tz=UTC)
    elif value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


def amount(base_units: int | str, unit: Unit) -> str:
    """``1,234.567890 USDC`` or ``196.00000000 AAPL shares`` (raw base units stay in --json)."""
    return human(base_units, unit)


def echo_value(label: str, value: str, *, indent: str = "  ") -> None:
    """A long value (wallet, hash, signature) whole on its own line, its label above it."""
    typer.echo(f"{indent}{label}:")
    typer.echo(f"{indent}  {value}")

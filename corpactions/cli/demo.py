"""``corpactions demo``: the whole product on embedded defaults (grows as the pipeline lands)."""

from __future__ import annotations

import typer

from corpactions import db
from corpactions.config import get_settings


def demo() -> None:
    """Run the main job on embedded defaults: SQLite ledger, local chain, in-process tasks."""
    settings = get_settings()
    data_dir = settings.ensure_data_dir().resolve()
    typer.echo(f"demo: data dir {data_dir}")
    db.upgrade()
    typer.echo(f"demo: ledger ready at {settings.ledger_url} (schema {db.current_revision()})")
    typer.echo(
        "demo: the chain, feed, snapshot, payout and API steps are not part of this version yet"
    )

"""``corpactions db``: ledger schema migrations."""

from __future__ import annotations

import typer

from corpactions import db
from corpactions.cli.render import JSON_OPTION, print_json
from corpactions.config import get_settings
from corpactions.logs import get_logger

app = typer.Typer(help="Ledger database: migrations and status.", no_args_is_help=True)
log = get_logger(__name__)


@app.command()
def upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Apply the ledger migrations up to REVISION (default: the newest)."""
    settings = get_settings()
    if settings.database_url is None:
        settings.ensure_data_dir()
    db.upgrade(revision=revision)
    log.info("ledger upgraded", revision=db.current_revision())
    typer.echo(f"ledger schema at {db.current_revision()}")


@app.command()
def downgrade(revision: str = typer.Argument(..., help="Target revision, or 'base'.")) -> None:
    """Roll the ledger schema back to REVISION."""
    db.downgrade(revision=revision)
    typer.echo(f"ledger schema at {db.current_revision() or 'base'}")


@app.command()
def status(as_json: bool = JSON_OPTION) -> None:
    """Show the ledger's schema revision and the one this code needs."""
    data = {"current": db.current_revision(), "head": db.head_revision()}
    if as_json:
        print_json(data)
    else:
        state = (
            "up to date" if data["current"] == data["head"] else "needs 'corpactions db upgrade'"
        )
        typer.echo(
            f"ledger schema at {data['current'] or 'nothing'}; code needs {data['head']}: {state}"
        )

"""The ``corpactions`` console script: thin doors into the domain (parse, call, render)."""

from __future__ import annotations

from corpactions.cli import (
    actions,
    adjust,
    api,
    db,
    demo,
    feeds,
    instruments,
    localnet,
    meetings,
    payouts,
    snapshot,
    status,
    workers,
)
from corpactions.cli.root import app

app.add_typer(db.app, name="db")
app.add_typer(instruments.app, name="instruments")
app.add_typer(feeds.app, name="feeds")
app.add_typer(actions.app, name="actions")
app.add_typer(snapshot.app, name="snapshot")
app.add_typer(payouts.app, name="payouts")
app.add_typer(adjust.app, name="adjust")
app.add_typer(localnet.app, name="localnet")
app.add_typer(meetings.app, name="meetings")
app.command("api")(api.api)
app.command("demo")(demo.demo)
app.command("status")(status.status)
app.command("verify-line")(payouts.verify_line)
app.command("worker")(workers.worker)
app.command("beat")(workers.beat)


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = ["app", "main"]

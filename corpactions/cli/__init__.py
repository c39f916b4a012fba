"""The ``corpactions`` console script: thin doors into the domain (parse, call, render).

Command groups load on first use (``corpactions.cli.root.COMMANDS``): ``corpactions --help``
and every command import only what that command needs.
"""

from __future__ import annotations

from corpactions.cli.root import app


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = ["app", "main"]

"""Command groups whose work has not landed yet: their ``--help`` works, their commands say so."""

from __future__ import annotations

from collections.abc import Sequence

import typer

from corpactions.errors import CorpactionsError


class NotYetAvailable(CorpactionsError):
    """A command that is part of the design but not built in this version."""


def pending_group(help_text: str, commands: Sequence[tuple[str, str]]) -> typer.Typer:
    group = typer.Typer(help=help_text, no_args_is_help=True)
    pending_commands(group, commands)
    return group


def pending_commands(group: typer.Typer, commands: Sequence[tuple[str, str]]) -> None:
    """Add commands to ``group`` that say they are not available yet."""
    for name, summary in commands:

        def _command(_name: str = name) -> None:
            raise NotYetAvailable(
                f"'{_name}' is not available in this version yet",
                hint="see the open issues for what is being built",
            )

        group.command(name, help=f"{summary} (not available yet)")(_command)

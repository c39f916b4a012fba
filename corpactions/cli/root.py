"""The ``corpactions`` command: the root group, its error policy and the sub-command groups.

Error policy: a user error (bad argument, unknown id, malformed file) prints exactly one line,
``error: ...``, to stderr and exits 2; any other failure of ours exits 1 with one line; an
unexpected bug prints one line plus where the traceback was logged. Never a raw traceback.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any

import typer
from typer._click import exceptions as click_errors
from typer.core import TyperGroup

from corpactions.errors import CorpactionsError


def fail_line(message: str) -> None:
    typer.echo(f"error: {' '.join(message.split())}", err=True)


class CorpactionsGroup(TyperGroup):
    """Root group whose ``main`` owns the error policy for every sub-command."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        del standalone_mode  # always handled here
        try:
            rv = super().main(
                args=args,
                prog_name=prog_name or "corpactions",
                complete_var=complete_var,
                standalone_mode=False,
                **extra,
            )
        except click_errors.NoArgsIsHelpError as exc:
            typer.echo(exc.ctx.get_help() if exc.ctx else str(exc), err=True)
            sys.exit(2)
        except click_errors.UsageError as exc:
            where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
            fail_line(exc.format_message() + where)
            sys.exit(2)
        except click_errors.ClickException as exc:
            fail_line(exc.format_message())
            sys.exit(exc.exit_code)
        except typer.Abort:
            fail_line("aborted")
            sys.exit(130)
        except CorpactionsError as exc:
            fail_line(exc.one_line())
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            fail_line("interrupted")
            sys.exit(130)
        except Exception as exc:
            if os.environ.get("CORPACTIONS_DEBUG"):
                traceback.print_exc()
            fail_line(
                f"internal error: {type(exc).__name__}: {exc}"
                " (a bug; rerun with CORPACTIONS_DEBUG=1 for the traceback)"
            )
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


app = typer.Typer(
    cls=CorpactionsGroup,
    help="Corporate actions for tokenized stocks on Solana: feeds, snapshots, exact payouts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback()
def _root(
    log_level: str | None = typer.Option(
        None, "--log-level", help="DEBUG, INFO, WARNING or ERROR (default: settings)."
    ),
) -> None:
    """Corporate actions for tokenized stocks on Solana: feeds, snapshots, exact payouts."""
    from corpactions.logs import configure_logging

    if log_level is not None and log_level.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise typer.BadParameter(
            f"{log_level!r} is not DEBUG, INFO, WARNING or ERROR", param_hint="--log-level"
        )
    if log_level is None and "CORPACTIONS_LOG_LEVEL" not in os.environ:
        log_level = "WARNING"  # a command reports its own outcome; logs are for workers
    configure_logging(level=log_level)

"""The ``corpactions`` command: the root group, its error policy and the sub-command groups.

Error policy: a user error (bad argument, unknown id, malformed file) prints exactly one line,
``error: ...``, to stderr and exits 2; any other failure of ours exits 1 with one line; an
unexpected bug prints one line plus where the traceback was logged. Never a raw traceback.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any

import typer
from typer._click import Command as ClickCommand
from typer._click import Context, HelpFormatter
from typer._click import exceptions as click_errors
from typer._click.utils import make_default_short_help
from typer.core import TyperGroup
from typer.main import get_command_from_info, get_group_from_info
from typer.models import CommandInfo, TyperInfo

from corpactions.errors import CorpactionsError

# Every command, in the order ``--help`` lists them: (module, attribute, help's first paragraph).
# A command's module (with its domain, polars, solders, SQLAlchemy, FastAPI, Celery) is imported
# only when that command runs or its own help is asked for, so ``corpactions --help`` imports
# none of them. The help text is repeated here for the listing; a test holds it to the module's.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "api": (
        "corpactions.cli.api",
        "api",
        "Serve the holder payout-history API and the holder page at / (read-only).",
    ),
    "demo": (
        "corpactions.cli.demo",
        "demo",
        "Run the main job on embedded defaults: local chain, SQLite ledger, in-process tasks.",
    ),
    "status": (
        "corpactions.cli.status",
        "status",
        "Actions by stage, plans awaiting approval, batches in flight, failures with reasons.",
    ),
    "verify-line": (
        "corpactions.cli.payouts",
        "verify_line",
        "Check a holder's line: its leaf recomputed, its proof walked to the plan root, and that"
        " root compared with the one the plan's attestation memo carries on chain (finalized).",
    ),
    "worker": (
        "corpactions.cli.workers",
        "worker",
        "Start a Celery worker on this machine (any number, on any machines, share one Redis"
        " and one PostgreSQL).",
    ),
    "beat": (
        "corpactions.cli.workers",
        "beat",
        "Start the scheduler: exactly one per deployment (it only enqueues scans).",
    ),
    "db": ("corpactions.cli.db", "app", "Ledger database: migrations and status."),
    "instruments": (
        "corpactions.cli.instruments",
        "app",
        "Register and list tokenized instruments.",
    ),
    "feeds": (
        "corpactions.cli.feeds",
        "app",
        "Corporate-action feeds: ingest files, pull providers, review quarantine.",
    ),
    "actions": ("corpactions.cli.actions", "app", "Corporate actions and their version history."),
    "snapshot": (
        "corpactions.cli.snapshot",
        "app",
        "Record-date holder snapshots (getProgramAccounts, proven against supply).",
    ),
    "payouts": (
        "corpactions.cli.payouts",
        "app",
        "Payout plans: compute, review, approve, execute.",
    ),
    "reserves": (
        "corpactions.cli.reserves",
        "app",
        "Proof of backing: custodian statements, checks of supply against custody.",
    ),
    "adjust": (
        "corpactions.cli.adjust",
        "app",
        "Share-count adjustments by UI multiplier: splits, reverse splits, reinvestment.",
    ),
    "localnet": (
        "corpactions.cli.localnet",
        "app",
        "The local Solana chain: real SPL programs (LiteSVM) behind Solana JSON-RPC over HTTP.",
    ),
    "operators": (
        "corpactions.cli.operators",
        "app",
        "Operators: people proven by ed25519 keys, with roles (maker, approver, admin).",
    ),
    "sign": (
        "corpactions.cli.operators",
        "sign",
        "Sign a message (a decision or registry change, byte for byte) with an operator key and"
        " print the base58 signature.",
    ),
    "meetings": (
        "corpactions.cli.meetings",
        "app",
        "Shareholder meetings: agendas, wallet-signed ballots, tallies, custodian export.",
    ),
    "wallets": (
        "corpactions.cli.wallets",
        "app",
        "The wallet registry: tax class, blocked and excluded wallets (signed, append-only).",
    ),
    "reports": (
        "corpactions.cli.reports",
        "app",
        "Reports for accountants: payout lines of a period, yearly totals per wallet.",
    ),
}


def load_command(name: str) -> ClickCommand:
    """Import command ``name``'s module and build its click command (a group for a Typer)."""
    module, attribute, _help = COMMANDS[name]
    target = getattr(importlib.import_module(module), attribute)
    if isinstance(target, typer.Typer):
        return get_group_from_info(
            TyperInfo(target, name=name),
            pretty_exceptions_short=app.pretty_exceptions_short,
            suggest_commands=True,
            rich_markup_mode=None,
        )
    return get_command_from_info(
        CommandInfo(name=name, callback=target),
        pretty_exceptions_short=app.pretty_exceptions_short,
        rich_markup_mode=None,
    )


def fail_line(message: str) -> None:
    typer.echo(f"error: {' '.join(message.split())}", err=True)


class CorpactionsGroup(TyperGroup):
    """Root group whose ``main`` owns the error policy for every sub-command, and whose
    commands are loaded when first used (``COMMANDS``)."""

    def list_commands(self, ctx: Context) -> list[str]:
        return [*COMMANDS, *(name for name in super().list_commands(ctx) if name not in COMMANDS)]

    def get_command(self, ctx: Context, cmd_name: str) -> ClickCommand | None:
        if cmd_name in COMMANDS and cmd_name not in self.commands:
            self.commands[cmd_name] = load_command(cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
        """The listing from ``COMMANDS``' help text, without importing any command."""
        limit = formatter.width - 6 - max(len(name) for name in COMMANDS)
        rows = [(name, make_default_short_help(COMMANDS[name][2], limit)) for name in COMMANDS]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

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

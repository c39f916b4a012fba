"""``corpactions demo``: the whole product on embedded defaults (see ``corpactions.demo``)."""

from __future__ import annotations

import typer

from corpactions.cli.render import print_json
from corpactions.config import get_settings
from corpactions.errors import UserInputError


def demo(
    holders: int = typer.Option(1000, "--holders", min=1, max=200_000, help="Holders to create."),
    program: str = typer.Option("token", "--program", help="token or token2022."),
    keep_running: bool = typer.Option(
        False, "--keep-running", help="Keep the chain and ledger up afterwards."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Run the main job on embedded defaults: local chain, SQLite ledger, in-process tasks."""
    from rich.progress import BarColumn, Progress, TextColumn

    from corpactions.demo import run_demo

    if program not in {"token", "token2022"}:
        raise UserInputError(f"--program must be token or token2022, not {program!r}")
    base = get_settings().ensure_data_dir().resolve() / "demo"
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        transient=True,
        disable=as_json,
    ) as bar:
        task = bar.add_task("paying holders", total=None, visible=False)

        def say(text: str) -> None:
            if not as_json:
                bar.console.print(text, highlight=False, soft_wrap=True)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, visible=True)

        result = run_demo(
            base_dir=base, holders=holders, program=program, say=say, progress=progress
        )
    if as_json:
        print_json({"run_dir": str(result.run_dir), "plan_id": result.plan_id, **result.summary})
    if keep_running:
        typer.echo(
            "demo: --keep-running: the holder API and page are not part of this version yet; "
            "the ledger stays in " + str(result.run_dir),
            err=True,
        )

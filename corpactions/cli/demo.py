"""``corpactions demo``: the whole product on embedded defaults (see ``corpactions.demo``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer

from corpactions.cli.render import print_json
from corpactions.config import get_settings
from corpactions.demo import DemoResult
from corpactions.errors import UserInputError


def demo(
    holders: int = typer.Option(1000, "--holders", min=1, max=200_000, help="Holders to create."),
    program: str = typer.Option("token", "--program", help="token or token2022."),
    keep_running: bool = typer.Option(
        False,
        "--keep-running",
        help="Afterwards keep the chain up and serve the API and holder page until Ctrl-C.",
    ),
    port: int = typer.Option(
        0, "--port", min=0, max=65535, help="Port of the API with --keep-running (0: free)."
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

        def serve(result: DemoResult) -> None:
            if as_json:
                print_json(_summary(result))
            bar.stop()
            serve_until_interrupted(result, port=port, say=typer.echo)

        result = run_demo(
            base_dir=base,
            holders=holders,
            program=program,
            say=say,
            progress=progress,
            keep_running=serve if keep_running else None,
        )
    if as_json and not keep_running:
        print_json(_summary(result))


def _summary(result: DemoResult) -> dict[str, Any]:
    return {"run_dir": str(result.run_dir), "plan_id": result.plan_id, **result.summary}


def serve_until_interrupted(result: DemoResult, *, port: int, say: Callable[[str], None]) -> None:
    """Serve the API and holder page over the demo's ledger until Ctrl-C or SIGTERM."""
    import uvicorn
    from sqlmodel import select

    from corpactions import db
    from corpactions.api.app import create_app
    from corpactions.localnet.server import bind_socket
    from corpactions.models import PayoutLine

    with db.session_scope() as session:
        sample = session.exec(
            select(PayoutLine.owner).where(
                PayoutLine.plan_id == result.plan_id, PayoutLine.status == "paid"
            )
        ).first()
    sock = bind_socket("127.0.0.1", port)
    server = uvicorn.Server(uvicorn.Config(create_app(), log_level="warning"))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    say(f"demo: holder page {url}/?wallet={sample}")
    say(f"demo: API {url}/v1/holders/{sample}/payouts (OpenAPI docs at {url}/docs)")
    say(f"demo: local chain {result.rpc_url}; ledger {result.run_dir}; Ctrl-C stops both")
    server.run(sockets=[sock])

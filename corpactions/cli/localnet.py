"""``corpactions localnet``: serve the local chain over JSON-RPC; ``localnet seed`` fills it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from corpactions.cli.render import JSON_OPTION, print_json
from corpactions.config import get_settings
from corpactions.errors import UserInputError

app = typer.Typer(
    help="The local Solana chain: real SPL programs (LiteSVM) behind Solana JSON-RPC over HTTP.",
    invoke_without_command=True,
)


@app.callback()
def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8899, "--port", min=0, max=65535, help="Port (0: any free port)."),
    state: Path | None = typer.Option(
        None, "--state", help="File that keeps accounts and history across restarts."
    ),
    slot_ms: int = typer.Option(
        400, "--slot-ms", min=0, help="Milliseconds per slot; 0 stops time."
    ),
    finality_lag: int = typer.Option(2, "--finality-lag", min=0, help="Slots until finalized."),
    drop_rate: float = typer.Option(
        0.0,
        "--drop-rate",
        min=0.0,
        max=1.0,
        help="Fault: fraction of sent transactions silently dropped.",
    ),
    land_delay_slots: int = typer.Option(
        0, "--land-delay-slots", min=0, help="Fault: transactions land this many slots late."
    ),
    http_error_rate: float = typer.Option(
        0.0,
        "--http-error-rate",
        min=0.0,
        max=1.0,
        help="Fault: fraction of requests answered 429/503.",
    ),
    http_error_status: int = typer.Option(429, "--http-error-status", help="Fault: 429 or 503."),
    fault_seed: int = typer.Option(
        0, "--fault-seed", help="Seed of the fault RNG (repeatable runs)."
    ),
) -> None:
    """Serve JSON-RPC until Ctrl-C or SIGTERM (then the state is saved)."""
    if ctx.invoked_subcommand is not None:
        return
    from corpactions.localnet.chain import ChainConfig, StateFileError
    from corpactions.localnet.faults import Faults
    from corpactions.localnet.server import serve as run_server
    from corpactions.localnet.server import websocket_url

    if http_error_status not in {429, 503}:
        raise UserInputError("--http-error-status must be 429 or 503")
    faults = Faults(
        drop_rate=drop_rate,
        land_delay_slots=land_delay_slots,
        http_error_rate=http_error_rate,
        http_error_status=http_error_status,
        seed=fault_seed,
    )
    config = ChainConfig(slot_ms=slot_ms, finality_lag=finality_lag, faults=faults)

    def ready(url: str, chain: object) -> None:
        where = f", state {state}" if state else ""
        typer.echo(
            f"localnet: serving Solana JSON-RPC on {url}, PubSub on {websocket_url(url)} "
            f"(slot {getattr(chain, 'slot', '?')}{where}); Ctrl-C stops",
            err=True,
        )

    try:
        run_server(host=host, port=port, state_path=state, config=config, on_ready=ready)
    except StateFileError as exc:
        raise UserInputError(str(exc)) from exc
    except OSError as exc:
        raise UserInputError(
            f"cannot listen on {host}:{port}: {exc.strerror}",
            hint="choose another --port (PubSub takes the next port too)",
        ) from exc


@app.command()
def seed(
    rpc: str | None = typer.Option(
        None, "--rpc", help="JSON-RPC URL (default: CORPACTIONS_RPC_URL)."
    ),
    holders: int = typer.Option(
        1000, "--holders", min=0, max=1_000_000, help="Holder wallets to create."
    ),
    program: str = typer.Option("token", "--program", help="token or token2022 (ScaledUiAmount)."),
    seed_value: int = typer.Option(0, "--seed", help="Seed of the holder set (repeatable)."),
    keys_dir: Path | None = typer.Option(
        None, "--keys-dir", help="Where keypairs go (default: <data dir>/localnet)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Create a USDC-like mint, a tokenized stock, a funded treasury and N holders."""
    from rich.progress import Progress

    from corpactions.localnet.seed import seed as run_seed

    if program not in {"token", "token2022"}:
        raise UserInputError(f"--program must be token or token2022, not {program!r}")
    settings = get_settings()
    url = rpc or settings.rpc_url
    target = keys_dir or settings.ensure_data_dir() / "localnet"
    with Progress(transient=True, disable=as_json) as bar:
        task = bar.add_task("seeding holders", total=None)

        def progress(_stage: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        result = asyncio.run(
            run_seed(
                rpc_url=url,
                keys_dir=target,
                holders=holders,
                program=program,
                authority_path=settings.keypair_path,
                seed_value=seed_value,
                progress=progress,
            )
        )
    if as_json:
        print_json(result.as_dict())
        return
    typer.echo(
        f"seeded {result.holders} holders of {result.stock_mint} ({program}) "
        f"in {result.transactions} transactions"
    )
    typer.echo(f"  USDC mint      {result.usdc_mint}")
    typer.echo(f"  treasury       {result.treasury} ({result.treasury_usdc} base units)")
    typer.echo(f"  authority      {result.authority}")
    typer.echo(f"  issuer wallet  {result.issuer_wallet}")
    typer.echo(f"  keypairs in    {result.keys_dir}")
    authority_file = settings.keypair_path or Path(result.keys_dir) / "payout-authority.json"
    typer.echo("next, to pay from this treasury on this chain:")
    typer.echo(
        f"  export CORPACTIONS_RPC_URL={url} CORPACTIONS_USDC_MINT={result.usdc_mint} "
        f"CORPACTIONS_KEYPAIR_PATH={authority_file}"
    )
    typer.echo(
        f"  corpactions instruments add AAPL --mint {result.stock_mint} --program {program} "
        f"--decimals {result.stock_decimals} --issuer {result.issuer_wallet}"
    )

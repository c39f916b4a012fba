"""``corpactions api``: serve the read-only holder payout-history API and page (uvicorn)."""

from __future__ import annotations

import typer

from corpactions import db
from corpactions.config import get_settings


def api(
    host: str | None = typer.Option(None, "--host", help="Bind address (default: settings)."),
    port: int | None = typer.Option(
        None, "--port", min=1, max=65535, help="Port (default: settings, 8000)."
    ),
    workers: int = typer.Option(1, "--workers", min=1, help="Server processes."),
) -> None:
    """Serve the holder payout-history API and the holder page at / (read-only)."""
    import uvicorn

    settings = get_settings()
    db.require_current_schema()
    bind_host = host or settings.api_host
    bind_port = port or settings.api_port
    typer.echo(f"api: holder page and API on http://{bind_host}:{bind_port}/ (docs at /docs)")
    uvicorn.run(
        "corpactions.api.app:create_app",
        factory=True,
        host=bind_host,
        port=bind_port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )

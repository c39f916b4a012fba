"""``corpactions api``: serve the holder payout-history API and page (uvicorn)."""

from __future__ import annotations

import socket

import typer

from corpactions import db
from corpactions.config import get_settings
from corpactions.errors import ConfigurationError


def listening_socket(host: str, port: int) -> socket.socket:
    """The bound, listening socket the server will use; a taken or unknown address is one
    ``ConfigurationError`` (so success is printed only once the address is really ours)."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            hint="give another --host, or set CORPACTIONS_API_HOST",
        ) from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise ConfigurationError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            hint="another process holds the port: stop it, or give another --port",
        ) from None
    sock.set_inheritable(True)
    return sock


def api(
    host: str | None = typer.Option(None, "--host", help="Bind address (default: settings)."),
    port: int | None = typer.Option(
        None, "--port", min=1, max=65535, help="Port (default: settings, 8000)."
    ),
    workers: int = typer.Option(1, "--workers", min=1, help="Server processes."),
) -> None:
    """Serve the holder payout-history API and the holder page at / (read-only)."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    settings = get_settings()
    db.require_current_schema()
    bind_host = host or settings.api_host
    bind_port = port or settings.api_port
    sock = listening_socket(bind_host, bind_port)
    config = uvicorn.Config(
        "corpactions.api.app:create_app",
        factory=True,
        host=bind_host,
        port=bind_port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )
    server = uvicorn.Server(config)
    typer.echo(f"api: holder page and API on http://{bind_host}:{bind_port}/ (docs at /docs)")
    if workers > 1:
        Multiprocess(config, sockets=[sock]).run()
    else:
        server.run(sockets=[sock])

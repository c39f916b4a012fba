"""structlog setup: JSON lines when stderr is not a terminal, readable console lines when it is."""

from __future__ import annotations

import logging
import sys

import structlog

from corpactions.config import get_settings

_configured = False


class _StderrLogger:
    """Writes each rendered line to the *current* ``sys.stderr`` (which tests and CLI runners
    replace), instead of the stream that happened to be there when logging was configured."""

    def msg(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    log = debug = info = warning = warn = error = critical = exception = fatal = msg


def _stderr_logger(*_args: object) -> _StderrLogger:
    return _StderrLogger()


def configure_logging(*, level: str | None = None, json: bool | None = None) -> None:
    """Configure structlog and the stdlib root logger once per process (idempotent)."""
    global _configured  # noqa: PLW0603 - process-wide logging is configured once
    settings = get_settings()
    level_name = (level or settings.log_level).upper()
    as_json = json if json is not None else settings.log_json
    if as_json is None:
        as_json = not sys.stderr.isatty()
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level_name)),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=level_name, stream=sys.stderr, format="%(name)s %(message)s")
    for noisy in ("alembic", "httpx", "httpcore", "httpx2", "httpcore2", "uvicorn"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level_name)))
    _configured = True


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    if not _configured:
        configure_logging()
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger(name)
    return logger

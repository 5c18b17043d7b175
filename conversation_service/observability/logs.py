"""Structured logs with `structlog`: JSON lines by default outside a terminal, console in one.

Every stdlib logger of the package (and uvicorn's, SQLAlchemy's...) goes through the same
`ProcessorFormatter`, so one line shape covers all of them; the request id, tenant and actor bound
in `structlog.contextvars` for the current request appear on every line logged while it runs.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal, TextIO

import structlog
from structlog.types import Processor

LogFormat = Literal["auto", "json", "console"]


def _renderer(fmt: LogFormat, stream: TextIO) -> Processor:
    tty = stream.isatty()
    if fmt == "console" or (fmt == "auto" and tty):
        return structlog.dev.ConsoleRenderer(colors=tty)
    return structlog.processors.JSONRenderer()


def configure_logging(
    level: str = "INFO", fmt: LogFormat = "auto", stream: TextIO | None = None
) -> None:
    """Install one handler on the root logger (replacing ours if present; tests call it again)."""
    stream = sys.stderr if stream is None else stream
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _renderer(fmt, stream),
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.set_name("conversation-service")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "conversation-service"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())

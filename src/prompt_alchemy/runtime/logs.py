"""Structured logs: one JSON object per line on stderr, with the trace id of the current request.

The trace id comes from the bus's request context, so a line written while handling a message
carries the same ``trace_id`` in every process the request crossed.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from prompt_alchemy.bus.context import current_context
from prompt_alchemy.runtime.settings import Settings

__all__ = ["JsonFormatter", "TraceFilter", "configure"]

_NOISY = ("nats", "redisvl", "asyncio", "aiohttp.access", "mcp", "httpx")


class TraceFilter(logging.Filter):
    """Adds ``trace_id`` (or None) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = current_context()
        record.trace_id = context.trace_id if context else None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "trace_id": getattr(record, "trace_id", None),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure(settings: Settings, *, quiet: bool = False) -> None:
    """Route every log line to stderr as JSON; stdout stays for command output.

    ``quiet`` (client commands such as ``generate``) shows warnings and errors only, unless debug.
    """
    level = logging.DEBUG if settings.debug_mode else getattr(logging, settings.log_level.upper(), logging.INFO)
    if quiet and not settings.debug_mode:
        level = max(level, logging.WARNING)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(TraceFilter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    if not settings.debug_mode:
        for name in _NOISY:
            logging.getLogger(name).setLevel(logging.WARNING)

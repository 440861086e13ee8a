"""Structured logs: one JSON object per line on stderr, with the trace of the current request.

The trace comes from the bus's request context, so a line written while handling a message
carries the same ``trace_id`` in every process the request crossed (and the ``span_id`` of this
hop). ``RequestLog`` writes one DEBUG line per served request — subject, status, duration — so
with ``LOG_LEVEL=debug`` (or DEBUG_MODE) a request can be followed hop by hop by its trace id.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import UTC, datetime
from typing import Any

from prompt_alchemy.bus import Bus
from prompt_alchemy.bus.context import current_context
from prompt_alchemy.bus.middleware import Middleware, ServeNext, Serving
from prompt_alchemy.errors import ServiceError
from prompt_alchemy.redaction import mask_urls_in
from prompt_alchemy.runtime.settings import Settings

__all__ = ["JsonFormatter", "RequestLog", "TraceFilter", "configure"]

_NOISY = ("nats", "redisvl", "asyncio", "aiohttp.access", "mcp", "httpx", "uvicorn", "uvicorn.error")


class TraceFilter(logging.Filter):
    """Adds ``trace_id`` and ``span_id`` (or None) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = current_context()
        if context is None:
            record.trace_id = record.span_id = None
        else:
            parts = context.traceparent.split("-")
            record.trace_id, record.span_id = parts[1], parts[2]
        return True


class JsonFormatter(logging.Formatter):
    """``time level logger message trace_id span_id``, plus the record's ``fields`` dict if any.

    Credentials in URLs (a library's connection error, say) are masked in the message and traceback."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": mask_urls_in(record.getMessage()),
            "trace_id": getattr(record, "trace_id", None),
            "span_id": getattr(record, "span_id", None),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update({key: value for key, value in fields.items() if key not in line})
        if record.exc_info:
            line["exception"] = mask_urls_in(self.formatException(record.exc_info))
        return json.dumps(line, default=str)


class RequestLog(Middleware):
    """A layer of the bus's chain: one DEBUG line per request served, inside the request's context."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._log = logger or logging.getLogger("prompt_alchemy.requests")

    @property
    def enabled(self) -> bool:
        """Whether it would write anything now (its logger takes DEBUG lines)."""
        return self._log.isEnabledFor(logging.DEBUG)

    async def serve(self, call: Serving, call_next: ServeNext) -> bytes:
        if not self.enabled:
            return await call_next(call)
        started, code = time.perf_counter(), 200
        try:
            return await call_next(call)
        except ServiceError as error:
            code = error.code
            raise
        finally:
            subject, duration_ms = call.contract.subject, round((time.perf_counter() - started) * 1000, 3)
            fields = {"subject": subject, "code": code, "duration_ms": duration_ms}
            self._log.debug("served %s: %s in %.1f ms", subject, code, duration_ms, extra={"fields": fields})

    def attach(self, bus: Bus) -> None:
        bus.use(self)


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

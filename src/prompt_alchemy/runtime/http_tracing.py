"""Each HTTP request runs in a bus ``RequestContext``: the gateway's own log lines carry its trace id.

The gateway forwards a caller's ``traceparent`` to the bus; this outermost middleware also makes
it (or a new trace, when the caller sent none) the current context while the request is
answered, so every line the HTTP process logs for it — a 5xx warning, an error — and every bus
request it makes belong to one trace. No deadline is set: the gateway gives each bus request its own.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from prompt_alchemy.bus.context import TRACEPARENT_HEADER, RequestContext, reset_current, set_current

__all__ = ["trace_middleware", "trace_requests"]


def trace_middleware() -> Middleware:
    @web.middleware
    async def trace(request: web.Request, handler: Handler) -> web.StreamResponse:
        traceparent = request.headers.get(TRACEPARENT_HEADER, "").strip().lower()
        headers = {TRACEPARENT_HEADER: traceparent} if traceparent else {}
        token = set_current(RequestContext.from_headers(f"http {request.method} {request.path}", headers))
        try:
            return await handler(request)
        finally:
            reset_current(token)

    return trace


def trace_requests(app: web.Application) -> None:
    """Put the trace middleware first in ``app``'s chain (call before the app starts)."""
    app.middlewares.insert(0, trace_middleware())

"""What handlers and middleware read from the application: typed aiohttp ``AppKey``s."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from prompt_alchemy.bus import Bus
from prompt_alchemy.gateway.feedback import FeedbackSink
from prompt_alchemy.gateway.http.metrics import HttpMetrics
from prompt_alchemy.gateway.http.settings import HttpSettings

__all__ = ["BUS", "FEEDBACK", "METRICS", "OPENAPI", "PUBLIC_ROUTES", "SETTINGS", "trace_headers"]

BUS = web.AppKey("bus", Bus)
FEEDBACK: web.AppKey[FeedbackSink] = web.AppKey("feedback")
SETTINGS = web.AppKey("settings", HttpSettings)
METRICS = web.AppKey("metrics", HttpMetrics)
PUBLIC_ROUTES = web.AppKey("public_routes", frozenset[str])
OPENAPI = web.AppKey("openapi", dict[str, Any])

_TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")


def trace_headers(request: web.Request) -> dict[str, str]:
    """Carry the caller's W3C trace into the bus, so a request is one trace end to end."""
    traceparent = request.headers.get("traceparent", "").strip().lower()
    return {"traceparent": traceparent} if _TRACEPARENT.match(traceparent) else {}

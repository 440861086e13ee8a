"""CORS for browser callers of configured origins (``"*"`` allows any).

Headers are added when a response is prepared, so streamed (SSE) responses get them too;
preflight ``OPTIONS`` requests are answered before routing and authentication, as browsers
send them without credentials.
"""

from __future__ import annotations

from aiohttp import web

__all__ = ["CorsPolicy"]

ALLOWED_METHODS = "GET, POST, PATCH, DELETE, OPTIONS"
ALLOWED_HEADERS = "Authorization, Content-Type, Accept, traceparent"
EXPOSED_HEADERS = "Retry-After"
PREFLIGHT_MAX_AGE_S = "600"


class CorsPolicy:
    def __init__(self, origins: tuple[str, ...]) -> None:
        self.any_origin = "*" in origins
        self.origins = frozenset(origin.rstrip("/") for origin in origins if origin != "*")

    def allows(self, origin: str | None) -> bool:
        return bool(origin) and (self.any_origin or (origin or "").rstrip("/") in self.origins)

    def _allow_origin(self, origin: str) -> str:
        return "*" if self.any_origin else origin

    async def on_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        origin = request.headers.get("Origin")
        if not self.allows(origin):
            return
        assert origin is not None
        response.headers["Access-Control-Allow-Origin"] = self._allow_origin(origin)
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        if not self.any_origin:
            response.headers.add("Vary", "Origin")

    def preflight(self, request: web.Request) -> web.Response | None:
        """The answer to a CORS preflight ``OPTIONS``, or None when the request is not one."""
        origin = request.headers.get("Origin")
        is_preflight = request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers
        if not is_preflight or origin is None:
            return None
        response = web.Response(status=204)
        if self.allows(origin):
            response.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
            response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
            response.headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE_S
        return response

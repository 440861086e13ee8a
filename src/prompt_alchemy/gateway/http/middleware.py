"""The middleware chain, outermost first: trace, metrics, errors, Host/Origin, CORS preflight,
security, body size.

- ``trace`` runs the request in a bus ``RequestContext`` (the caller's ``traceparent``, or a new
  trace): every bus request the gateway makes for it and every line it logs carry one trace id.

- ``errors`` turns every exception into a JSON ``ErrorBody`` with the right status: aiohttp's
  own (404 route, 405 method, 413 body), ``ServiceError`` (its code), bus failures
  (NoResponders 503, RequestTimeout 504); never a stack trace.
- ``host_and_origin`` refuses a Host or Origin off the allow-lists (``gateway.access``), so a
  DNS-rebinding or cross-site page can neither read nor write.
- ``security`` checks the bearer API key (constant-time) and the per-caller rate limit.
- ``body_size`` refuses a declared ``Content-Length`` over the limit before reading it;
  aiohttp's ``client_max_size`` catches undeclared (chunked) bodies while reading.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from prompt_alchemy.bus.context import TRACEPARENT_HEADER, RequestContext, bound_context
from prompt_alchemy.errors import PayloadTooLarge, RateLimited
from prompt_alchemy.gateway.access import Gatekeeper
from prompt_alchemy.gateway.failures import error_body
from prompt_alchemy.gateway.http.metrics import route_label
from prompt_alchemy.gateway.http.responses import error_response
from prompt_alchemy.gateway.http.settings import HttpSettings
from prompt_alchemy.gateway.http.state import METRICS, PUBLIC_ROUTES
from prompt_alchemy.schemas.errors import ErrorBody

__all__ = ["body_size_middleware", "error_middleware", "origin_middleware", "security_middleware", "trace_middleware"]


def trace_middleware() -> Middleware:
    @web.middleware
    async def trace(request: web.Request, handler: Handler) -> web.StreamResponse:
        traceparent = request.headers.get(TRACEPARENT_HEADER, "").strip().lower()
        headers = {TRACEPARENT_HEADER: traceparent} if traceparent else {}
        with bound_context(RequestContext.from_headers(f"http {request.method} {request.path}", headers)):
            return await handler(request)

    return trace


log = logging.getLogger(__name__)

_HTTP_KINDS = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large", 415: "unsupported_media_type"}


def _http_error_body(request: web.Request, error: web.HTTPException, max_body: int) -> ErrorBody:
    if error.status == 404:
        message = f"no route for {request.method} {request.path}"
    elif error.status == 405:
        message = f"{request.method} is not allowed on {request.path}"
    elif error.status == 413:
        message = f"the request body is over the {max_body}-byte limit"
    else:
        message = error.reason
    details = {"limit": max_body} if error.status == 413 else {}
    return ErrorBody(
        code=error.status, kind=_HTTP_KINDS.get(error.status, "http_error"), message=message, details=details
    )


def error_middleware(settings: HttpSettings) -> Middleware:
    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException as error:
            if error.status < 400:
                raise
            headers = {"Allow": error.headers["Allow"]} if "Allow" in error.headers else None
            return error_response(_http_error_body(request, error, settings.max_body_bytes), headers)
        except asyncio.CancelledError:
            raise
        except ConnectionError:
            log.debug("%s %s: the client went away", request.method, request.path)
            raise
        except Exception as error:
            body = error_body(error)
            if body.code >= 500:
                log.warning("%s %s failed: %s %s", request.method, request.path, body.code, body.message)
            headers = {"WWW-Authenticate": 'Bearer realm="prompt-alchemy"'} if body.code == 401 else None
            return error_response(body, headers)

    return errors


def origin_middleware(gatekeeper: Gatekeeper) -> Middleware:
    """Host and Origin against the allow-lists, before anything else reads the request."""

    @web.middleware
    async def host_and_origin(request: web.Request, handler: Handler) -> web.StreamResponse:
        host = request.headers.get("Host")
        gatekeeper.check_host(host)
        gatekeeper.check_origin(request.headers.get("Origin"), host)
        return await handler(request)

    return host_and_origin


def security_middleware(gatekeeper: Gatekeeper) -> Middleware:
    """The bearer API key and the per-caller rate limit, on every route that is not public."""

    @web.middleware
    async def security(request: web.Request, handler: Handler) -> web.StreamResponse:
        if route_label(request) in request.app[PUBLIC_ROUTES]:
            return await handler(request)
        caller = gatekeeper.authenticate(request.headers.get("Authorization"), request.remote)
        try:
            gatekeeper.throttle(caller)
        except RateLimited:
            request.app[METRICS].rate_limited.inc()
            raise
        return await handler(request)

    return security


def body_size_middleware(settings: HttpSettings) -> Middleware:
    @web.middleware
    async def body_size(request: web.Request, handler: Handler) -> web.StreamResponse:
        length = request.content_length
        if length is not None and length > settings.max_body_bytes:
            raise PayloadTooLarge(
                f"the request body is {length} bytes, over the {settings.max_body_bytes}-byte limit",
                details={"size": length, "limit": settings.max_body_bytes},
            )
        return await handler(request)

    return body_size

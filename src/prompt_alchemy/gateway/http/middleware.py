"""The gateway's middleware chain, outermost first: trace, metrics, errors, Host/Origin, CORS
preflight, security, body size — run as one aiohttp middleware (``gateway_middleware``).

- ``trace`` runs the request in a bus ``RequestContext`` (the caller's ``traceparent``, or a new
  trace): every bus request the gateway makes for it and every line it logs carry one trace id.
- ``metrics`` (when on) counts the request in flight, then its answer by route template and
  status, and how long it took.
- ``errors`` turns every exception into a JSON ``ErrorBody`` with the right status: aiohttp's
  own (404 route, 405 method, 413 body), ``ServiceError`` (its code), bus failures
  (NoResponders 503, RequestTimeout 504); never a stack trace.
- ``host_and_origin`` refuses a Host or Origin off the allow-lists (``gateway.access``), so a
  DNS-rebinding or cross-site page can neither read nor write.
- CORS preflight ``OPTIONS`` are answered here, before authentication (browsers send them
  without credentials).
- ``security`` checks the bearer API key (constant-time) and the per-caller rate limit.
- ``body_size`` refuses a declared ``Content-Length`` over the limit before reading it;
  aiohttp's ``client_max_size`` catches undeclared (chunked) bodies while reading.

One middleware rather than seven: aiohttp runs each middleware as a coroutine of its own behind
a ``functools.partial``, a few microseconds per layer and request — measurable on the feedback
path, where the whole answer costs a few hundred (``bench/feedback.py``). The steps keep their
order and their behaviour; each check is a plain function.
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
from prompt_alchemy.gateway.http.cors import CorsPolicy
from prompt_alchemy.gateway.http.metrics import HttpMetrics, route_label
from prompt_alchemy.gateway.http.responses import error_response
from prompt_alchemy.gateway.http.settings import HttpSettings
from prompt_alchemy.gateway.http.state import METRICS, PUBLIC_ROUTES
from prompt_alchemy.schemas.errors import ErrorBody

__all__ = ["gateway_middleware"]

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


def _request_context(request: web.Request) -> RequestContext:
    traceparent = request.headers.get(TRACEPARENT_HEADER, "").strip().lower()
    headers = {TRACEPARENT_HEADER: traceparent} if traceparent else {}
    return RequestContext.from_headers(f"http {request.method} {request.path}", headers)


def _check_host_and_origin(gatekeeper: Gatekeeper, request: web.Request) -> None:
    """Host and Origin against the allow-lists, before anything else reads the request."""
    host = request.headers.get("Host")
    gatekeeper.check_host(host)
    gatekeeper.check_origin(request.headers.get("Origin"), host)


def _check_caller(gatekeeper: Gatekeeper, request: web.Request, route: str) -> None:
    """The bearer API key and the per-caller rate limit, on every route that is not public."""
    if route in request.app[PUBLIC_ROUTES]:
        return
    caller = gatekeeper.authenticate(request.headers.get("Authorization"), request.remote)
    try:
        gatekeeper.throttle(caller)
    except RateLimited:
        request.app[METRICS].rate_limited.inc()
        raise


def _check_body_size(max_body: int, request: web.Request) -> None:
    length = request.content_length
    if length is not None and length > max_body:
        raise PayloadTooLarge(
            f"the request body is {length} bytes, over the {max_body}-byte limit",
            details={"size": length, "limit": max_body},
        )


def gateway_middleware(
    settings: HttpSettings, gatekeeper: Gatekeeper, cors: CorsPolicy, metrics: HttpMetrics | None
) -> Middleware:
    """The chain of the module docstring; ``metrics`` None leaves the requests uncounted."""
    max_body = settings.max_body_bytes

    @web.middleware
    async def gateway(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = route_label(request)
        started = metrics.started() if metrics is not None else 0.0
        status = 500
        try:
            with bound_context(_request_context(request)):
                response = await _answer(request, handler, route)
            status = response.status
            return response
        except web.HTTPException as error:  # a redirect: aiohttp answers it
            status = error.status
            raise
        finally:
            if metrics is not None:
                metrics.answered(request.method, route, status, started)

    async def _answer(request: web.Request, handler: Handler, route: str) -> web.StreamResponse:
        """errors around the checks and the handler."""
        try:
            _check_host_and_origin(gatekeeper, request)
            preflight = cors.preflight(request)
            if preflight is not None:
                return preflight
            _check_caller(gatekeeper, request, route)
            _check_body_size(max_body, request)
            return await handler(request)
        except web.HTTPException as error:
            if error.status < 400:
                raise
            headers = {"Allow": error.headers["Allow"]} if "Allow" in error.headers else None
            return error_response(_http_error_body(request, error, max_body), headers)
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

    return gateway

"""The HTTP/1.1 connection handler: aiohttp's, with JSON protocol errors and a hang-up on idlers.

aiohttp answers a request it cannot parse (a line or header over the limit, too many headers,
bad encoding, a malformed request line) before any middleware runs, as ``text/plain`` with a
logged traceback. ``JsonErrorRequestHandler`` answers those with the same ``ErrorBody`` every
other error has and logs one debug line: a malformed request is the client's problem, not ours.
A client that hangs up mid-request is a debug line too.

aiohttp's keep-alive timer already runs from the moment a connection opens and is not reset by
bytes that do not complete a request head, so ``keepalive_timeout`` (``ConnectionTimeouts.idle_s``)
closes idle connections and slow-drip header senders alike.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from prompt_alchemy.schemas.errors import ErrorBody

__all__ = ["MAX_FIELD_BYTES", "MAX_HEADERS", "MAX_LINE_BYTES", "JsonErrorRequestHandler"]

log = logging.getLogger(__name__)

MAX_LINE_BYTES = 128 * 1024
"""The request line: every query parameter at its documented maximum, percent-encoded, fits."""
MAX_FIELD_BYTES = 16 * 1024
MAX_HEADERS = 100

_KINDS = {400: "bad_request", 413: "payload_too_large", 431: "headers_too_large"}


def protocol_error_body(status: int, exc: BaseException | None, message: str | None) -> ErrorBody:
    if isinstance(exc, HttpProcessingError):
        status = exc.code or status
        text = exc.message or message or "malformed HTTP request"
    elif status >= 500:
        text = "the server failed to answer this request"
    else:
        text = message or "malformed HTTP request"
    if isinstance(exc, HttpProcessingError) and status < 500:
        text = f"malformed HTTP request: {text}"
    return ErrorBody(code=status, kind=_KINDS.get(status, "bad_request" if status < 500 else "internal"), message=text)


class JsonErrorRequestHandler(web.RequestHandler):
    """aiohttp's connection handler with ``handle_error`` answering ``ErrorBody`` JSON (aiohttp has no
    hook for errors raised before the app runs: aio-libs/aiohttp#3287)."""

    def handle_error(
        self,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if isinstance(exc, ConnectionError):
            log.debug("client %s went away mid-request", request.remote)
        elif status < 500:
            log.debug("malformed request from %s: %s", request.remote, exc or message)
        else:
            log.warning("request from %s failed: %r", request.remote, exc)
        if request.writer.output_size > 0:
            raise ConnectionError("the response had started: no error answer can follow")
        body = protocol_error_body(status, exc, message)
        response = web.Response(status=body.code, body=body.model_dump_json(), content_type="application/json")
        response.force_close()
        return response

"""The MCP HTTP door's guard: the API's gatekeeper in front of the SDK's Starlette app.

Every HTTP request to ``/mcp`` passes ``gateway.access`` first — Host, Origin, the bearer API
key, the rate limit — and a refusal is the same JSON ``ErrorBody`` the HTTP API answers. A POST
body must then be ``application/json`` (415) and arrive within the body timeout (408) and the
size limit (413) before the SDK sees it. The SDK's own DNS-rebinding check turns itself off on a non-loopback bind and
answers text; this guard is on whatever the bind address.
"""

from __future__ import annotations

import asyncio
import math

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from prompt_alchemy.errors import BodyTimeout, PayloadTooLarge, ServiceError, UnsupportedMediaType
from prompt_alchemy.gateway.access import Gatekeeper
from prompt_alchemy.schemas.errors import ErrorBody

__all__ = ["McpDoor"]


async def send_error(send: Send, error: ServiceError) -> None:
    body = ErrorBody.from_error(error)
    headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
    if body.code == 401:
        headers.append((b"www-authenticate", b'Bearer realm="prompt-alchemy"'))
    retry_after = body.details.get("retry_after")
    if body.code == 429 and isinstance(retry_after, int | float):
        headers.append((b"retry-after", str(max(1, math.ceil(retry_after))).encode()))
    encoded = body.model_dump_json().encode()
    headers.append((b"content-length", str(len(encoded)).encode()))
    await send({"type": "http.response.start", "status": body.code, "headers": headers})
    await send({"type": "http.response.body", "body": encoded})


class McpDoor:
    """ASGI middleware: admit (or refuse with JSON), then hand a fully read body to ``app``."""

    def __init__(self, app: ASGIApp, gatekeeper: Gatekeeper, *, body_s: float, max_body_bytes: int) -> None:
        self.app = app
        self.gatekeeper = gatekeeper
        self.body_s = body_s
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        authorization = next((value for name, value in scope["headers"] if name == b"authorization"), None)
        client = scope.get("client")
        try:
            host = headers.get("host")
            self.gatekeeper.check_host(host)
            self.gatekeeper.check_origin(headers.get("origin"), host)
            caller = self.gatekeeper.authenticate(authorization, client[0] if client else None)
            self.gatekeeper.throttle(caller)
            messages: list[Message] = []
            if scope["method"] == "POST":
                self._require_json(headers.get("content-type"))
                messages = await self._read_body(receive)
        except ServiceError as error:
            await send_error(send, error)
            return
        pending = list(messages)

        async def replay() -> Message:
            return pending.pop(0) if pending else await receive()

        await self.app(scope, replay, send)

    @staticmethod
    def _require_json(content_type: str | None) -> None:
        if (content_type or "").split(";")[0].strip().lower() != "application/json":
            shown = (content_type or "none")[:100]
            raise UnsupportedMediaType(
                f"the request body must be application/json, not {shown}",
                details={"content_type": shown, "accepted": ["application/json"]},
            )

    async def _read_body(self, receive: Receive) -> list[Message]:
        """The whole body, as the messages that carried it, or the error that stops it."""
        messages: list[Message] = []
        size = 0
        try:
            async with asyncio.timeout(self.body_s):
                while True:
                    message = await receive()
                    messages.append(message)
                    if message["type"] != "http.request":
                        return messages
                    size += len(message.get("body", b""))
                    if size > self.max_body_bytes:
                        raise PayloadTooLarge.over_limit("the request body", size, self.max_body_bytes)
                    if not message.get("more_body", False):
                        return messages
        except TimeoutError as error:
            raise BodyTimeout(f"the request body did not arrive within {self.body_s:g} s") from error

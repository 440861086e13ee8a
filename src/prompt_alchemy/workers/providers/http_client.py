"""The one place that talks HTTP to vendors: aiohttp in, ``ProviderError`` out, keys scrubbed.

Translation (most specific first): a timeout -> retriable ProviderError (code 504); any other
aiohttp/OS connection failure -> retriable ProviderError; HTTP 408/409/425/429/5xx -> retriable
ProviderError carrying ``retry_after`` when the vendor sent one; other 4xx -> non-retriable
ProviderError with the vendor's own message; a 2xx body that is not JSON -> non-retriable
ProviderError. Every message passes through ``redact``; ``details["vendor_status"]`` holds the
HTTP status. A 429 that says the quota or spend limit is used up is not retriable. Decoding
errors are not chained: their ``doc`` would carry the raw body.

Streamed replies (``stream_chat``) fail the same way before the body begins; once it has begun,
a broken connection, a timeout or an end of body before the vendor's own end marker is a
retriable ProviderError with ``details["reason"] == "stream_cut"`` (the reply is incomplete:
nothing of it may be used as a whole answer).

Redirects are never followed: a 3xx is a non-retriable ProviderError naming where it pointed.
Following one would replay the request, API key headers included, to whatever origin the
``Location`` names (a proxy or a compromised base URL could collect the keys that way).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp

from prompt_alchemy.errors import ProviderError
from prompt_alchemy.workers.providers.policy import parse_retry_after
from prompt_alchemy.workers.providers.secrets import SecretKey, redact
from prompt_alchemy.workers.providers.wire.base import HttpCall, ParsedCompletion, WireFormat

__all__ = [
    "USER_AGENT",
    "DeltaSink",
    "VendorHttp",
    "VendorTarget",
    "is_retriable_status",
    "ndjson_payloads",
    "sse_events",
]

DeltaSink = Callable[[str], Awaitable[None]]

USER_AGENT = "prompt-alchemy/0.1"
_RETRIABLE_STATUSES = frozenset({408, 409, 425, 429})
_SNIPPET_CHARS = 300


def is_retriable_status(status: int) -> bool:
    return status in _RETRIABLE_STATUSES or status >= 500


class _Received:
    """Characters of a streamed reply passed on so far."""

    __slots__ = ("characters",)

    def __init__(self) -> None:
        self.characters = 0


@dataclass(frozen=True, slots=True)
class VendorTarget:
    """Where a provider's calls go: its name and wire format, base URL, key and extra headers,
    and its clock (for ``Retry-After`` dates)."""

    provider: str
    wire: WireFormat
    url: str
    key: SecretKey | None
    extra_headers: Mapping[str, str]
    now: Callable[[], datetime]


class VendorHttp:
    """One ``aiohttp.ClientSession`` for every vendor call of a registry, opened lazily."""

    def __init__(self, *, connection_limit: int = 100) -> None:
        self._connection_limit = connection_limit
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._connection_limit)
            self._session = aiohttp.ClientSession(connector=connector, headers={"User-Agent": USER_AGENT})
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def post_json(self, target: VendorTarget, call: HttpCall, timeout_s: float) -> Any:
        """POST ``call`` to the target and return the decoded JSON of a 2xx reply."""
        provider, wire, key = target.provider, target.wire, target.key
        async with self._send(target, call, timeout_s) as response:
            raw = await response.read()
        try:
            return json.loads(raw)
        except ValueError:
            snippet = redact(raw[:80].decode("utf-8", "replace"), [key])
            raise ProviderError(
                f"{provider}: malformed {wire.vendor} response: not JSON ({snippet!r})",
                details={"provider": provider, "reason": "malformed_response", "vendor_status": response.status},
            ) from None

    async def stream_chat(
        self, target: VendorTarget, call: HttpCall, timeout_s: float, on_delta: DeltaSink
    ) -> ParsedCompletion:
        """POST ``call`` for a streamed reply; every text delta goes to ``on_delta`` as it arrives."""
        provider, wire, key = target.provider, target.wire, target.key
        reader = wire.stream_reader()
        received = _Received()
        async with self._send(target, call, timeout_s, received) as response:
            chunks = response.content.iter_any()
            frames = ndjson_payloads(chunks) if wire.framing == "ndjson" else sse_events(chunks)
            async for event, data in frames:
                payload = _decode_payload(provider, wire, data, key)
                try:
                    delta = reader.feed(event, payload)
                except ProviderError as error:
                    raise ProviderError(
                        redact(f"{provider}: {error.message}", [key]),
                        code=error.code,
                        retriable=error.retriable,
                        details={**error.details, "provider": provider},
                    ) from None
                if delta:
                    received.characters += len(delta)
                    await on_delta(delta)
        if not reader.finished:
            raise ProviderError(
                f"{provider}: the {wire.vendor} stream ended before its end marker "
                f"after {received.characters} characters: the reply is incomplete",
                retriable=True,
                details={"provider": provider, "reason": "stream_cut"},
            )
        return reader.result()

    @asynccontextmanager
    async def _send(
        self, target: VendorTarget, call: HttpCall, timeout_s: float, received: _Received | None = None
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """POST ``call`` and give the 2xx response; the one translation of both kinds of call.

        A redirect or an error status is a ProviderError before the block runs; a timeout or a
        connection failure, before or inside the block (while the body is read), is a retriable
        one. ``received`` (a streamed call) counts what was passed on, which makes a failure
        after the first text a ``stream_cut``.
        """
        provider, wire, key = target.provider, target.wire, target.key
        headers = {"Content-Type": "application/json", **target.extra_headers, **call.headers, **wire.auth_headers(key)}
        try:
            async with self._open().post(
                target.url.rstrip("/") + call.path,
                json=call.body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=timeout_s),
                allow_redirects=False,
            ) as response:
                status = response.status
                if 300 <= status < 400:
                    where = redact(response.headers.get("Location", "").split("?")[0], [key]) or "nowhere"
                    raise ProviderError(
                        f"{provider}: {wire.vendor} answered with a redirect (HTTP {status}) to {where}; vendor "
                        "calls do not follow redirects: set the provider's base URL to the final address",
                        details={"provider": provider, "reason": "redirect", "vendor_status": status},
                    )
                if status >= 400:
                    raw = await response.read()
                    retry_after = parse_retry_after(response.headers.get("Retry-After"), target.now())
                    raise self._vendor_error(provider, wire, status, raw, retry_after, key)
                yield response
        except TimeoutError as exc:
            if received is None:
                message, reason = f"no answer from {wire.vendor} within {timeout_s:g}s", "timeout"
            else:
                message = (
                    f"{wire.vendor} did not finish its streamed reply within {timeout_s:g}s"
                    f" ({received.characters} characters received)"
                )
                reason = "stream_cut" if received.characters else "timeout"
            raise ProviderError(
                f"{provider}: {message}", code=504, retriable=True, details={"provider": provider, "reason": reason}
            ) from exc
        except (aiohttp.ClientError, OSError) as exc:
            cause = redact(f"{type(exc).__name__}: {exc}", [key])
            if received is None:
                message, reason = f"cannot reach {wire.vendor} ({cause})", "connection"
            else:
                message = f"the {wire.vendor} stream broke after {received.characters} characters ({cause})"
                reason = "stream_cut" if received.characters else "connection"
            raise ProviderError(
                f"{provider}: {message}", retriable=True, details={"provider": provider, "reason": reason}
            ) from exc

    @staticmethod
    def _vendor_error(
        provider: str, wire: WireFormat, status: int, raw: bytes, retry_after: float | None, key: SecretKey | None
    ) -> ProviderError:
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = None
        message = wire.error_message(body) if body is not None else None
        if message is None:
            message = raw[:_SNIPPET_CHARS].decode("utf-8", "replace").strip() or "no error message"
        details: dict[str, Any] = {"provider": provider, "vendor_status": status}
        if retry_after is not None:
            details["retry_after"] = retry_after
        exhausted = body is not None and wire.exhausted(body)
        if exhausted:
            details["reason"] = "quota_exhausted"
        return ProviderError(
            redact(f"{provider}: {wire.vendor} answered HTTP {status}: {message}", [key]),
            retriable=is_retriable_status(status) and not exhausted,
            details=details,
        )


def _decode_payload(provider: str, wire: WireFormat, data: str, key: SecretKey | None) -> Any:
    if data == "[DONE]":  # OpenAI's end marker is the one payload that is not JSON
        return data
    try:
        return json.loads(data)
    except ValueError:
        snippet = redact(data[:80], [key])
        raise ProviderError(
            f"{provider}: malformed {wire.vendor} stream: a payload is not JSON ({snippet!r})",
            details={"provider": provider, "reason": "malformed_response"},
        ) from None


async def _lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[str]:
    """Decoded lines without their ending (LF or CRLF), whatever the chunk boundaries were."""
    pending = b""
    async for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line.removesuffix(b"\r").decode("utf-8", "replace")
    if pending:
        yield pending.removesuffix(b"\r").decode("utf-8", "replace")


async def sse_events(chunks: AsyncIterator[bytes]) -> AsyncIterator[tuple[str | None, str]]:
    """Server-sent events as (event name or None, data) per the WHATWG event-stream rules."""
    event: str | None = None
    data: list[str] = []
    async for line in _lines(chunks):
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = None, []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
    if data:
        yield event, "\n".join(data)


async def ndjson_payloads(chunks: AsyncIterator[bytes]) -> AsyncIterator[tuple[str | None, str]]:
    """One JSON text per non-empty line (no event names in NDJSON)."""
    async for line in _lines(chunks):
        if line.strip():
            yield None, line

"""The one place that talks HTTP to vendors: aiohttp in, ``ProviderError`` out, keys scrubbed.

Translation (most specific first): a timeout -> retriable ProviderError (code 504); any other
aiohttp/OS connection failure -> retriable ProviderError; HTTP 408/409/425/429/5xx -> retriable
ProviderError carrying ``retry_after`` when the vendor sent one; other 4xx -> non-retriable
ProviderError with the vendor's own message; a 2xx body that is not JSON -> non-retriable
ProviderError. Every message passes through ``redact``; ``details["vendor_status"]`` holds the
HTTP status. A 429 that says the quota or spend limit is used up is not retriable. Decoding
errors are not chained: their ``doc`` would carry the raw body.

Redirects are never followed: a 3xx is a non-retriable ProviderError naming where it pointed.
Following one would replay the request, API key headers included, to whatever origin the
``Location`` names (a proxy or a compromised base URL could collect the keys that way).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import aiohttp

from prompt_alchemy.errors import ProviderError
from prompt_alchemy.workers.providers.policy import parse_retry_after
from prompt_alchemy.workers.providers.secrets import SecretKey, redact
from prompt_alchemy.workers.providers.wire.base import HttpCall, WireFormat

__all__ = ["USER_AGENT", "VendorHttp", "is_retriable_status"]

USER_AGENT = "prompt-alchemy/0.1"
_RETRIABLE_STATUSES = frozenset({408, 409, 425, 429})
_SNIPPET_CHARS = 300


def is_retriable_status(status: int) -> bool:
    return status in _RETRIABLE_STATUSES or status >= 500


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

    async def post_json(
        self,
        *,
        provider: str,
        wire: WireFormat,
        url: str,
        call: HttpCall,
        key: SecretKey | None,
        extra_headers: Mapping[str, str],
        timeout_s: float,
        now: Callable[[], datetime],
    ) -> Any:
        """POST ``call`` to ``url`` and return the decoded JSON of a 2xx reply."""
        headers = {"Content-Type": "application/json", **extra_headers, **call.headers, **wire.auth_headers(key)}
        target = url.rstrip("/") + call.path
        try:
            async with self._open().post(
                target,
                json=call.body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=timeout_s),
                allow_redirects=False,
            ) as response:
                raw = await response.read()
                status = response.status
                retry_after = parse_retry_after(response.headers.get("Retry-After"), now())
                location = response.headers.get("Location", "")
        except TimeoutError as exc:
            raise ProviderError(
                f"{provider}: no answer from {wire.vendor} within {timeout_s:g}s",
                code=504,
                retriable=True,
                details={"provider": provider, "reason": "timeout"},
            ) from exc
        except (aiohttp.ClientError, OSError) as exc:
            reason = redact(f"{type(exc).__name__}: {exc}", [key])
            raise ProviderError(
                f"{provider}: cannot reach {wire.vendor} ({reason})",
                retriable=True,
                details={"provider": provider, "reason": "connection"},
            ) from exc
        if 300 <= status < 400:
            where = redact(location.split("?")[0], [key]) or "nowhere"
            raise ProviderError(
                f"{provider}: {wire.vendor} answered with a redirect (HTTP {status}) to {where}; vendor calls do "
                "not follow redirects: set the provider's base URL to the final address",
                details={"provider": provider, "reason": "redirect", "vendor_status": status},
            )
        if status >= 400:
            raise self._vendor_error(provider, wire, status, raw, retry_after, key)
        try:
            return json.loads(raw)
        except ValueError:
            snippet = redact(raw[:80].decode("utf-8", "replace"), [key])
            raise ProviderError(
                f"{provider}: malformed {wire.vendor} response: not JSON ({snippet!r})",
                details={"provider": provider, "reason": "malformed_response", "vendor_status": status},
            ) from None

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

"""Providers as the registry sees them: one protocol, HTTP vendors and the offline one as peers.

An ``HttpProvider`` joins a vendor's ``WireFormat`` to the shared ``VendorHttp``; it reads its
key from the environment on every call and reports usage as the vendor counted it, or a local
estimate flagged ``estimated`` when the vendor sent none. Given an ``on_delta`` sink, a
completion is streamed in the vendor's streaming wire format and each text delta reaches the
sink as it arrives; the completion returned is the same as without streaming.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from prompt_alchemy.errors import ProviderError, Unavailable, Unprocessable
from prompt_alchemy.schemas.common import Usage
from prompt_alchemy.schemas.providers import CompletionRequest, ProviderCapabilities
from prompt_alchemy.workers.providers.http_client import DeltaSink, VendorHttp, VendorTarget
from prompt_alchemy.workers.providers.secrets import SecretKey, read_key, redact
from prompt_alchemy.workers.providers.settings import ProviderKind, ProviderSettings
from prompt_alchemy.workers.providers.token_estimate import estimate_usage
from prompt_alchemy.workers.providers.wire import (
    ANTHROPIC,
    GEMINI,
    OLLAMA,
    OPENAI,
    OPENAI_COMPATIBLE,
    ChatParams,
    ParsedCompletion,
    WireFormat,
)

__all__ = ["HttpProvider", "Provider", "ProviderCompletion", "ProviderEmbeddings", "wire_for"]


@dataclass(frozen=True, slots=True)
class ProviderCompletion:
    content: str
    model: str
    usage: Usage


@dataclass(frozen=True, slots=True)
class ProviderEmbeddings:
    vectors: list[list[float]]
    model: str
    usage: Usage


class Provider(Protocol):
    """What the registry needs from a provider; retries and breaking live in the registry."""

    @property
    def settings(self) -> ProviderSettings: ...

    @property
    def capabilities(self) -> ProviderCapabilities: ...

    def unavailable_reason(self) -> str | None:
        """Why this provider cannot be called now (no key, not configured), or None."""
        ...

    async def complete(
        self, request: CompletionRequest, model: str, timeout_s: float, on_delta: DeltaSink | None = None
    ) -> ProviderCompletion:
        """The whole completion; with ``on_delta``, its text is also handed over piece by piece as it comes."""
        ...

    async def embed(self, texts: Sequence[str], model: str, timeout_s: float) -> ProviderEmbeddings: ...


_WIRES: Mapping[ProviderKind, WireFormat] = {
    ProviderKind.OPENAI: OPENAI,
    ProviderKind.ANTHROPIC: ANTHROPIC,
    ProviderKind.GEMINI: GEMINI,
    ProviderKind.OLLAMA: OLLAMA,
    ProviderKind.OPENROUTER: OPENAI_COMPATIBLE,
    ProviderKind.XAI: OPENAI_COMPATIBLE,
    ProviderKind.OPENAI_COMPATIBLE: OPENAI_COMPATIBLE,
}


def wire_for(kind: ProviderKind) -> WireFormat:
    return _WIRES[kind]


class HttpProvider:
    def __init__(
        self,
        settings: ProviderSettings,
        http: VendorHttp,
        *,
        environ: Mapping[str, str],
        now: Callable[[], datetime],
    ) -> None:
        self._settings = settings
        self._wire = wire_for(settings.kind)
        self._http = http
        self._environ = environ
        self._now = now

    @property
    def settings(self) -> ProviderSettings:
        return self._settings

    @property
    def capabilities(self) -> ProviderCapabilities:
        return ProviderCapabilities(generation=True, embeddings=self._settings.embedding_model is not None)

    def unavailable_reason(self) -> str | None:
        if self._settings.base_url is None:
            return f"not configured: {self._settings.configure_hint}"
        if self._settings.key_required and self._key() is None:
            return f"no API key: {self._settings.configure_hint}"
        return None

    def _key(self) -> SecretKey | None:
        return read_key(self._settings.api_key_env, self._environ)

    def _target(self) -> VendorTarget:
        settings = self._settings
        reason = self.unavailable_reason()
        if reason is not None or settings.base_url is None:
            raise Unavailable(
                f"provider {settings.name!r} is not available: {reason}",
                retriable=False,
                details={"provider": settings.name, "reason": reason},
            )
        return VendorTarget(settings.name, self._wire, settings.base_url, self._key(), settings.headers, self._now)

    async def complete(
        self, request: CompletionRequest, model: str, timeout_s: float, on_delta: DeltaSink | None = None
    ) -> ProviderCompletion:
        target = self._target()
        params = ChatParams(model, request.messages, request.temperature, request.max_tokens, request.response_schema)
        if on_delta is not None:
            streamed = await self._http.stream_chat(target, self._wire.stream_call(params), timeout_s, on_delta)
            return self._completion(request, model, streamed)
        body = await self._http.post_json(target, self._wire.chat_call(params), timeout_s)
        try:
            parsed = self._wire.parse_chat(body)
        except ProviderError as error:
            raise self._named(error, target.key) from None
        return self._completion(request, model, parsed)

    @staticmethod
    def _completion(request: CompletionRequest, model: str, parsed: ParsedCompletion) -> ProviderCompletion:
        usage = parsed.usage or estimate_usage((message.content for message in request.messages), parsed.content)
        return ProviderCompletion(parsed.content, parsed.model or model, usage)

    async def embed(self, texts: Sequence[str], model: str, timeout_s: float) -> ProviderEmbeddings:
        target = self._target()
        if self._settings.embedding_model is None:
            raise Unprocessable(
                f"provider {self._settings.name!r} offers no embeddings", details={"provider": self._settings.name}
            )
        body = await self._http.post_json(target, self._wire.embed_call(model, texts), timeout_s)
        try:
            parsed = self._wire.parse_embed(body, len(texts))
        except ProviderError as error:
            raise self._named(error, target.key) from None
        return ProviderEmbeddings(parsed.vectors, model, parsed.usage or estimate_usage(texts))

    def _named(self, error: ProviderError, key: SecretKey | None) -> ProviderError:
        return ProviderError(
            redact(f"{self._settings.name}: {error.message}", [key]),
            code=error.code,
            retriable=error.retriable,
            details={**error.details, "provider": self._settings.name},
        )

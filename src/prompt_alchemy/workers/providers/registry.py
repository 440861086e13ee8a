"""ProviderRegistry: every provider, the default and fallback order, and the policy around each call.

``complete`` resolves a chain of providers: the named one (or the configured default), then, when
``fallback`` allows, the fallback order. Each provider is called under its own policy (timeout,
retries with backoff on retriable failures, circuit breaker, concurrency limit). A provider that
fails, is not configured, or has an open circuit hands over to the next; the reply lists those in
``fallback_from``. A model the caller named that the provider does not know is a ``NotFound``
(a typo is not worth silently answering with another model). Fallback providers use their own
default model. Embeddings never fall back: vectors of different models are not comparable.

Streaming (``complete(..., on_delta=sink)``): each provider streams its reply into the sink as the
vendor sends it. Retries and fallback happen only before the first delta went out: once a
listener has seen text, another attempt would show it a second, different text under the same
chain, so a failure after that point ends the call with the provider's (retriable) error. A
cached reply reaches the sink as one delta.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit, urlunsplit

from prompt_alchemy.errors import (
    DeadlineExceeded,
    NotFound,
    ProviderError,
    ServiceError,
    Unavailable,
    Unprocessable,
)
from prompt_alchemy.schemas.health import CheckResult
from prompt_alchemy.schemas.providers import (
    ChatMessage,
    CircuitState,
    CompletionReply,
    CompletionRequest,
    EmbedReply,
    EmbedRequest,
    ProviderInfo,
    ProvidersListReply,
    ProviderTestReply,
    ProviderTestRequest,
)
from prompt_alchemy.workers.providers.cache import CompletionCache, request_digest
from prompt_alchemy.workers.providers.circuit import CircuitBreaker
from prompt_alchemy.workers.providers.clients import HttpProvider, Provider, ProviderCompletion
from prompt_alchemy.workers.providers.http_client import DeltaSink, VendorHttp
from prompt_alchemy.workers.providers.offline.provider import OfflineProvider
from prompt_alchemy.workers.providers.policy import Clock, Sleep, call_with_retries
from prompt_alchemy.workers.providers.settings import (
    PREFERENCE_ORDER,
    ProviderKind,
    ProvidersConfig,
    from_env,
)

__all__ = ["ProviderRegistry"]

_log = logging.getLogger("prompt_alchemy.providers")
_TEST_PROMPT = "Reply with the single word: pong"


class _StreamGate:
    """Passes deltas on and remembers whether any went out (after that: no retry, no fallback)."""

    def __init__(self, sink: DeltaSink) -> None:
        self._sink = sink
        self.sent = 0

    def silent(self) -> bool:
        return self.sent == 0

    async def send(self, delta: str) -> None:
        if delta:
            self.sent += len(delta)
            await self._sink(delta)


@dataclass(slots=True)
class _Guard:
    breaker: CircuitBreaker
    semaphore: asyncio.Semaphore


def _unknown_model(error: ProviderError, provider: str, model: str) -> NotFound | None:
    """A vendor 404 means the model does not exist there: a NotFound naming it (None for other errors)."""
    if error.details.get("vendor_status") != 404:
        return None
    return NotFound(
        f"model {model!r} not found at provider {provider!r}: {error.message}",
        details={**error.details, "model": model},
    )


def _public_url(url: str | None) -> str | None:
    """A base URL without user info, query or fragment (those can carry credentials)."""
    if url is None:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class ProviderRegistry:
    """The providers worker's core, independent of the bus (``service.py`` wires it to subjects).

    ``environ`` is read at call time for keys (default: the live ``os.environ``); ``sleep``,
    ``clock`` (monotonic seconds), ``wall_clock`` (for HTTP-date Retry-After) and ``rng`` (jitter)
    are injectable so tests observe backoff without waiting for it.
    """

    def __init__(
        self,
        config: ProvidersConfig | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        rng: random.Random | None = None,
    ) -> None:
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self.config = config if config is not None else from_env(self.environ)
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        self._http = VendorHttp()
        self.cache = CompletionCache(self.config.cache_size)
        self._providers: dict[str, Provider] = {}
        self._guards: dict[str, _Guard] = {}
        for settings in self.config.providers:
            provider: Provider
            if settings.kind is ProviderKind.OFFLINE:
                provider = OfflineProvider(settings)
            else:
                provider = HttpProvider(settings, self._http, environ=self.environ, now=wall_clock)
            self._providers[settings.name] = provider
            breaker = CircuitBreaker(
                threshold=settings.policy.breaker_threshold, cooldown_s=settings.policy.breaker_cooldown_s, clock=clock
            )
            self._guards[settings.name] = _Guard(breaker, asyncio.Semaphore(settings.policy.concurrency))

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        rng: random.Random | None = None,
    ) -> ProviderRegistry:
        """A registry configured from environment variables (see ``settings``)."""
        env = os.environ if environ is None else environ
        return cls(from_env(env), environ=env, sleep=sleep, clock=clock, wall_clock=wall_clock, rng=rng)

    async def aclose(self) -> None:
        """Close the shared HTTP session."""
        await self._http.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ catalogue

    @property
    def names(self) -> builtins.list[str]:
        return list(self._providers)

    def provider(self, name: str) -> Provider:
        provider = self._providers.get(name)
        if provider is None:
            raise NotFound(
                f"unknown provider {name!r}; known: {', '.join(self._providers)}", details={"provider": name}
            )
        return provider

    def circuit(self, name: str) -> CircuitBreaker:
        self.provider(name)
        return self._guards[name].breaker

    def _ordered_available(self, *, embeddings: bool = False) -> builtins.list[str]:
        order = [name for name in PREFERENCE_ORDER if name in self._providers]
        order += [name for name in self._providers if name not in order]
        return [
            name
            for name in order
            if self._providers[name].unavailable_reason() is None
            and (not embeddings or self._providers[name].capabilities.embeddings)
        ]

    def default_name(self) -> str:
        """The configured default, or the first provider with a key (the offline one when none has)."""
        if self.config.default is not None:
            return self.config.default
        return self._first_available(self._ordered_available(), "generation")

    def fallback_order(self) -> builtins.list[str]:
        """The configured order, or every other available provider in preference order (offline last)."""
        if self.config.fallback_order is not None:
            return list(self.config.fallback_order)
        default = self.default_name()
        return [name for name in self._ordered_available() if name != default]

    def embed_default_name(self) -> str:
        if self.config.embed_default is not None:
            return self.config.embed_default
        return self._first_available(self._ordered_available(embeddings=True), "embeddings")

    @staticmethod
    def _first_available(names: builtins.list[str], capability: str) -> str:
        if not names:
            raise Unavailable(f"no provider offering {capability} is configured", retriable=False)
        return names[0]

    def info(self, name: str) -> ProviderInfo:
        provider = self.provider(name)
        settings = provider.settings
        breaker = self._guards[name].breaker
        reason = provider.unavailable_reason()
        if reason is None and breaker.state is CircuitState.OPEN:
            reason = (
                f"circuit open after {breaker.consecutive_failures} consecutive failures; "
                f"next probe in {breaker.retry_in():.0f}s"
            )
        return ProviderInfo(
            name=name,
            kind=settings.kind.value,
            available=reason is None,
            reason=reason,
            capabilities=provider.capabilities,
            models=settings.all_models,
            default_model=settings.default_model,
            embedding_model=settings.embedding_model,
            base_url=_public_url(settings.base_url),
            circuit=breaker.state,
            offline=settings.kind is ProviderKind.OFFLINE,
        )

    def list(self) -> ProvidersListReply:
        return ProvidersListReply(
            providers=[self.info(name) for name in self._providers],
            default=self.default_name(),
            fallback_order=self.fallback_order(),
        )

    # ------------------------------------------------------------------ calls

    def _deadline(self, timeout_s: float | None) -> float | None:
        return None if timeout_s is None else self._clock() + timeout_s

    async def _complete_on(
        self,
        provider: Provider,
        model: str,
        request: CompletionRequest,
        deadline: float | None,
        stream: _StreamGate | None = None,
    ) -> tuple[ProviderCompletion, int]:
        name = provider.settings.name
        reason = provider.unavailable_reason()
        if reason is not None:
            raise Unavailable(
                f"provider {name!r} is not available: {reason}",
                retriable=False,
                details={"provider": name, "reason": reason},
            )

        async def attempt(timeout_s: float) -> ProviderCompletion:
            try:
                if stream is None:
                    return await provider.complete(request, model, timeout_s)
                return await provider.complete(request, model, timeout_s, stream.send)
            except ProviderError as error:
                missing = _unknown_model(error, name, model)
                if missing is None:
                    raise
                raise missing from error

        guard = self._guards[name]
        return await call_with_retries(
            attempt,
            provider=name,
            policy=provider.settings.policy,
            breaker=guard.breaker,
            semaphore=guard.semaphore,
            sleep=self._sleep,
            clock=self._clock,
            rng=self._rng,
            deadline=deadline,
            may_retry=None if stream is None else stream.silent,
        )

    def _chain(self, request: CompletionRequest) -> builtins.list[tuple[Provider, str, bool]]:
        primary = self.provider(request.provider or self.default_name())
        chain = [(primary, request.model or primary.settings.default_model, request.model is not None)]
        if request.fallback:
            for name in self.fallback_order():
                if name != primary.settings.name:
                    fallback = self.provider(name)
                    chain.append((fallback, fallback.settings.default_model, False))
        return chain

    def _cost(self, provider: Provider, model: str, completion: ProviderCompletion) -> float:
        if provider.settings.kind.is_local:
            return 0.0
        return self.config.prices.cost(model, completion.usage)

    async def complete(
        self, request: CompletionRequest, *, timeout_s: float | None = None, on_delta: DeltaSink | None = None
    ) -> CompletionReply:
        """One completion with retries, circuit breaking, fallback, usage, cost and latency.

        With ``on_delta`` the reply's text is also streamed into it as the vendor sends it.
        """
        started = self._clock()
        stream = None if on_delta is None else _StreamGate(on_delta)
        deadline = self._deadline(timeout_s)
        chain = self._chain(request)
        head, head_model, _ = chain[0]
        key = request_digest(request, provider=head.settings.name, model=head_model)
        if request.use_cache and self.cache.max_entries > 0:
            hit = self.cache.get(key)
            if hit is not None:
                if stream is not None:
                    await stream.send(hit.content)
                latency = (self._clock() - started) * 1000
                return hit.model_copy(update={"cached": True, "cost_usd": 0.0, "latency_ms": latency, "attempts": 1})
        failures: builtins.list[tuple[str, ServiceError]] = []
        for position, (provider, model, named) in enumerate(chain):
            name = provider.settings.name
            try:
                completion, attempts = await self._complete_on(provider, model, request, deadline, stream)
            except DeadlineExceeded:
                raise
            except ServiceError as error:
                if stream is not None and not stream.silent():
                    error.details["streamed_chars"] = stream.sent
                    raise  # text already went out: another provider's answer would be a second text
                if isinstance(error, NotFound) and named:
                    raise  # the caller's model is unknown; a NotFound of a default model tries the next
                failures.append((name, error))
                if position + 1 < len(chain) and not isinstance(error, NotFound):
                    _log.warning("provider %s failed, trying the next: %s", name, error.message)
                continue
            reply = CompletionReply(
                provider=name,
                model=completion.model,
                content=completion.content,
                usage=completion.usage,
                cost_usd=self._cost(provider, completion.model, completion),
                latency_ms=(self._clock() - started) * 1000,
                attempts=attempts,
                fallback_from=[failed for failed, _ in failures],
                offline=provider.settings.kind is ProviderKind.OFFLINE,
            )
            if request.use_cache and not failures:  # a fallback answer is not what the request asked for
                self.cache.put(key, reply)
            return reply
        raise self._all_failed(failures)

    @staticmethod
    def _all_failed(failures: builtins.list[tuple[str, ServiceError]]) -> ServiceError:
        if len(failures) == 1:
            return failures[0][1]
        summary = "; ".join(f"{name}: {error.message}" for name, error in failures)
        return ProviderError(
            f"every provider failed: {summary}",
            retriable=any(error.retriable for _, error in failures),
            details={
                "failures": [
                    {"provider": name, "code": error.code, "message": error.message} for name, error in failures
                ]
            },
        )

    async def embed(self, request: EmbedRequest, *, timeout_s: float | None = None) -> EmbedReply:
        """Embeddings from the named provider or the embedding default; no fallback."""
        name = request.provider or self.embed_default_name()
        provider = self.provider(name)
        if not provider.capabilities.embeddings or provider.settings.embedding_model is None:
            raise Unprocessable(f"provider {name!r} offers no embeddings", details={"provider": name})
        reason = provider.unavailable_reason()
        if reason is not None:
            raise Unavailable(
                f"provider {name!r} is not available: {reason}", retriable=False, details={"provider": name}
            )
        model = request.model or provider.settings.embedding_model
        guard = self._guards[name]

        async def attempt(timeout: float) -> EmbedReply:
            try:
                result = await provider.embed(request.texts, model, timeout)
            except ProviderError as error:
                missing = _unknown_model(error, name, model)
                if missing is None:
                    raise
                raise missing from error
            return EmbedReply(
                provider=name,
                model=result.model,
                dimension=len(result.vectors[0]),
                vectors=result.vectors,
                usage=result.usage,
            )

        reply, _ = await call_with_retries(
            attempt,
            provider=name,
            policy=provider.settings.policy,
            breaker=guard.breaker,
            semaphore=guard.semaphore,
            sleep=self._sleep,
            clock=self._clock,
            rng=self._rng,
            deadline=self._deadline(timeout_s),
        )
        return reply

    async def test(self, request: ProviderTestRequest) -> ProviderTestReply:
        """A real minimal call (one attempt, no fallback, no cache); failures are answers, not errors."""
        provider = self.provider(request.name)
        model = request.model or provider.settings.default_model
        reason = provider.unavailable_reason()
        if reason is not None:
            return ProviderTestReply(name=request.name, ok=False, model=model, message=reason)
        probe = CompletionRequest(
            provider=request.name,
            model=model,
            messages=[ChatMessage(role="user", content=_TEST_PROMPT)],
            temperature=0.0,
            max_tokens=16,
            fallback=False,
            use_cache=False,
        )
        started = self._clock()
        guard = self._guards[request.name]
        try:
            async with guard.semaphore:
                completion = await provider.complete(probe, model, provider.settings.policy.timeout_s)
        except ServiceError as error:
            latency = (self._clock() - started) * 1000
            return ProviderTestReply(
                name=request.name, ok=False, model=model, latency_ms=latency, message=error.message
            )
        guard.breaker.record_success()
        latency = (self._clock() - started) * 1000
        preview = " ".join(completion.content.split())[:60]
        return ProviderTestReply(
            name=request.name, ok=True, model=completion.model, latency_ms=latency, message=f"answered: {preview!r}"
        )

    async def health(self) -> dict[str, CheckResult]:
        """One check per usable provider: ok unless its circuit is open."""
        checks: dict[str, CheckResult] = {}
        for name, provider in self._providers.items():
            if provider.unavailable_reason() is not None:
                continue
            state = self._guards[name].breaker.state
            checks[f"provider:{name}"] = CheckResult(
                ok=state is not CircuitState.OPEN, message=f"circuit {state.value}"
            )
        return checks

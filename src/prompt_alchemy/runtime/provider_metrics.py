"""Provider metrics: tokens, cost, retries, fallbacks and circuit state, per provider.

The providers worker keeps no running totals, but every ``CompletionReply`` says which
provider answered, with which model, how many tokens it cost, how many attempts it took and
which providers failed before it. ``MeteredProviderRegistry`` is the worker's registry with
each reply counted on its way out; circuit states are read from the registry at scrape time.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from prompt_alchemy.errors import ServiceError
from prompt_alchemy.schemas.providers import CircuitState, CompletionReply, CompletionRequest, EmbedReply, EmbedRequest
from prompt_alchemy.workers.providers.http_client import DeltaSink
from prompt_alchemy.workers.providers.registry import ProviderRegistry

__all__ = ["MeteredProviderRegistry", "ProviderMetrics"]

_PROVIDER_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class _Circuits(Collector):
    """One series per provider and circuit state, 1 for the state it is in now."""

    def __init__(self, registry: ProviderRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterator[GaugeMetricFamily]:
        states = GaugeMetricFamily(
            "alchemy_provider_circuit_state",
            "Circuit breaker state per provider (1 for the current state)",
            labels=["provider", "state"],
        )
        for name in self._registry.names:
            current = self._registry.circuit(name).state
            for state in CircuitState:
                states.add_metric([name, state.value], 1.0 if state is current else 0.0)
        yield states


class ProviderMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.completions = Counter(
            "alchemy_provider_completions", "Completions answered, by the provider and model that answered",
            ["provider", "model", "cached"], registry=registry,
        )  # fmt: skip
        self.tokens = Counter(
            "alchemy_provider_tokens", "Tokens used, by provider, model and direction (input/output)",
            ["provider", "model", "direction"], registry=registry,
        )  # fmt: skip
        self.cost = Counter(
            "alchemy_provider_cost_usd", "Spend in US dollars, by provider and model", ["provider", "model"],
            registry=registry,
        )  # fmt: skip
        self.retries = Counter(
            "alchemy_provider_retries", "Attempts beyond the first, by the provider that answered", ["provider"],
            registry=registry,
        )  # fmt: skip
        self.fallbacks = Counter(
            "alchemy_provider_fallbacks", "Completions another provider answered after this one failed", ["provider"],
            registry=registry,
        )  # fmt: skip
        self.failures = Counter(
            "alchemy_provider_failures", "Completions no provider could answer, by status code", ["code"],
            registry=registry,
        )  # fmt: skip
        self.embeddings = Counter(
            "alchemy_provider_embedded_texts", "Texts embedded, by provider and model", ["provider", "model"],
            registry=registry,
        )  # fmt: skip
        self.latency = Histogram(
            "alchemy_provider_completion_seconds", "Time to a completion (retries and fallbacks included)",
            ["provider"], registry=registry, buckets=_PROVIDER_BUCKETS,
        )  # fmt: skip

    def watch(self, providers: ProviderRegistry) -> None:
        self.registry.register(_Circuits(providers))

    def completed(self, reply: CompletionReply) -> None:
        self.completions.labels(reply.provider, reply.model, str(reply.cached).lower()).inc()
        if reply.cached:
            return
        self.tokens.labels(reply.provider, reply.model, "input").inc(reply.usage.input_tokens)
        self.tokens.labels(reply.provider, reply.model, "output").inc(reply.usage.output_tokens)
        self.cost.labels(reply.provider, reply.model).inc(reply.cost_usd)
        self.retries.labels(reply.provider).inc(reply.attempts - 1)
        for failed in reply.fallback_from:
            self.fallbacks.labels(failed).inc()
        self.latency.labels(reply.provider).observe(reply.latency_ms / 1000)

    def failed(self, error: ServiceError) -> None:
        self.failures.labels(str(error.code)).inc()

    def embedded(self, reply: EmbedReply) -> None:
        self.embeddings.labels(reply.provider, reply.model).inc(len(reply.vectors))


class MeteredProviderRegistry(ProviderRegistry):
    """The providers worker's registry, reporting every reply to ``ProviderMetrics`` once told to."""

    _metrics: ProviderMetrics | None = None

    def report_to(self, metrics: ProviderMetrics) -> None:
        self._metrics = metrics
        metrics.watch(self)

    async def complete(
        self, request: CompletionRequest, *, timeout_s: float | None = None, on_delta: DeltaSink | None = None
    ) -> CompletionReply:
        try:
            reply = await super().complete(request, timeout_s=timeout_s, on_delta=on_delta)
        except ServiceError as error:
            if self._metrics is not None:
                self._metrics.failed(error)
            raise
        if self._metrics is not None:
            self._metrics.completed(reply)
        return reply

    async def embed(self, request: EmbedRequest, *, timeout_s: float | None = None) -> EmbedReply:
        reply = await super().embed(request, timeout_s=timeout_s)
        if self._metrics is not None:
            self._metrics.embedded(reply)
        return reply

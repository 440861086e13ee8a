"""The providers worker on the bus: ``alchemy.v1.providers.{list,get,test,complete,complete_batch,embed,health}``,
and ``alchemy.v1.engine.analyze`` (the brief: an LLM's structured output, or the offline analyser's).

Each handler passes the caller's remaining deadline to the registry, which clips per-attempt
timeouts and backoff waits to it; the bus's deadline middleware (composed by the runtime) turns
anything still running at the deadline into ``DeadlineExceeded``. A completion that names a ``stream`` is streamed from
the vendor and its deltas are published as ``TOKEN`` events (``token_events``) before the reply.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

from prompt_alchemy.bus import Bus, RequestContext, ServiceRunner
from prompt_alchemy.bus.failures import as_service_error
from prompt_alchemy.errors import DeadlineExceeded
from prompt_alchemy.schemas import (
    ENGINE_ANALYZE,
    PROVIDERS_COMPLETE,
    PROVIDERS_COMPLETE_BATCH,
    PROVIDERS_EMBED,
    PROVIDERS_GET,
    PROVIDERS_HEALTH,
    PROVIDERS_LIST,
    PROVIDERS_TEST,
)
from prompt_alchemy.schemas.brief import AnalyzeRequest, Brief
from prompt_alchemy.schemas.errors import ErrorBody
from prompt_alchemy.schemas.health import CheckResult
from prompt_alchemy.schemas.providers import (
    CompletionBatchReply,
    CompletionBatchRequest,
    CompletionOutcome,
    CompletionReply,
    CompletionRequest,
    EmbedReply,
    EmbedRequest,
    ProviderGetRequest,
    ProviderInfo,
    ProvidersListReply,
    ProvidersListRequest,
    ProviderTestReply,
    ProviderTestRequest,
)
from prompt_alchemy.workers.lifecycle import WORKER_VERSION, Worker
from prompt_alchemy.workers.providers.brief_reader import read_brief
from prompt_alchemy.workers.providers.registry import ProviderRegistry
from prompt_alchemy.workers.providers.token_events import TokenPublisher

__all__ = ["PROVIDERS_SERVICE_NAME", "ProvidersWorker", "build_providers_service"]

PROVIDERS_SERVICE_NAME = "providers"


class ProvidersWorker(Worker):
    """The providers worker over ``registry`` (the caller's: it closes it after ``stop()``)."""

    name = PROVIDERS_SERVICE_NAME

    def __init__(self, bus: Bus, registry: ProviderRegistry, *, concurrency: int = 64) -> None:
        super().__init__()
        self.registry = registry
        self.service = _service(bus, registry, concurrency)

    async def _open(self, resources: AsyncExitStack) -> None:
        await self.service.start()
        resources.push_async_callback(self.service.stop)

    async def health(self) -> dict[str, CheckResult]:
        return await self.registry.health()


build_providers_service = ProvidersWorker
"""The providers worker's constructor by its older name (``async with`` it, or ``start()``/``stop()``)."""


def _service(bus: Bus, registry: ProviderRegistry, concurrency: int) -> ServiceRunner:
    runner = ServiceRunner(
        bus,
        name=PROVIDERS_SERVICE_NAME,
        version=WORKER_VERSION,
        description="LLM vendors and the offline provider: completions and embeddings with retries, "
        "circuit breaking, fallback and cost accounting.",
        health=registry.health,
        health_contract=PROVIDERS_HEALTH,
        default_concurrency=concurrency,
    )

    async def list_providers(_request: ProvidersListRequest, _context: RequestContext) -> ProvidersListReply:
        return registry.list()

    async def get_provider(request: ProviderGetRequest, _context: RequestContext) -> ProviderInfo:
        return registry.info(request.name)

    async def probe_provider(request: ProviderTestRequest, _context: RequestContext) -> ProviderTestReply:
        return await registry.test(request)

    async def complete_one(request: CompletionRequest, timeout_s: float | None) -> CompletionReply:
        if request.stream is None:
            return await registry.complete(request, timeout_s=timeout_s)
        publisher = TokenPublisher(bus, request.stream)
        try:
            return await registry.complete(request, timeout_s=timeout_s, on_delta=publisher.send)
        finally:
            await publisher.close()

    async def complete(request: CompletionRequest, context: RequestContext) -> CompletionReply:
        return await complete_one(request, context.remaining())

    async def complete_batch(request: CompletionBatchRequest, context: RequestContext) -> CompletionBatchReply:
        """Every item at once, each answered as ``complete`` would; the caller's deadline ends them all."""
        remaining = context.remaining()
        answers = await asyncio.gather(
            *(complete_one(item, remaining) for item in request.items), return_exceptions=True
        )
        results: list[CompletionOutcome] = []
        for index, answer in enumerate(answers):
            if isinstance(answer, DeadlineExceeded) or not isinstance(answer, CompletionReply | Exception):
                raise answer  # the whole request's deadline passed, or it was cancelled
            if isinstance(answer, CompletionReply):
                results.append(CompletionOutcome(reply=answer))
            else:
                failure = as_service_error(answer, doing=f"completion {index} of the batch")
                results.append(CompletionOutcome(error=ErrorBody.from_error(failure)))
        return CompletionBatchReply(results=results)

    async def embed(request: EmbedRequest, context: RequestContext) -> EmbedReply:
        return await registry.embed(request, timeout_s=context.remaining())

    runner.add_endpoint(PROVIDERS_LIST, list_providers, concurrency=8)
    runner.add_endpoint(PROVIDERS_GET, get_provider, concurrency=8)
    runner.add_endpoint(PROVIDERS_TEST, probe_provider, concurrency=4)
    runner.add_endpoint(PROVIDERS_COMPLETE, complete)
    runner.add_endpoint(PROVIDERS_COMPLETE_BATCH, complete_batch)

    async def analyze(request: AnalyzeRequest, context: RequestContext) -> Brief:
        return await read_brief(registry, request, timeout_s=context.remaining())

    runner.add_endpoint(PROVIDERS_EMBED, embed)
    runner.add_endpoint(ENGINE_ANALYZE, analyze, concurrency=16)
    return runner

"""The providers worker on the bus: ``alchemy.v1.providers.{list,get,test,complete,embed,health}``,
and ``alchemy.v1.engine.analyze`` (the brief: an LLM's structured output, or the offline analyser's).

Each handler passes the caller's remaining deadline to the registry, which clips per-attempt
timeouts and backoff waits to it; an ``asyncio.timeout`` backstop turns anything still running
at the deadline into ``DeadlineExceeded``. A completion that names a ``stream`` is streamed from
the vendor and its deltas are published as ``TOKEN`` events (``token_events``) before the reply.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pydantic import BaseModel

from prompt_alchemy.bus import Bus, RequestContext, RequestHandler, ServiceRunner
from prompt_alchemy.errors import DeadlineExceeded
from prompt_alchemy.schemas import (
    ENGINE_ANALYZE,
    PROVIDERS_COMPLETE,
    PROVIDERS_EMBED,
    PROVIDERS_GET,
    PROVIDERS_LIST,
    PROVIDERS_TEST,
)
from prompt_alchemy.schemas.brief import AnalyzeRequest, Brief
from prompt_alchemy.schemas.providers import (
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
from prompt_alchemy.workers.providers.brief_reader import read_brief
from prompt_alchemy.workers.providers.registry import ProviderRegistry
from prompt_alchemy.workers.providers.token_events import TokenPublisher

__all__ = ["PROVIDERS_SERVICE_NAME", "PROVIDERS_SERVICE_VERSION", "build_providers_service"]

PROVIDERS_SERVICE_NAME = "providers"
PROVIDERS_SERVICE_VERSION = "0.1.0"

ReqT = TypeVar("ReqT", bound=BaseModel)
RepT = TypeVar("RepT", bound=BaseModel)


def _within_deadline(
    operation: Callable[[ReqT, float | None], Awaitable[RepT]],
) -> RequestHandler[ReqT, RepT]:
    async def handle(request: ReqT, context: RequestContext) -> RepT:
        remaining = context.remaining()
        try:
            async with asyncio.timeout(None if remaining is None else max(remaining, 0.0)) as scope:
                return await operation(request, remaining)
        except TimeoutError as error:
            if scope.expired():
                raise DeadlineExceeded(f"the caller's deadline passed during {context.subject}") from error
            raise

    return handle


def build_providers_service(bus: Bus, registry: ProviderRegistry, *, concurrency: int = 64) -> ServiceRunner:
    """A ServiceRunner over ``registry``; ``start()`` it to serve. The caller closes the registry after ``stop()``."""
    runner = ServiceRunner(
        bus,
        name=PROVIDERS_SERVICE_NAME,
        version=PROVIDERS_SERVICE_VERSION,
        description="LLM vendors and the offline provider: completions and embeddings with retries, "
        "circuit breaking, fallback and cost accounting.",
        health=registry.health,
        default_concurrency=concurrency,
    )

    async def list_providers(_request: ProvidersListRequest, _remaining: float | None) -> ProvidersListReply:
        return registry.list()

    async def get_provider(request: ProviderGetRequest, _remaining: float | None) -> ProviderInfo:
        return registry.info(request.name)

    async def probe_provider(request: ProviderTestRequest, _remaining: float | None) -> ProviderTestReply:
        return await registry.test(request)

    async def complete(request: CompletionRequest, remaining: float | None) -> CompletionReply:
        if request.stream is None:
            return await registry.complete(request, timeout_s=remaining)
        publisher = TokenPublisher(bus, request.stream)
        try:
            return await registry.complete(request, timeout_s=remaining, on_delta=publisher.send)
        finally:
            await publisher.close()

    async def embed(request: EmbedRequest, remaining: float | None) -> EmbedReply:
        return await registry.embed(request, timeout_s=remaining)

    runner.add_endpoint(PROVIDERS_LIST, _within_deadline(list_providers), concurrency=8)
    runner.add_endpoint(PROVIDERS_GET, _within_deadline(get_provider), concurrency=8)
    runner.add_endpoint(PROVIDERS_TEST, _within_deadline(probe_provider), concurrency=4)
    runner.add_endpoint(PROVIDERS_COMPLETE, _within_deadline(complete))

    async def analyze(request: AnalyzeRequest, remaining: float | None) -> Brief:
        return await read_brief(registry, request, timeout_s=remaining)

    runner.add_endpoint(PROVIDERS_EMBED, _within_deadline(embed))
    runner.add_endpoint(ENGINE_ANALYZE, _within_deadline(analyze), concurrency=16)
    return runner

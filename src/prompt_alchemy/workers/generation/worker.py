"""The generation engine as a bus worker: ``alchemy.v1.engine.*`` served by one ADR-32 service.

The composition root builds it with ``EngineWorker(bus, settings)`` and enters it (``async with``,
or ``start()`` and ``stop()``). Start loads the ranking weights from learning (defaults if it does not answer),
subscribes to weight updates (every replica, no queue group) and serves the endpoints.
"""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack

from prompt_alchemy import schemas
from prompt_alchemy.bus import Bus, RequestContext, ServiceRunner
from prompt_alchemy.errors import AlchemyError
from prompt_alchemy.schemas.engine import (
    BatchReply,
    BatchRequest,
    CapabilitiesReply,
    CapabilitiesRequest,
    GenerateReply,
    GenerateRequest,
    OptimizeReply,
    OptimizeRequest,
    SelectReply,
    SelectRequest,
)
from prompt_alchemy.schemas.health import CheckResult, HealthRequest
from prompt_alchemy.schemas.providers import ProvidersListRequest
from prompt_alchemy.workers.generation.batch import run_batch
from prompt_alchemy.workers.generation.capabilities import describe_capabilities
from prompt_alchemy.workers.generation.completions import ProviderCaller
from prompt_alchemy.workers.generation.generation import Generator
from prompt_alchemy.workers.generation.judge import LlmJudge
from prompt_alchemy.workers.generation.optimizer import Optimizer
from prompt_alchemy.workers.generation.selection import Selector
from prompt_alchemy.workers.generation.settings import EngineSettings
from prompt_alchemy.workers.generation.weights import WeightsBook
from prompt_alchemy.workers.lifecycle import Worker

__all__ = ["SERVICE_NAME", "EngineWorker", "build_engine_worker"]

log = logging.getLogger(__name__)

SERVICE_NAME = "engine"


class EngineWorker(Worker):
    """One engine replica: its endpoints, its weights, its weight-update subscription."""

    name = SERVICE_NAME

    def __init__(self, bus: Bus, settings: EngineSettings) -> None:
        super().__init__()
        self.bus = bus
        self.settings = settings
        timeouts, limits = settings.timeouts, settings.limits
        self.weights = WeightsBook(
            bus, enabled=settings.learning_enabled, timeout_s=timeouts.learning_s, retry_s=timeouts.weights_retry_s
        )
        self.caller = ProviderCaller(bus, timeout_s=timeouts.provider_s, max_in_flight=limits.provider_calls)
        self.judge = LlmJudge(self.caller, provider=settings.judge_provider, model=settings.judge_model)
        self.generator = Generator(bus, settings, self.caller, self.judge, self.weights)
        self.optimizer = Optimizer(bus, settings, self.caller, self.judge, self.weights)
        self.selector = Selector(settings, self.judge, self.weights)
        self.service = ServiceRunner(
            bus,
            name=SERVICE_NAME,
            version=settings.version,
            description="Generation engine: phases, personas, ranking, judge, optimise, batch",
            health=self.health,
            health_contract=schemas.ENGINE_HEALTH,
        )
        self.service.add_endpoint(schemas.ENGINE_GENERATE, self._generate, concurrency=limits.generate)
        self.service.add_endpoint(schemas.ENGINE_OPTIMIZE, self._optimize, concurrency=limits.optimize)
        self.service.add_endpoint(schemas.ENGINE_BATCH, self._batch, concurrency=limits.batch)
        self.service.add_endpoint(schemas.ENGINE_SELECT, self._select, concurrency=limits.select)
        self.service.add_endpoint(schemas.ENGINE_CAPABILITIES, self._capabilities, concurrency=limits.capabilities)

    async def _open(self, resources: AsyncExitStack) -> None:
        """Weights first (subscribed, then loaded), then serve; stopping drains, then drops the weights."""
        resources.push_async_callback(self.weights.close)
        if self.settings.learning_enabled:
            # Subscribe before loading: an update published in between is not lost (versions order them).
            subscription = await self.bus.subscribe(schemas.EVENTS_WEIGHTS_UPDATED, self.weights.on_updated)
            resources.push_async_callback(subscription.unsubscribe)
            await self.weights.load()
        await self.service.start()
        resources.push_async_callback(self.service.stop)
        log.info("engine started (weights: %s)", self.weights.source)

    # -- endpoints ---------------------------------------------------------------------------
    async def _generate(self, request: GenerateRequest, context: RequestContext) -> GenerateReply:
        return await self.generator.generate(request, context)

    async def _optimize(self, request: OptimizeRequest, context: RequestContext) -> OptimizeReply:
        return await self.optimizer.optimize(request, context)

    async def _batch(self, request: BatchRequest, context: RequestContext) -> BatchReply:
        return await run_batch(self.generator, request, context)

    async def _select(self, request: SelectRequest, context: RequestContext) -> SelectReply:
        return await self.selector.select(request, context)

    async def _capabilities(self, request: CapabilitiesRequest, _context: RequestContext) -> CapabilitiesReply:
        return await describe_capabilities(self.bus, self.settings, request)

    # -- health ------------------------------------------------------------------------------
    async def health(self) -> dict[str, CheckResult]:
        """Can this replica generate (providers), save (storage), and with which weights."""
        timeout = self.settings.timeouts.health_s
        checks: dict[str, CheckResult] = {}
        try:
            listing = await self.bus.request(schemas.PROVIDERS_LIST, ProvidersListRequest(), timeout=timeout)
            available = [info.name for info in listing.providers if info.available]
            checks["providers"] = CheckResult(
                ok=bool(available), message=f"available: {', '.join(available) or 'none'}; default {listing.default}"
            )
        except AlchemyError as error:
            checks["providers"] = CheckResult(ok=False, message=f"{type(error).__name__}: {error}")
        try:
            storage = await self.bus.request(schemas.STORAGE_HEALTH, HealthRequest(), timeout=timeout)
            checks["storage"] = CheckResult(ok=storage.status != "down", message=f"storage is {storage.status}")
        except AlchemyError as error:
            checks["storage"] = CheckResult(ok=False, message=f"{type(error).__name__}: {error}; prompts are not saved")
        checks["weights"] = CheckResult(ok=True, message=f"version {self.weights.version}: {self.weights.source}")
        return checks


def build_engine_worker(bus: Bus, settings: EngineSettings | None = None) -> EngineWorker:
    """The engine worker for the composition root; call ``await worker.start()`` to serve."""
    return EngineWorker(bus, settings or EngineSettings())

"""A worker as an ADR-32 (NATS micro) service, identical on both buses.

nats-py's ``nats.micro`` runs one handler at a time per endpoint and does not drain on stop,
so the runner implements the protocol itself on top of ``Bus``: endpoints with bounded
concurrency and per-endpoint stats, and the discovery subjects ``$SRV.PING|INFO|STATS``
(plain, ``.<name>`` and ``.<name>.<id>``) answering the documented JSON shapes. The in-memory
bus therefore answers discovery exactly like NATS, and ``nats micro ls`` works on a cluster.

The runner knows only what it is handed: the endpoints, and the contract its health check
answers on (``health_contract``); it never looks a contract up. Through the same discovery it
takes a ``Census`` of the other instances of its service when an endpoint is full, so that its
endpoints decline only what another instance could take.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel

from prompt_alchemy.bus.census import Census
from prompt_alchemy.bus.context import RequestContext
from prompt_alchemy.bus.core import Bus, RequestHandler, ServeStats
from prompt_alchemy.bus.discovery import discover_pings, discovery_subject
from prompt_alchemy.bus.transport import RawHandler, RawMessage, Subscription
from prompt_alchemy.errors import ConfigError
from prompt_alchemy.schemas.contract import RequestContract
from prompt_alchemy.schemas.health import (
    CheckResult,
    EndpointInfo,
    EndpointStats,
    HealthReply,
    HealthRequest,
    ServiceInfo,
    ServicePing,
    ServiceStats,
)

__all__ = ["Endpoint", "HealthCheck", "ServiceRunner"]

log = logging.getLogger(__name__)

DEFAULT_QUEUE_GROUP = "q"
CENSUS_WAIT_S = 2.0  # a census gathers discovery answers for at most this long,
CENSUS_QUIET_S = 0.5  # or until none came for this long (a loaded peer answers late)
_NAME = re.compile(r"^[A-Za-z0-9_\-]+$")
_SEMVER = re.compile(r"^\d+\.\d+\.\d+(?:-[0-9A-Za-z.\-]+)?(?:\+[0-9A-Za-z.\-]+)?$")

ReqT = TypeVar("ReqT", bound=BaseModel)
RepT = TypeVar("RepT", bound=BaseModel)

HealthCheck = Callable[[], Awaitable[dict[str, CheckResult]]]


@dataclass(eq=False)
class Endpoint:
    """One served contract and its ADR-32 counters (kept by the bus: ``Bus.serve(stats=...)``)."""

    contract: RequestContract[Any, Any]
    handler: RequestHandler[Any, Any]
    concurrency: int
    queue_group: str
    backlog: int | None = None
    served: ServeStats = field(default_factory=ServeStats)
    subscription: Subscription | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.contract.method

    def info(self) -> EndpointInfo:
        return EndpointInfo(
            name=self.name,
            subject=self.contract.subject,
            queue_group=self.queue_group,
            metadata={
                "request_model": self.contract.request.__name__,
                "reply_model": self.contract.reply.__name__,
                "kind": self.contract.kind.value,
                "concurrency": str(self.concurrency),
            },
        )

    def stats(self) -> EndpointStats:
        served = self.served
        average = served.processing_time // served.num_requests if served.num_requests else 0
        return EndpointStats(
            name=self.name,
            subject=self.contract.subject,
            queue_group=self.queue_group,
            num_requests=served.num_requests,
            num_errors=served.num_errors,
            last_error=served.last_error,
            processing_time=served.processing_time,
            average_processing_time=average,
        )


class ServiceRunner:
    """Declare endpoints from the registry, then ``start()``; ``stop()`` drains them."""

    def __init__(
        self,
        bus: Bus,
        *,
        name: str,
        version: str,
        description: str = "",
        metadata: dict[str, str] | None = None,
        health: HealthCheck | None = None,
        health_contract: RequestContract[HealthRequest, HealthReply] | None = None,
        queue_group: str = DEFAULT_QUEUE_GROUP,
        default_concurrency: int = 16,
    ) -> None:
        if not _NAME.match(name):
            raise ConfigError(f"service name {name!r} may only hold A-Z, a-z, 0-9, '-' and '_'")
        if not _SEMVER.match(version):
            raise ConfigError(f"service version {version!r} is not a semantic version")
        self.bus = bus
        self.name = name
        self.version = version
        self.description = description
        self.metadata = dict(metadata or {})
        self.id = secrets.token_hex(11)
        self.queue_group = queue_group
        self.default_concurrency = default_concurrency
        self._health = health
        self._health_contract = health_contract
        self._endpoints: list[Endpoint] = []
        self._discovery: list[Subscription] = []
        self.census = Census(self._count_peers, name=name)
        self._started_at = datetime.now(UTC)
        self._started_monotonic = time.monotonic()
        self.running = False

    @property
    def endpoints(self) -> list[Endpoint]:
        return list(self._endpoints)

    def add_endpoint(
        self,
        contract: RequestContract[ReqT, RepT],
        handler: RequestHandler[ReqT, RepT],
        *,
        concurrency: int | None = None,
        backlog: int | None = None,
    ) -> None:
        """``backlog``: requests that may wait for a slot here (default: ``concurrency``)."""
        if self.running:
            raise ConfigError("add endpoints before start()")
        if any(endpoint.contract.subject == contract.subject for endpoint in self._endpoints):
            raise ConfigError(f"{contract.subject} is served twice by {self.name}")
        self._endpoints.append(
            Endpoint(contract, handler, concurrency or self.default_concurrency, self.queue_group, backlog)
        )

    def _add_health_endpoint(self) -> None:
        contract = self._health_contract
        if contract is None or any(e.contract.subject == contract.subject for e in self._endpoints):
            return
        self._endpoints.append(Endpoint(contract, self._handle_health, 4, self.queue_group))

    async def _handle_health(self, _request: HealthRequest, _context: RequestContext) -> HealthReply:
        checks = await self._health() if self._health else {}
        failing = [name for name, check in checks.items() if not check.ok]
        status = "ok" if not failing else ("down" if len(failing) == len(checks) else "degraded")
        return HealthReply(
            service=self.name,
            version=self.version,
            instance_id=self.id,
            status=status,
            checks=checks,
            uptime_s=time.monotonic() - self._started_monotonic,
        )

    async def start(self) -> None:
        if self.running:
            return
        self._add_health_endpoint()
        self._started_at = datetime.now(UTC)
        for endpoint in self._endpoints:
            endpoint.subscription = await self.bus.serve(
                endpoint.contract,
                endpoint.handler,
                queue=endpoint.queue_group,
                concurrency=endpoint.concurrency,
                backlog=endpoint.backlog,
                stats=endpoint.served,
                census=self.census,
            )
        for verb, responder in (("PING", self._ping), ("INFO", self._info), ("STATS", self._stats)):
            for target in (
                discovery_subject(verb),
                discovery_subject(verb, self.name),
                discovery_subject(verb, self.name, self.id),
            ):
                self._discovery.append(await self.bus.serve_raw(target, self._responder(responder)))
        await self.bus.transport.flush()  # on NATS: the server has every subscription before we say "started"
        self.running = True
        log.info("service %s %s (%s) started with %d endpoints", self.name, self.version, self.id, len(self._endpoints))

    async def stop(self) -> None:
        """Stop intake on every endpoint first, then wait for all in-flight handlers together.

        Requests still waiting for a slot are declined, so their requesters resend them to
        another instance at once. If the wait is cancelled (the shutdown timeout), what still
        runs is aborted and its requesters are told, instead of left to wait.
        """
        if not self.running:
            return
        self.running = False
        subscriptions = [endpoint.subscription for endpoint in self._endpoints if endpoint.subscription is not None]
        for endpoint in self._endpoints:
            endpoint.subscription = None
        for subscription in subscriptions:
            await subscription.stop_intake()
        try:
            await asyncio.gather(*(subscription.unsubscribe() for subscription in subscriptions))
        except asyncio.CancelledError:
            await asyncio.gather(*(subscription.abort() for subscription in subscriptions), return_exceptions=True)
            raise
        finally:
            await self._leave_discovery()

    async def abort(self) -> None:
        """Stop at once: running handlers are cancelled, their requesters told ``lost``."""
        self.running = False
        subscriptions = [endpoint.subscription for endpoint in self._endpoints if endpoint.subscription is not None]
        for endpoint in self._endpoints:
            endpoint.subscription = None
        await asyncio.gather(*(subscription.abort() for subscription in subscriptions))
        await self._leave_discovery()

    async def _count_peers(self) -> int:
        """The other instances of this service that answer discovery now."""
        pings = await discover_pings(self.bus, self.name, wait=CENSUS_WAIT_S, quiet=CENSUS_QUIET_S)
        return len({ping.id for ping in pings} - {self.id})

    async def _leave_discovery(self) -> None:
        await self.census.close()
        discovery, self._discovery = self._discovery, []
        for subscription in discovery:
            await subscription.unsubscribe()

    def _responder(self, build: Callable[[], BaseModel]) -> RawHandler:
        async def respond(message: RawMessage) -> None:
            document = build().model_dump(mode="json")
            await self.bus.respond(message, json.dumps(document).encode())

        return respond

    def ping(self) -> ServicePing:
        return ServicePing(name=self.name, id=self.id, version=self.version, metadata=self.metadata)

    _ping = ping

    def info(self) -> ServiceInfo:
        return ServiceInfo(
            name=self.name,
            id=self.id,
            version=self.version,
            description=self.description,
            metadata=self.metadata,
            endpoints=[endpoint.info() for endpoint in self._endpoints],
        )

    _info = info

    def stats(self) -> ServiceStats:
        return ServiceStats(
            name=self.name,
            id=self.id,
            version=self.version,
            metadata=self.metadata,
            started=self._started_at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            endpoints=[endpoint.stats() for endpoint in self._endpoints],
        )

    _stats = stats

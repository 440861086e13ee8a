"""Health of the whole deployment as a front door sees it.

Two sources, both on the bus: ADR-32 discovery (``$SRV.STATS``: every live instance with its
version and per-endpoint counters) and each service's own ``<service>.health`` endpoint (its
checks: database, providers, ...). The gateway is serving when every required service answers
and none reports itself down.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from pydantic import BaseModel, Field

from prompt_alchemy.bus import Bus
from prompt_alchemy.bus.discovery import discover_stats
from prompt_alchemy.errors import AlchemyError, NoResponders
from prompt_alchemy.schemas.health import CheckResult, HealthReply, HealthRequest, ServiceStats
from prompt_alchemy.schemas.registry import (
    ENGINE_HEALTH,
    LEARNING_HEALTH,
    PROVIDERS_HEALTH,
    STORAGE_HEALTH,
    RequestContract,
)

__all__ = ["DEFAULT_SERVICES", "EndpointStatus", "GatewayHealth", "InstanceStatus", "ServiceHealth", "check_health"]

DEFAULT_SERVICES: tuple[str, ...] = ("engine", "providers", "storage", "learning")

_HEALTH_CONTRACTS: dict[str, RequestContract[HealthRequest, HealthReply]] = {
    "engine": ENGINE_HEALTH,
    "providers": PROVIDERS_HEALTH,
    "storage": STORAGE_HEALTH,
    "learning": LEARNING_HEALTH,
}

_QUIET_S = 0.05

ServiceStatus = Literal["ok", "degraded", "down", "missing"]


class ServiceHealth(BaseModel):
    """One service: its own verdict, the instances discovery found, and its checks."""

    name: str
    status: ServiceStatus
    version: str | None = None
    instances: list[str] = Field(default_factory=list)
    checks: dict[str, CheckResult] = Field(default_factory=dict)
    message: str = ""


class EndpointStatus(BaseModel):
    name: str
    subject: str
    requests: int
    errors: int
    average_ms: float
    last_error: str = ""


class InstanceStatus(BaseModel):
    """One live instance as discovery reports it (front doors too: they have no endpoints)."""

    service: str
    id: str
    version: str
    started: str
    metadata: dict[str, str] = Field(default_factory=dict)
    endpoints: list[EndpointStatus] = Field(default_factory=list)

    @classmethod
    def from_stats(cls, stats: ServiceStats) -> InstanceStatus:
        return cls(
            service=stats.name,
            id=stats.id,
            version=stats.version,
            started=stats.started,
            metadata=stats.metadata,
            endpoints=[
                EndpointStatus(
                    name=endpoint.name,
                    subject=endpoint.subject,
                    requests=endpoint.num_requests,
                    errors=endpoint.num_errors,
                    average_ms=round(endpoint.average_processing_time / 1e6, 3),
                    last_error=endpoint.last_error,
                )
                for endpoint in stats.endpoints
            ],
        )


class GatewayHealth(BaseModel):
    """``serving`` is what a load balancer needs; ``missing`` names what to start."""

    status: Literal["ok", "degraded", "unavailable"]
    serving: bool
    services: list[ServiceHealth]
    missing: list[str] = Field(default_factory=list)
    instances: list[InstanceStatus] = Field(default_factory=list)


async def _service_health(bus: Bus, name: str, timeout: float) -> ServiceHealth:
    contract = _HEALTH_CONTRACTS.get(name)
    if contract is None:
        return ServiceHealth(name=name, status="missing", message=f"unknown service {name!r}")
    try:
        reply = await bus.request(contract, HealthRequest(), timeout=timeout)
    except NoResponders:
        return ServiceHealth(name=name, status="missing", message="not running")
    except AlchemyError as error:
        return ServiceHealth(name=name, status="down", message=str(error))
    return ServiceHealth(name=name, status=reply.status, version=reply.version, checks=reply.checks)


async def check_health(
    bus: Bus, services: tuple[str, ...] = DEFAULT_SERVICES, *, timeout: float = 2.0
) -> GatewayHealth:
    """Ask every required service at once; a missing one costs at most ``timeout`` seconds.

    Discovery gathers instances until none has answered for ``_QUIET_S`` (replicas answer together).
    """
    stats_task = asyncio.ensure_future(discover_stats(bus, wait=min(timeout, 1.0), quiet=_QUIET_S))
    results = await asyncio.gather(*(_service_health(bus, name, timeout) for name in services))
    instances = sorted((InstanceStatus.from_stats(s) for s in await stats_task), key=lambda i: (i.service, i.id))
    by_name: dict[str, list[str]] = {}
    for instance in instances:
        by_name.setdefault(instance.service, []).append(instance.id)
    reports: list[ServiceHealth] = []
    for report in results:
        update: dict[str, Any] = {"instances": sorted(by_name.get(report.name, []))}
        reports.append(report.model_copy(update=update))
    missing = [report.name for report in reports if report.status == "missing"]
    serving = all(report.status in ("ok", "degraded") for report in reports)
    status: Literal["ok", "degraded", "unavailable"]
    if not serving:
        status = "unavailable"
    elif all(report.status == "ok" for report in reports):
        status = "ok"
    else:
        status = "degraded"
    return GatewayHealth(status=status, serving=serving, services=reports, missing=missing, instances=instances)

"""Health of the whole deployment as a front door sees it.

Two sources, both on the bus: ADR-32 discovery (``$SRV.PING``: which instances are alive) and
each service's own ``<service>.health`` endpoint (its checks: database, providers, ...). The
gateway is serving when every required service answers and none reports itself down.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from pydantic import BaseModel, Field

from prompt_alchemy.bus import Bus
from prompt_alchemy.bus.discovery import discover_pings
from prompt_alchemy.errors import AlchemyError, NoResponders
from prompt_alchemy.schemas.health import CheckResult, HealthReply, HealthRequest
from prompt_alchemy.schemas.registry import (
    ENGINE_HEALTH,
    LEARNING_HEALTH,
    PROVIDERS_HEALTH,
    STORAGE_HEALTH,
    Contract,
)

__all__ = ["DEFAULT_SERVICES", "GatewayHealth", "ServiceHealth", "check_health"]

DEFAULT_SERVICES: tuple[str, ...] = ("engine", "providers", "storage", "learning")

_HEALTH_CONTRACTS: dict[str, Contract[HealthRequest, HealthReply]] = {
    "engine": ENGINE_HEALTH,
    "providers": PROVIDERS_HEALTH,
    "storage": STORAGE_HEALTH,
    "learning": LEARNING_HEALTH,
}

ServiceStatus = Literal["ok", "degraded", "down", "missing"]


class ServiceHealth(BaseModel):
    """One service: its own verdict, the instances discovery found, and its checks."""

    name: str
    status: ServiceStatus
    version: str | None = None
    instances: list[str] = Field(default_factory=list)
    checks: dict[str, CheckResult] = Field(default_factory=dict)
    message: str = ""


class GatewayHealth(BaseModel):
    """``serving`` is what a load balancer needs; ``missing`` names what to start."""

    status: Literal["ok", "degraded", "unavailable"]
    serving: bool
    services: list[ServiceHealth]
    missing: list[str] = Field(default_factory=list)


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
    """Ask every required service at once; a missing one costs at most ``timeout`` seconds."""
    pings_task = asyncio.ensure_future(discover_pings(bus, wait=min(timeout, 0.5), expected=len(services) or None))
    results = await asyncio.gather(*(_service_health(bus, name, timeout) for name in services))
    pings = await pings_task
    by_name: dict[str, list[str]] = {}
    for ping in pings:
        by_name.setdefault(ping.name, []).append(ping.id)
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
    return GatewayHealth(status=status, serving=serving, services=reports, missing=missing)

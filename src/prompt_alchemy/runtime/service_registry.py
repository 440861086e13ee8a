"""The services this process runs, registered so ADR-32 discovery says where and how each runs.

Workers are ADR-32 services already; the composition root registers each one here before it
starts, which tags it with the deployment mode, host, pid and (once known) its metrics URL —
``$SRV.INFO`` on either bus then tells an operator where every instance is. The HTTP gateway
and the MCP server are front doors, not bus services, but they register as ADR-32 services
without endpoints (``api``, ``mcp``), so ``nats micro ls`` and discovery list them with their URL.
"""

from __future__ import annotations

import logging
import os
import socket

from prompt_alchemy import __version__
from prompt_alchemy.bus import Bus, ServiceRunner, discovery_subject
from prompt_alchemy.runtime.settings import DeploymentMode

__all__ = ["FRONT_DOOR_DESCRIPTIONS", "ServiceRegistry"]

log = logging.getLogger(__name__)

FRONT_DOOR_DESCRIPTIONS = {
    "api": "HTTP gateway: /api/v1 on the bus, health, metrics, OpenAPI",
    "mcp": "MCP server (streamable HTTP): the prompt-alchemy tools on the bus",
}


class ServiceRegistry:
    def __init__(self, mode: DeploymentMode) -> None:
        self.mode = mode
        self._tags = {"mode": mode.value, "host": socket.gethostname(), "pid": str(os.getpid())}
        self._services: list[ServiceRunner] = []
        self._front_doors: list[ServiceRunner] = []

    @property
    def services(self) -> list[ServiceRunner]:
        return [*self._services, *self._front_doors]

    def tag(self, key: str, value: str) -> None:
        """Add ``key=value`` to the discovery metadata of every service, registered or to come."""
        self._tags[key] = value
        for service in self.services:
            service.metadata[key] = value

    def register(self, service: ServiceRunner) -> ServiceRunner:
        service.metadata.update(self._tags)
        self._services.append(service)
        return service

    async def confirm(self, bus: Bus, *, timeout: float = 10.0) -> None:
        """Ping every registered service by its instance id, through the server.

        A connection's messages reach the server in order, so once each answers, the server holds
        all its subscriptions: "serving" is then true for every other connection too.
        """
        for service in self._services:
            await bus.request_raw(discovery_subject("PING", service.name, service.id), b"", timeout=timeout)

    async def open_front_door(self, bus: Bus, role: str, url: str) -> ServiceRunner:
        """Announce a front door (``api`` or ``mcp``) on ``bus`` as an ADR-32 service with its URL."""
        door = ServiceRunner(
            bus,
            name=role,
            version=__version__,
            description=FRONT_DOOR_DESCRIPTIONS.get(role, role),
            metadata={**self._tags, "url": url},
        )
        await door.start()
        self._front_doors.append(door)
        log.info("%s front door on %s (instance %s)", role, url, door.id)
        return door

    async def close_front_doors(self) -> None:
        """Leave discovery first when stopping, so nobody is sent to a door that is closing."""
        while self._front_doors:
            await self._front_doors.pop().stop()

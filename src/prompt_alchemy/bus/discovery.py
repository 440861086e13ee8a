"""Find every live service instance through ADR-32 discovery, on either bus.

A discovery request goes to all instances at once, so replies are gathered on a private inbox
until ``expected`` replies arrived, or ``quiet`` seconds passed without a new one after the
first, or ``wait`` seconds passed in all — as ``nats micro ls`` does.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Literal, TypeVar

import pydantic
from pydantic import BaseModel

from prompt_alchemy.bus.core import Bus
from prompt_alchemy.bus.transport import RawMessage
from prompt_alchemy.schemas.health import ServiceInfo, ServicePing, ServiceStats

__all__ = [
    "DISCOVERY_PREFIX",
    "discover",
    "discover_info",
    "discover_pings",
    "discover_stats",
    "discovery_subject",
]

DISCOVERY_PREFIX = "$SRV"

DocT = TypeVar("DocT", bound=BaseModel)
Verb = Literal["PING", "INFO", "STATS"]


def discovery_subject(verb: str, name: str | None = None, instance_id: str | None = None) -> str:
    parts = [DISCOVERY_PREFIX, verb]
    if name:
        parts.append(name)
        if instance_id:
            parts.append(instance_id)
    return ".".join(parts)


async def discover(
    bus: Bus,
    verb: Verb,
    name: str | None = None,
    *,
    wait: float = 0.5,
    expected: int | None = None,
    quiet: float | None = None,
) -> list[dict[str, object]]:
    inbox = f"_INBOX.discovery.{secrets.token_hex(8)}"
    replies: list[dict[str, object]] = []
    arrived = asyncio.Event()

    async def collect(message: RawMessage) -> None:
        try:
            document = json.loads(message.data)
        except ValueError:
            return
        if isinstance(document, dict):
            replies.append(document)
            arrived.set()

    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    subscription = await bus.transport.subscribe(inbox, collect)
    try:
        await bus.transport.publish(discovery_subject(verb, name), b"", reply=inbox)
        while expected is None or len(replies) < expected:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            quiet_window = quiet is not None and bool(replies)
            arrived.clear()
            try:
                async with asyncio.timeout(min(quiet, remaining) if quiet_window and quiet else remaining):
                    await arrived.wait()
            except TimeoutError:
                if quiet_window:
                    break
    finally:
        await subscription.unsubscribe()
    return replies


def _parse(model: type[DocT], documents: list[dict[str, object]]) -> list[DocT]:
    parsed: list[DocT] = []
    for document in documents:
        try:
            parsed.append(model.model_validate(document))
        except pydantic.ValidationError:
            continue
    return parsed


async def discover_pings(
    bus: Bus, name: str | None = None, *, wait: float = 0.5, expected: int | None = None, quiet: float | None = None
) -> list[ServicePing]:
    return _parse(ServicePing, await discover(bus, "PING", name, wait=wait, expected=expected, quiet=quiet))


async def discover_info(
    bus: Bus, name: str | None = None, *, wait: float = 0.5, expected: int | None = None, quiet: float | None = None
) -> list[ServiceInfo]:
    return _parse(ServiceInfo, await discover(bus, "INFO", name, wait=wait, expected=expected, quiet=quiet))


async def discover_stats(
    bus: Bus, name: str | None = None, *, wait: float = 0.5, expected: int | None = None, quiet: float | None = None
) -> list[ServiceStats]:
    return _parse(ServiceStats, await discover(bus, "STATS", name, wait=wait, expected=expected, quiet=quiet))

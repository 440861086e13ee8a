"""What a client command (CLI, stdio MCP) talks to: an embedded runtime, or a NATS cluster."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from prompt_alchemy.bus import Bus, NatsBus
from prompt_alchemy.runtime.components import FeedbackPublisher, open_feedback_stream
from prompt_alchemy.runtime.embedded import EmbeddedRuntime
from prompt_alchemy.runtime.nats_options import nats_options
from prompt_alchemy.runtime.settings import Settings

__all__ = ["Client", "open_client"]


@dataclass(frozen=True, slots=True)
class Client:
    bus: Bus
    feedback: FeedbackPublisher


@asynccontextmanager
async def open_client(settings: Settings) -> AsyncIterator[Client]:
    """Embedded (every worker in-process) unless ``settings.nats_url`` names a cluster."""
    if settings.nats_url:
        options = nats_options(settings, long_running=False)
        bus = await NatsBus.connect(
            settings.nats_url, options, default_timeout=settings.request_timeout, liveness=settings.liveness
        )
        try:
            stream, publish = await open_feedback_stream(bus, settings)
            try:
                yield Client(bus, publish)
            finally:
                await stream.close()
        finally:
            await bus.drain()
        return
    async with EmbeddedRuntime(settings) as runtime:
        yield Client(runtime.bus, runtime.feedback)

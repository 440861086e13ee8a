"""How a front door hands a feedback event to the durable stream.

The runtime owns the durable publisher (a JetStream stream on NATS, an SQLite log embedded)
and passes it in as a ``FeedbackSink``; the gateway never knows which. Before publishing, the
prompts the event names are looked up so a typo is a 404 instead of a silently useless event;
when storage cannot answer, the event is still accepted — feedback must not be lost because a
dependency is down.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from prompt_alchemy.bus import Bus
from prompt_alchemy.errors import BusError, DeadlineExceeded, NotFound, Unavailable
from prompt_alchemy.schemas.learning import FeedbackAccepted, FeedbackEvent
from prompt_alchemy.schemas.registry import STORAGE_GET
from prompt_alchemy.schemas.storage import GetRequest

__all__ = ["FeedbackSink", "submit_feedback"]

FeedbackSink = Callable[[FeedbackEvent], Awaitable[FeedbackAccepted]]
"""Persists a feedback event durably and says so; resending the same ``event_id`` is harmless."""

LOOKUP_TIMEOUT_S = 5.0


async def _known(bus: Bus, prompt_id: str, field: str) -> None:
    try:
        await bus.request(STORAGE_GET, GetRequest(id=prompt_id), timeout=LOOKUP_TIMEOUT_S)
    except NotFound as error:
        raise NotFound(
            f"no prompt with id {prompt_id!r} ({field})", details={"field": field, "id": prompt_id}
        ) from error
    except (BusError, Unavailable, DeadlineExceeded):
        return  # storage is down or slow: accept the event anyway, it is durable


async def submit_feedback(bus: Bus, sink: FeedbackSink, event: FeedbackEvent) -> FeedbackAccepted:
    """Check the named prompts exist (when storage can tell), then publish durably."""
    await _known(bus, event.prompt_id, "prompt_id")
    if event.chosen_over is not None:
        await _known(bus, event.chosen_over, "chosen_over")
    return await sink(event)

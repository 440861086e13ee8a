"""Run one generation while following its live progress events.

The subscription to ``alchemy.v1.events.generation.<request_id>`` is made before the request
is sent, so no event is missed, and it is closed only after every event delivered before the
reply was handed on: a listener sees the engine's events, in order, then the result.
``TOKEN`` events (the streamed text of each candidate, published by the providers worker) go
to ``on_token`` when one is given and are dropped otherwise, so ``listener`` sees exactly the
engine's numbered events.

The stream belongs to the request that opened it: its subject ends in a fresh random
``progress_token`` issued here, not in the caller's ``request_id``. Two requests that reuse one
``request_id`` (by mistake or to spy) each follow only their own events. A token rather than
refusing a duplicate in-flight id: it needs no shared state between gateway replicas, and a
failed-over request keeps its token.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Awaitable, Callable

from prompt_alchemy.bus import Bus, RequestContext
from prompt_alchemy.schemas.engine import GenerateReply, GenerateRequest
from prompt_alchemy.schemas.events import GenerationProgress, ProgressKind
from prompt_alchemy.schemas.registry import ENGINE_GENERATE, EVENTS_GENERATION, generation_events_subject

__all__ = ["ProgressListener", "generate_with_progress", "with_request_id"]

ProgressListener = Callable[[GenerationProgress], Awaitable[None]]


def with_request_id(request: GenerateRequest) -> GenerateRequest:
    """The request with an id to follow it by (the caller's own, or a new one)."""
    if request.request_id is not None:
        return request
    return request.model_copy(update={"request_id": uuid.uuid4().hex})


async def generate_with_progress(
    bus: Bus,
    request: GenerateRequest,
    listener: ProgressListener,
    *,
    timeout: float | None = None,
    on_token: ProgressListener | None = None,
) -> GenerateReply:
    """``engine.generate`` with every progress event of this request passed to ``listener``."""
    token = secrets.token_urlsafe(24)  # any token the caller set is replaced: the stream is ours
    request = with_request_id(request).model_copy(update={"progress_token": token})

    async def deliver(event: GenerationProgress, _context: RequestContext) -> None:
        if event.kind is not ProgressKind.TOKEN:
            await listener(event)
        elif on_token is not None:
            await on_token(event)

    subscription = await bus.subscribe(EVENTS_GENERATION, deliver, subject=generation_events_subject(token))
    try:
        return await bus.request(ENGINE_GENERATE, request, timeout=timeout)
    finally:
        await subscription.unsubscribe()

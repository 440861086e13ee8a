"""Server-sent events for ``POST /prompts/generate`` with ``Accept: text/event-stream``.

The stream carries the engine's progress events (``event: progress``, ``id:`` its ``seq``) and,
between them, the candidates' text as the vendors stream it (``event: token``, data exactly
``{"request_id", "phase", "chain", "delta"}``, no id), then exactly one ``event: result`` (the
``GenerateReply``) or ``event: error`` (an ``ErrorBody``). A client that goes away stops the
writing, not the generation.
"""

from __future__ import annotations

import asyncio
import json
import logging

from aiohttp import web

from prompt_alchemy.bus import Bus
from prompt_alchemy.gateway.failures import error_body
from prompt_alchemy.gateway.generation import generate_with_progress
from prompt_alchemy.gateway.http.metrics import HttpMetrics
from prompt_alchemy.schemas.engine import GenerateRequest
from prompt_alchemy.schemas.events import GenerationProgress

__all__ = ["EVENT_STREAM", "SseWriter", "stream_generation", "token_data", "wants_event_stream"]

log = logging.getLogger(__name__)

EVENT_STREAM = "text/event-stream"


def wants_event_stream(request: web.Request) -> bool:
    return any(part.split(";")[0].strip() == EVENT_STREAM for part in request.headers.get("Accept", "").split(","))


class SseWriter:
    def __init__(self, response: web.StreamResponse, metrics: HttpMetrics) -> None:
        self.response = response
        self.metrics = metrics
        self.client_gone = False

    async def send(self, event: str, data: str, *, event_id: str | None = None) -> None:
        if self.client_gone:
            return
        lines = [f"event: {event}"]
        if event_id is not None:
            lines.append(f"id: {event_id}")
        lines.extend(f"data: {line}" for line in data.splitlines() or [""])
        try:
            await self.response.write(("\n".join(lines) + "\n\n").encode())
        except ConnectionError:
            self.client_gone = True
            return
        self.metrics.sse_events.labels(event).inc()


def token_data(event: GenerationProgress) -> str:
    """The fixed shape of an SSE ``token`` event's data (the web app reads exactly these keys)."""
    phase = event.phase.value if event.phase is not None else None
    return json.dumps(
        {"request_id": event.request_id, "phase": phase, "chain": event.chain, "delta": event.delta or ""},
        ensure_ascii=False,
    )


async def stream_generation(
    request: web.Request, bus: Bus, generate: GenerateRequest, *, timeout: float, metrics: HttpMetrics
) -> web.StreamResponse:
    response = web.StreamResponse(
        status=200, headers={"Content-Type": EVENT_STREAM, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    writer = SseWriter(response, metrics)

    async def on_progress(event: GenerationProgress) -> None:
        await writer.send("progress", event.model_dump_json(), event_id=str(event.seq))

    async def on_token(event: GenerationProgress) -> None:
        await writer.send("token", token_data(event))

    try:
        reply = await generate_with_progress(bus, generate, on_progress, timeout=timeout, on_token=on_token)
    except asyncio.CancelledError:
        raise
    except Exception as error:
        await writer.send("error", error_body(error).model_dump_json())
    else:
        await writer.send("result", reply.model_dump_json())
    if not writer.client_gone:
        try:
            await response.write_eof()
        except ConnectionError:
            log.debug("client left before the end of the event stream")
    return response

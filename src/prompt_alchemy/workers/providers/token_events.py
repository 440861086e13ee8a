"""Streamed text of one completion as ``TOKEN`` events on its generation's events subject.

The providers worker publishes the deltas itself, straight to
``alchemy.v1.events.generation.<request_id>``: one hop from the vendor's stream to whoever
follows the generation (the engine never touches them). Publishing is fire-and-forget on both
buses, so a slow or absent listener never slows the completion.

Deltas are coalesced to bound the message rate: a delta leaves at once when the previous event
of this completion left at least ``interval_s`` ago (so the first token never waits), otherwise
it waits with the ones after it until that interval is over, or until ``max_chars`` are pending.
``close`` sends what is left; the worker calls it before it replies, so every delta of a
candidate is published before the engine can announce the candidate.
"""

from __future__ import annotations

import asyncio
import logging
import time

from prompt_alchemy import schemas
from prompt_alchemy.bus import Bus
from prompt_alchemy.errors import AlchemyError
from prompt_alchemy.schemas.events import GenerationProgress, ProgressKind
from prompt_alchemy.schemas.providers import TokenStream
from prompt_alchemy.workers.providers.policy import Clock

__all__ = ["DEFAULT_INTERVAL_S", "DEFAULT_MAX_CHARS", "TokenPublisher"]

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 0.015  # at most ~66 events/s per streamed completion
DEFAULT_MAX_CHARS = 512


class TokenPublisher:
    """Publishes the deltas of one streamed completion, numbered from 0, coalesced."""

    def __init__(
        self,
        bus: Bus,
        target: TokenStream,
        *,
        interval_s: float = DEFAULT_INTERVAL_S,
        max_chars: int = DEFAULT_MAX_CHARS,
        clock: Clock = time.monotonic,
    ) -> None:
        self.bus = bus
        self.target = target
        self.subject = schemas.generation_events_subject(target.progress_token or target.request_id)
        self.interval_s = interval_s
        self.max_chars = max_chars
        self._clock = clock
        self._pending: list[str] = []
        self._pending_chars = 0
        self._last_sent: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._flushing: set[asyncio.Task[None]] = set()
        self._lock = asyncio.Lock()
        self._broken = False
        self.events = 0

    async def send(self, delta: str) -> None:
        if not delta:
            return
        self._pending.append(delta)
        self._pending_chars += len(delta)
        now = self._clock()
        due = self._last_sent is None or now - self._last_sent >= self.interval_s
        if due or self._pending_chars >= self.max_chars:
            await self._flush()
        elif self._timer is None:
            assert self._last_sent is not None
            wait = self._last_sent + self.interval_s - now
            self._timer = asyncio.get_running_loop().call_later(wait, self._flush_later)

    async def close(self) -> None:
        """Publish whatever is still pending; waits for a flush the timer started."""
        if self._flushing:
            await asyncio.gather(*self._flushing)
        await self._flush()

    def _flush_later(self) -> None:
        self._timer = None
        task = asyncio.get_running_loop().create_task(self._flush())
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    async def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        async with self._lock:
            if not self._pending:
                return
            text = "".join(self._pending)
            self._pending.clear()
            self._pending_chars = 0
            self._last_sent = self._clock()
            event = GenerationProgress(
                request_id=self.target.request_id,
                seq=self.events,
                kind=ProgressKind.TOKEN,
                phase=self.target.phase,
                chain=self.target.chain,
                delta=text,
            )
            self.events += 1
            try:
                await self.bus.publish(schemas.EVENTS_GENERATION, event, subject=self.subject)
            except AlchemyError as error:
                if not self._broken:  # tokens are a courtesy, like progress: one line per completion
                    log.warning("tokens of %s not published: %s", self.target.request_id, error)
                self._broken = True

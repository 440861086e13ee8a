"""Live progress of one generation on ``alchemy.v1.events.generation.<progress token>``.

The subject's last token is the request's ``progress_token``: a front door's fresh random one
when it follows the request, or a bus client's own. A request without a token is followed by
nobody: its events are numbered but not published (a generation would otherwise send ~45
messages that every hop encodes and routes for no listener).

Sequence numbers are given and published under one lock, so events of concurrent chains still
leave in ``seq`` order and a listener (SSE, MCP progress, CLI) can detect gaps. Progress is a
courtesy: a failed publish is logged, never fails the generation.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from prompt_alchemy import schemas
from prompt_alchemy.bus import Bus
from prompt_alchemy.errors import AlchemyError
from prompt_alchemy.schemas.common import Phase
from prompt_alchemy.schemas.events import GenerationProgress, ProgressKind

__all__ = ["ProgressReporter"]

log = logging.getLogger(__name__)


class ProgressReporter:
    """Publishes the events of one request, numbered from 0."""

    def __init__(self, bus: Bus, request_id: str, *, token: str | None = None, attempt: int = 1) -> None:
        self.bus = bus
        self.request_id = request_id
        self.attempt = attempt  # the send of the request this run serves (a resend after failover: 2, ...)
        self.subject = schemas.generation_events_subject(token) if token is not None else None
        self._seq = 0
        self._lock = asyncio.Lock()
        self._broken = False

    @property
    def published(self) -> int:
        return self._seq

    @property
    def followed(self) -> bool:
        """Whether the request named a stream to publish to (someone follows it)."""
        return self.subject is not None

    async def emit(
        self,
        kind: ProgressKind,
        *,
        phase: Phase | None = None,
        chain: int | None = None,
        prompt_id: str | None = None,
        message: str = "",
        data: dict[str, Any] | None = None,
    ) -> None:
        if self.subject is None:
            self._seq += 1
            return
        subject = self.subject
        async with self._lock:
            event = GenerationProgress(
                request_id=self.request_id,
                attempt=self.attempt,
                seq=self._seq,
                kind=kind,
                phase=phase,
                chain=chain,
                prompt_id=prompt_id,
                message=message,
                data=data or {},
            )
            self._seq += 1
            try:
                await self.bus.publish(schemas.EVENTS_GENERATION, event, subject=subject)
            except AlchemyError as error:
                if not self._broken:  # one line per request is enough
                    log.warning("progress of %s not published: %s", self.request_id, error)
                self._broken = True

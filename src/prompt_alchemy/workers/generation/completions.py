"""Every provider call of the engine goes through here: one place for the in-flight limit and the deadline.

Retries, circuit breaking and fallback (also away from a provider the caller named) belong to the
providers worker; the engine only turns the reply's ``fallback_from`` into a warning the caller
sees, so a phase answered by another provider than the one asked for is never silent.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from prompt_alchemy import schemas
from prompt_alchemy.bus import Bus
from prompt_alchemy.schemas.providers import CompletionReply, CompletionRequest
from prompt_alchemy.workers.generation.deadline import Budget

__all__ = ["Completion", "ProviderCaller"]


@dataclass(frozen=True, slots=True)
class Completion:
    reply: CompletionReply
    warnings: list[str] = field(default_factory=list)


class ProviderCaller:
    """Sends ``providers.complete`` with at most ``max_in_flight`` calls of this replica at once."""

    def __init__(self, bus: Bus, *, timeout_s: float, max_in_flight: int) -> None:
        self.bus = bus
        self.timeout_s = timeout_s
        self._slots = asyncio.Semaphore(max_in_flight)

    async def complete(self, request: CompletionRequest, budget: Budget, *, doing: str) -> Completion:
        budget.check(doing)
        async with self._slots:
            budget.check(doing)  # waiting for a slot may have used the rest of the budget
            reply = await self.bus.request(schemas.PROVIDERS_COMPLETE, request, timeout=self.timeout_s)
        warnings: list[str] = []
        if reply.fallback_from:
            failed = ", ".join(repr(name) for name in reply.fallback_from)
            warnings.append(f"{doing}: {failed} failed; answered by {reply.provider!r} (fallback)")
        return Completion(reply, warnings)

"""Every provider call of the engine goes through here: one place for the in-flight limit and the deadline.

A generation phase asks for its chains' completions in one ``providers.complete_batch`` (one
message each way instead of one per chain); the judge and the optimizer ask ``providers.complete``.

Retries, circuit breaking and fallback (also away from a provider the caller named) belong to the
providers worker; the engine only turns the reply's ``fallback_from`` into a warning the caller
sees, so a phase answered by another provider than the one asked for is never silent.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from prompt_alchemy import schemas
from prompt_alchemy.bus import Bus
from prompt_alchemy.bus.failures import as_service_error
from prompt_alchemy.errors import DeadlineExceeded, ServiceError
from prompt_alchemy.schemas.providers import (
    MAX_COMPLETION_BATCH,
    CompletionBatchRequest,
    CompletionOutcome,
    CompletionReply,
    CompletionRequest,
)
from prompt_alchemy.workers.generation.deadline import Budget

__all__ = ["CallSlots", "Completion", "ProviderCaller", "message_batches"]

BATCH_HEADROOM_BYTES = 64 * 1024  # headers and the batch's own JSON around its items
_REPLY_BYTES_PER_TOKEN = 4 * 6  # ~4 characters a token, each at most 6 bytes of JSON (an escape)
_REQUEST_JSON = CompletionRequest.__pydantic_serializer__
MAX_BYTES = 1 << 62  # more than any message may carry


@dataclass(frozen=True, slots=True)
class Completion:
    reply: CompletionReply
    warnings: list[str] = field(default_factory=list)


class CallSlots:
    """At most ``size`` provider calls at once; a batch of n calls takes n slots together, first
    come first served (a batch never holds some slots while it waits for the rest)."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("at least one provider call must be allowed at once")
        self.size = size
        self.free = size
        self._waiting: deque[tuple[int, asyncio.Future[None]]] = deque()

    @property
    def waiting(self) -> int:
        """Takers in line for their slots."""
        return len(self._waiting)

    @asynccontextmanager
    async def take(self, calls: int) -> AsyncIterator[None]:
        """Hold ``calls`` slots (at most ``size``: a bigger batch runs alone) while the block runs."""
        wanted = min(max(calls, 1), self.size)
        if self._waiting or self.free < wanted:
            granted = asyncio.get_running_loop().create_future()
            self._waiting.append((wanted, granted))
            try:
                await granted
            except asyncio.CancelledError:
                if granted.done() and not granted.cancelled():
                    self._give_back(wanted)  # granted as it was cancelled: the slots are ours to return
                else:
                    with contextlib.suppress(ValueError):  # not yet passed over by _grant
                        self._waiting.remove((wanted, granted))
                    self._grant()  # the next waiter may fit now that this one left the line
                raise
        else:
            self.free -= wanted
        try:
            yield
        finally:
            self._give_back(wanted)

    def _give_back(self, slots: int) -> None:
        self.free += slots
        self._grant()

    def _grant(self) -> None:
        while self._waiting and self._waiting[0][0] <= self.free:
            wanted, granted = self._waiting.popleft()
            if granted.done():  # its waiter was cancelled meanwhile: it takes nothing
                continue
            self.free -= wanted
            granted.set_result(None)


class ProviderCaller:
    """Sends ``providers.complete`` (one call) or ``providers.complete_batch`` (a phase's chains),
    with at most ``max_in_flight`` calls of this replica at once."""

    def __init__(self, bus: Bus, *, timeout_s: float, max_in_flight: int) -> None:
        self.bus = bus
        self.timeout_s = timeout_s
        self._slots = CallSlots(max_in_flight)

    async def complete(self, request: CompletionRequest, budget: Budget, *, doing: str) -> Completion:
        budget.check(doing)
        async with self._slots.take(1):
            budget.check(doing)  # waiting for a slot may have used the rest of the budget
            reply = await self.bus.request(schemas.PROVIDERS_COMPLETE, request, timeout=self.timeout_s)
        return _completion(reply, doing)

    async def complete_batch(
        self, requests: Sequence[CompletionRequest], budget: Budget, *, doing: Sequence[str]
    ) -> list[Completion | ServiceError]:
        """Each request's completion or the error it failed with, in order.

        The requests go in as few ``providers.complete_batch`` requests as fit a message (one, but
        for very long ideas), at once. A batch that fails as a whole (providers unreachable, no
        answer in time) fails each of its requests; the caller's deadline raises.
        """
        results: list[Completion | ServiceError | None] = [None] * len(requests)

        async def ask(indices: list[int]) -> None:
            what = ", ".join(doing[index] for index in indices)
            budget.check(what)
            try:
                async with self._slots.take(len(indices)):
                    budget.check(what)  # waiting for slots may have used the rest of the budget
                    batch = CompletionBatchRequest(items=[requests[index] for index in indices])
                    reply = await self.bus.request(schemas.PROVIDERS_COMPLETE_BATCH, batch, timeout=self.timeout_s)
                if len(reply.results) != len(indices):
                    raise ServiceError(f"providers answered {len(reply.results)} of {len(indices)} completions")
            except DeadlineExceeded:
                raise
            except Exception as error:
                failure = as_service_error(error, doing=what)
                for index in indices:
                    results[index] = failure
                return
            for index, outcome in zip(indices, reply.results, strict=True):
                results[index] = _outcome(outcome, doing[index])

        batches = message_batches(requests, self.bus.max_payload)
        if len(batches) == 1:
            await ask(batches[0])
        else:  # every batch runs to its end (no request left running behind the caller), then failures raise
            for failed in await asyncio.gather(*(ask(batch) for batch in batches), return_exceptions=True):
                if failed is not None:
                    raise failed
        return [result for result in results if result is not None]


def message_batches(requests: Sequence[CompletionRequest], max_payload: int) -> list[list[int]]:
    """The requests' indices in batches whose request and (estimated) reply each fit one message.

    A reply item is bounded by its request (a prompt carries what it was asked about) plus its
    ``max_tokens`` of text at the worst JSON size of a character.
    """
    budget = max_payload - BATCH_HEADROOM_BYTES
    if len(requests) <= MAX_COMPLETION_BATCH and sum(map(_upper_bound, requests)) <= budget:
        return [list(range(len(requests)))]  # surely one message: nothing is encoded twice
    batches: list[list[int]] = []
    current: list[int] = []
    asked = answered = 0
    for index, request in enumerate(requests):
        size = len(_REQUEST_JSON.to_json(request))
        reply = size + _REPLY_BYTES_PER_TOKEN * request.max_tokens
        if current and (asked + size > budget or answered + reply > budget or len(current) == MAX_COMPLETION_BATCH):
            batches.append(current)
            current, asked, answered = [], 0, 0
        current.append(index)
        asked += size
        answered += reply
    if current:
        batches.append(current)
    return batches


def _upper_bound(request: CompletionRequest) -> int:
    """Bytes that surely hold the request and its reply, without encoding it: every character of
    its texts at its worst JSON size, plus room for the other fields (unbounded with a schema)."""
    if request.response_schema is not None:
        return MAX_BYTES  # a schema's size is unknown without encoding it: measure the request
    chars = sum(len(message.content) for message in request.messages)
    if request.hints is not None and request.hints.idea:
        chars += len(request.hints.idea)
    return 2 * (6 * chars + 4096) + _REPLY_BYTES_PER_TOKEN * request.max_tokens


def _outcome(outcome: CompletionOutcome, doing: str) -> Completion | ServiceError:
    if outcome.reply is not None:
        return _completion(outcome.reply, doing)
    assert outcome.error is not None  # an outcome holds a reply or an error (its schema says so)
    return outcome.error.to_error()


def _completion(reply: CompletionReply, doing: str) -> Completion:
    warnings: list[str] = []
    if reply.fallback_from:
        failed = ", ".join(repr(name) for name in reply.fallback_from)
        warnings.append(f"{doing}: {failed} failed; answered by {reply.provider!r} (fallback)")
    return Completion(reply, warnings)

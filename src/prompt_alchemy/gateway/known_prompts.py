"""Which prompts exist, as storage said a moment ago: feedback's existence check without a
storage round trip per event.

A front door checks that the prompts a feedback event names exist, so a typo is a 404 instead
of a silently useless event. Asking storage for every event was the largest cost of accepting
one (a bus round trip, a storage read, the whole record decoded), and feedback comes in bursts
on the same few prompts (the candidates a user just compared). So each door remembers, for
``max_age`` seconds, the ids storage confirmed, and lookups of one id that overlap share one
request.

The trade-off, bounded on purpose:

- only existence is remembered: an id storage does not know is asked again every time, so a
  typo is always a 404 and a prompt stored a moment later is found at once;
- a prompt deleted through this door is forgotten at once (``forget``); one deleted elsewhere
  (another gateway replica) may still be accepted for up to ``max_age`` seconds. Learning
  already copes with feedback on a prompt that is gone (it keeps the aggregates to itself), as
  it does with the events a door accepts while storage is down;
- at most ``max_entries`` ids are kept, the least recently confirmed dropped first.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections import OrderedDict
from collections.abc import Callable

from prompt_alchemy.bus import Bus
from prompt_alchemy.errors import BusError, DeadlineExceeded, NotFound, Unavailable
from prompt_alchemy.schemas.registry import STORAGE_GET
from prompt_alchemy.schemas.storage import GetRequest

__all__ = ["LOOKUP_TASK", "LOOKUP_TIMEOUT_S", "KnownPrompts", "check_known"]

LOOKUP_TIMEOUT_S = 5.0
LOOKUP_TASK = "known-prompts-lookup"  # the name of a lookup's task


async def check_known(bus: Bus, prompt_id: str, field: str) -> None:
    """NotFound (naming ``field``) when storage says there is no such prompt; nothing when it has
    it or cannot answer (storage down or slow: the event is accepted anyway, it is durable)."""
    if await _ask(bus, prompt_id, LOOKUP_TIMEOUT_S) is _Answer.MISSING:
        raise _not_found(prompt_id, field)


def _not_found(prompt_id: str, field: str) -> NotFound:
    return NotFound(f"no prompt with id {prompt_id!r} ({field})", details={"field": field, "id": prompt_id})


class _Answer(enum.Enum):
    FOUND = "found"
    MISSING = "missing"
    UNKNOWN = "unknown"  # storage down or slow: accepted, never remembered


async def _ask(bus: Bus, prompt_id: str, timeout: float) -> _Answer:
    try:
        await bus.request(STORAGE_GET, GetRequest(id=prompt_id), timeout=timeout)
    except NotFound:
        return _Answer.MISSING
    except (BusError, Unavailable, DeadlineExceeded):
        return _Answer.UNKNOWN
    return _Answer.FOUND


class KnownPrompts:
    """See the module docstring: ``check`` as ``check_known``, remembering what storage confirmed.

    ``max_age`` 0 remembers nothing (overlapping lookups of one id are still shared).
    """

    def __init__(
        self,
        bus: Bus,
        *,
        max_age: float = 5.0,
        max_entries: int = 10_000,
        timeout: float = LOOKUP_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_age < 0 or max_entries < 1:
            raise ValueError("max_age must be 0 or more and max_entries at least 1")
        self.bus = bus
        self.max_age = max_age
        self.max_entries = max_entries
        self.timeout = timeout
        self._clock = clock
        self._confirmed: OrderedDict[str, float] = OrderedDict()  # id -> when storage was asked
        self._lookups: dict[str, asyncio.Task[_Answer]] = {}

    async def check(self, prompt_id: str, field: str) -> None:
        if await self._answer(prompt_id) is _Answer.MISSING:
            raise _not_found(prompt_id, field)

    async def close(self) -> None:
        """End the lookups under way (their callers see them cancelled) and forget everything."""
        lookups = list(self._lookups.values())
        self._lookups.clear()
        self._confirmed.clear()
        for lookup in lookups:
            lookup.cancel()
        await asyncio.gather(*lookups, return_exceptions=True)

    def forget(self, prompt_id: str) -> None:
        """The prompt was deleted: ask storage next time, and do not remember a lookup already under way."""
        self._confirmed.pop(prompt_id, None)
        self._lookups.pop(prompt_id, None)

    async def _answer(self, prompt_id: str) -> _Answer:
        confirmed = self._confirmed.get(prompt_id)
        if confirmed is not None and self._clock() - confirmed < self.max_age:
            return _Answer.FOUND
        lookup = self._lookups.get(prompt_id)
        if lookup is None:
            lookup = asyncio.create_task(self._look_up(prompt_id), name=LOOKUP_TASK)
            self._lookups[prompt_id] = lookup
        # shielded: a caller that goes away does not cancel the answer the others wait for
        return await asyncio.shield(lookup)

    async def _look_up(self, prompt_id: str) -> _Answer:
        asked_at = self._clock()
        try:
            answer = await _ask(self.bus, prompt_id, self.timeout)
        finally:
            # ``forget`` ran meanwhile when this lookup is no longer the registered one: its
            # answer may predate the deletion, so it is not remembered
            current = self._lookups.get(prompt_id) is asyncio.current_task()
            if current:
                del self._lookups[prompt_id]
        if answer is _Answer.FOUND and current and self.max_age > 0:
            self._confirmed[prompt_id] = asked_at
            self._confirmed.move_to_end(prompt_id)
            while len(self._confirmed) > self.max_entries:
                self._confirmed.popitem(last=False)
        return answer

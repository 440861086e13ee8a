"""Serving named prompts by label from memory, dropped the moment a label moves.

Each front door process keeps what ``storage.label_get`` answered per (name, label). Every
``events.labels.moved`` drops the name's entries (no queue group: every gateway hears every
move), so a move is served everywhere as soon as the event arrives; ``max_age`` bounds how stale
an entry can be if an event is ever missed (a reconnect). A fetch that was in flight when its
name moved is not cached: the name's epoch changed under it.

Which version a split serves is ``choose_variant`` (sticky per caller key); what was served is
counted here and reported to storage in batches (``storage.label_served``), so serving never
waits on a write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from prompt_alchemy.bus import Bus, RequestContext, Subscription
from prompt_alchemy.errors import AlchemyError
from prompt_alchemy.schemas.labels import (
    LabelGetRequest,
    LabelMoved,
    LabelServedRequest,
    LabelServing,
    LabelVariant,
    ServedCount,
    ServedPrompt,
    ServeRequest,
    choose_variant,
)
from prompt_alchemy.schemas.registry import EVENTS_LABEL_MOVED, STORAGE_LABEL_GET, STORAGE_LABEL_SERVED

__all__ = ["LabelCache", "LabelCacheStats", "pick_variant", "serve_uncached"]

log = logging.getLogger(__name__)

_REPORT_CHUNK = 1000


@dataclass(slots=True)
class _Entry:
    serving: LabelServing
    arms: list[LabelVariant]
    fetched_at: float


@dataclass(slots=True)
class LabelCacheStats:
    hits: int = 0
    misses: int = 0
    invalidations: int = 0
    report_failures: int = 0


class LabelCache:
    """See the module docstring. ``start()`` subscribes and starts reporting; ``close()`` undoes both."""

    def __init__(
        self,
        bus: Bus,
        *,
        timeout: float = 10.0,
        max_age: float = 30.0,
        report_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bus = bus
        self.timeout = timeout
        self.max_age = max_age
        self.report_interval = report_interval
        self.stats = LabelCacheStats()
        self._clock = clock
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._epochs: Counter[str] = Counter()
        self._served: Counter[tuple[str, str, int]] = Counter()
        self._subscription: Subscription | None = None
        self._reporter: asyncio.Task[None] | None = None
        self._start_lock = asyncio.Lock()

    @property
    def running(self) -> bool:
        return self._subscription is not None

    async def start(self) -> None:
        async with self._start_lock:
            if self._subscription is not None:
                return
            self._subscription = await self.bus.subscribe(EVENTS_LABEL_MOVED, self._on_moved)
            self._reporter = asyncio.create_task(self._report_periodically(), name="label-served-reporter")

    async def close(self) -> None:
        """Stop listening and reporting; report what was served since the last report."""
        if self._reporter is not None:
            self._reporter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reporter
            self._reporter = None
        if self._subscription is not None:
            await self._subscription.unsubscribe()
            self._subscription = None
        await self.report()
        self._entries.clear()

    async def _on_moved(self, event: LabelMoved, _context: RequestContext) -> None:
        self.invalidate(event.name)

    def invalidate(self, name: str) -> None:
        self._epochs[name] += 1
        for key in [key for key in self._entries if key[0] == name]:
            del self._entries[key]
        self.stats.invalidations += 1

    async def serving(self, name: str, label: str) -> LabelServing:
        """The label's variants, from memory when fresh, else from storage."""
        return (await self._entry(name, label)).serving

    async def _entry(self, name: str, label: str) -> _Entry:
        if self._subscription is None:
            await self.start()
        entry = self._entries.get((name, label))
        now = self._clock()
        if entry is not None and now - entry.fetched_at <= self.max_age:
            self.stats.hits += 1
            return entry
        self.stats.misses += 1
        epoch = self._epochs[name]
        serving = await self.bus.request(
            STORAGE_LABEL_GET, LabelGetRequest(name=name, label=label), timeout=self.timeout
        )
        arms = [LabelVariant(version=item.version, weight=item.weight) for item in serving.variants]
        entry = _Entry(serving, arms, now)
        if self._epochs[name] == epoch:
            self._entries[(name, label)] = entry
        return entry

    async def serve(self, name: str, label: str, key: str | None = None) -> ServedPrompt:
        """The version ``key`` gets (any, without a key), counted as served."""
        entry = await self._entry(name, label)
        served = pick_variant(entry.serving, key, arms=entry.arms)
        self._served[(name, label, served.version)] += 1
        return served

    async def report(self) -> None:
        """Send the served counts to storage; on failure they are kept for the next report."""
        if not self._served:
            return
        pending, self._served = self._served, Counter()
        counts = [
            ServedCount(name=name, label=label, version=version, count=count)
            for (name, label, version), count in pending.items()
        ]
        for start in range(0, len(counts), _REPORT_CHUNK):
            chunk = counts[start : start + _REPORT_CHUNK]
            try:
                await self.bus.request(STORAGE_LABEL_SERVED, LabelServedRequest(counts=chunk), timeout=self.timeout)
            except AlchemyError as error:
                self.stats.report_failures += 1
                for item in counts[start:]:
                    self._served[(item.name, item.label, item.version)] += item.count
                log.warning("could not report served label versions (kept for the next report): %s", error)
                return

    async def _report_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.report_interval)
            await self.report()


def pick_variant(serving: LabelServing, key: str | None, *, arms: list[LabelVariant] | None = None) -> ServedPrompt:
    """The version of ``serving`` that ``key`` gets (``choose_variant``; any, without a key)."""
    split = len(serving.variants) > 1
    chosen = serving.variants[0]
    if split:
        arms = arms or [LabelVariant(version=item.version, weight=item.weight) for item in serving.variants]
        draw = key if key is not None else uuid.uuid4().hex
        arm = choose_variant(arms, name=serving.name, label=serving.label, key=draw)
        chosen = serving.variants[arms.index(arm)]
    return ServedPrompt(
        name=serving.name,
        label=serving.label,
        version=chosen.version,
        prompt_id=chosen.record.id,
        content=chosen.record.content,
        record=chosen.record,
        weight=chosen.weight,
        split=split,
        key=key,
        revision=serving.revision,
    )


async def serve_uncached(bus: Bus, request: ServeRequest, *, timeout: float) -> ServedPrompt:
    """Serve once without a cache (the CLI, MCP: few calls), reporting the served version at once."""
    serving = await bus.request(
        STORAGE_LABEL_GET, LabelGetRequest(name=request.name, label=request.label), timeout=timeout
    )
    served = pick_variant(serving, request.key)
    count = ServedCount(name=served.name, label=served.label, version=served.version, count=1)
    await bus.request(STORAGE_LABEL_SERVED, LabelServedRequest(counts=[count]), timeout=timeout)
    return served

"""The ranking features of stored prompts, as the learner needs them: from the cache, else from storage.

Features are computed from the ``PromptRecord`` (content, input, lineage) with ``schemas.ranking``,
exactly as the engine computes them for a candidate — except the signals unknown at learning time:
no judge score, and no historical rating (it is what the feedback itself produces; learning from it
would teach the model its own labels). Similarity to the input is the lexical one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field

from prompt_alchemy.bus import Bus
from prompt_alchemy.errors import NotFound, ServiceError
from prompt_alchemy.schemas.ranking import RankingInput, extract_features
from prompt_alchemy.schemas.registry import STORAGE_GET
from prompt_alchemy.schemas.storage import GetRequest, PromptRecord
from prompt_alchemy.workers.learning.outages import OUTAGES
from prompt_alchemy.workers.learning.state import LearningState

__all__ = ["FeatureLookup", "PromptFeatures", "training_features"]


def training_features(record: PromptRecord) -> dict[str, float]:
    """The features the learner trains on for ``record`` (see the module docstring)."""
    return extract_features(RankingInput.from_record(record, include_history=False))


@dataclass(slots=True)
class FeatureLookup:
    """Features by prompt id; ``unresolved`` says why the others have none (e.g. "not found in storage")."""

    features: dict[str, dict[str, float]] = field(default_factory=dict)
    unresolved: dict[str, str] = field(default_factory=dict)


class PromptFeatures:
    """Resolves prompt ids to features; unknown prompts are reported, outages raise (Unavailable, ...)."""

    def __init__(self, bus: Bus, state: LearningState, *, timeout: float, concurrency: int) -> None:
        self._bus = bus
        self._state = state
        self._timeout = timeout
        self._slots = asyncio.Semaphore(concurrency)

    async def resolve(self, prompt_ids: Iterable[str]) -> FeatureLookup:
        ids = list(dict.fromkeys(prompt_ids))
        lookup = FeatureLookup(features=await self._state.features(ids))
        missing = [pid for pid in ids if pid not in lookup.features]
        if not missing:
            return lookup
        results = await asyncio.gather(*(self._fetch(pid) for pid in missing))
        fetched: dict[str, dict[str, float]] = {}
        for pid, result in zip(missing, results, strict=True):
            if isinstance(result, PromptRecord):
                fetched[pid] = training_features(result)
            else:
                lookup.unresolved[pid] = result
        if fetched:
            await self._state.save_features(fetched)
            lookup.features.update(fetched)
        return lookup

    async def _fetch(self, prompt_id: str) -> PromptRecord | str:
        """The record, or why there is none; outages raise."""
        async with self._slots:
            try:
                reply = await self._bus.request(STORAGE_GET, GetRequest(id=prompt_id), timeout=self._timeout)
            except NotFound:
                return "not found in storage"
            except OUTAGES:
                raise
            except ServiceError as error:
                return f"refused by storage: {error.message}"
        return reply.record

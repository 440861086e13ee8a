"""Where the learning worker keeps what it learned: the ``LearningState`` contract and its value types.

Two implementations: ``SqliteLearningState`` (embedded) and ``RedisLearningState`` (shared by
replicas). ``apply`` is the one place where feedback takes effect, atomically: record the new
events (so a redelivered event is recognised and skipped), fold them into per-prompt aggregates
and counters, mark the touched prompts for the storage sync, and store the new weights.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from prompt_alchemy.schemas.learning import Weights
from prompt_alchemy.workers.learning.aggregates import PromptAggregate
from prompt_alchemy.workers.learning.facts import FeedbackFact
from prompt_alchemy.workers.learning.ledger import VotePolicy

__all__ = ["ApplyOutcome", "LearningState", "OnlineTrainer", "Refitter", "StateStats"]

OnlineTrainer = Callable[[Weights, Sequence[FeedbackFact]], Weights | None]
"""Given the current weights and the newly applied facts, the next weights (None: unchanged). Pure CPU."""

Refitter = Callable[[Sequence[FeedbackFact], int], Weights]
"""Given every applied fact and the next version number, freshly fitted weights. Pure CPU."""


@dataclass(frozen=True, slots=True)
class ApplyOutcome:
    applied: int
    duplicates: int
    weights: Weights | None = None  # the new weights when they changed


@dataclass(frozen=True, slots=True)
class StateStats:
    counters: Mapping[str, int] = field(default_factory=dict)
    weights_version: int = 0
    prompts: int = 0
    unsynced_prompts: int = 0


class LearningState(Protocol):
    half_life: float  # seconds; the relevance decay of aggregates
    votes: VotePolicy  # which new facts count as votes (``ledger.admit_votes``)

    async def unseen(self, event_ids: Sequence[str]) -> set[str]:
        """The ids not applied yet (a cheap pre-filter; ``apply`` checks again)."""
        ...

    async def features(self, prompt_ids: Sequence[str]) -> dict[str, dict[str, float]]:
        """Cached ranking features of the prompts that have them."""
        ...

    async def save_features(self, features: Mapping[str, Mapping[str, float]]) -> None: ...

    async def apply(self, facts: Sequence[FeedbackFact], trainer: OnlineTrainer | None = None) -> ApplyOutcome:
        """Apply the facts not applied before, all or nothing; see the module docstring.

        Only the facts ``ledger.admit_votes`` counts move aggregates and reach ``trainer``; the
        others are recorded (marked not counted) so they are recognised when redelivered."""
        ...

    async def count_duplicates(self, count: int) -> None:
        """Redeliveries recognised before ``apply`` (for ``learning.stats``)."""
        ...

    async def unsynced(self, limit: int) -> list[PromptAggregate]:
        """Aggregates changed since they were last written to storage."""
        ...

    async def mark_synced(self, revisions: Mapping[str, int]) -> None:
        """These revisions reached storage; a prompt changed again since stays unsynced."""
        ...

    async def aggregates(self, prompt_ids: Sequence[str]) -> dict[str, PromptAggregate]: ...

    async def weights(self) -> Weights:
        """The current weights (``DEFAULT_WEIGHTS`` before any learning)."""
        ...

    async def facts(self) -> list[FeedbackFact]:
        """Every applied fact, oldest first (for a full refit)."""
        ...

    async def refit(self, refitter: Refitter) -> Weights:
        """Replace the weights with ``refitter(all facts, next version)``, atomically with respect to ``apply``."""
        ...

    async def stats(self) -> StateStats: ...

    async def close(self) -> None: ...

"""Per-prompt feedback aggregates, including a relevance score that forgets old feedback.

The relevance score is a shrunk, exponentially time-decayed mean of the feedback signals:
``(S * d + prior * k) / (W * d + k)`` where ``S`` and ``W`` are the decayed sums of signals and
weights as of ``decay_ref`` and ``d`` decays them to "now". Events may arrive in any order; the
sums come out the same. With no recent feedback the score drifts back towards the prior.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from prompt_alchemy.schemas.storage import AggregatesRequest

__all__ = ["RELEVANCE_PRIOR", "PromptAggregate"]

RELEVANCE_PRIOR = 0.5
_PRIOR_WEIGHT = 1.0


def _decay(elapsed: float, half_life: float) -> float:
    return float(0.5 ** (max(0.0, elapsed) / half_life))


@dataclass(slots=True)
class PromptAggregate:
    """What the learning worker knows of one prompt; ``revision`` counts changes (for storage sync)."""

    prompt_id: str
    usage_count: int = 0
    rating_count: int = 0
    rating_sum: float = 0.0
    decayed_sum: float = 0.0
    decayed_weight: float = 0.0
    decay_ref: float = 0.0
    revision: int = 0

    @property
    def mean_rating(self) -> float | None:
        return self.rating_sum / self.rating_count if self.rating_count else None

    def add_signal(self, signal: float, at: float, half_life: float) -> None:
        if at >= self.decay_ref:
            factor = _decay(at - self.decay_ref, half_life)
            self.decayed_sum = self.decayed_sum * factor + signal
            self.decayed_weight = self.decayed_weight * factor + 1.0
            self.decay_ref = at
        else:
            weight = _decay(self.decay_ref - at, half_life)
            self.decayed_sum += signal * weight
            self.decayed_weight += weight

    def add_rating(self, rating: int) -> None:
        self.rating_count += 1
        self.rating_sum += rating

    def relevance(self, now: float, half_life: float) -> float:
        factor = _decay(now - self.decay_ref, half_life)
        value = (self.decayed_sum * factor + RELEVANCE_PRIOR * _PRIOR_WEIGHT) / (
            self.decayed_weight * factor + _PRIOR_WEIGHT
        )
        return min(1.0, max(0.0, value))

    def update_request(self, now: float, half_life: float) -> AggregatesRequest:
        """Absolute values (not increments): writing them twice is harmless."""
        mean = self.mean_rating
        return AggregatesRequest(
            id=self.prompt_id,
            usage_count=self.usage_count,
            rating_count=self.rating_count,
            mean_rating=None if mean is None else min(5.0, max(1.0, mean)),
            relevance_score=self.relevance(now, half_life),
        )

    def to_row(self) -> tuple[str, int, int, float, float, float, float, int]:
        return (
            self.prompt_id,
            self.usage_count,
            self.rating_count,
            self.rating_sum,
            self.decayed_sum,
            self.decayed_weight,
            self.decay_ref,
            self.revision,
        )

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> PromptAggregate:
        """The inverse of ``to_row`` (SQLite rows and JSON arrays alike)."""
        return cls(
            prompt_id=str(row[0]),
            usage_count=int(row[1]),
            rating_count=int(row[2]),
            rating_sum=float(row[3]),
            decayed_sum=float(row[4]),
            decayed_weight=float(row[5]),
            decay_ref=float(row[6]),
            revision=int(row[7]),
        )

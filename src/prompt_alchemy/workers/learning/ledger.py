"""Folding a batch of new feedback facts into aggregates and counters: the same for every state backend."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, MutableMapping

from prompt_alchemy.workers.learning.aggregates import PromptAggregate
from prompt_alchemy.workers.learning.facts import FeedbackFact

__all__ = [
    "DUPLICATES",
    "EVENTS_PROCESSED",
    "PAIRWISE",
    "RATING_PREFIX",
    "SOURCE_PREFIX",
    "fold_facts",
]

EVENTS_PROCESSED = "events_processed"
DUPLICATES = "duplicates"
PAIRWISE = "pairwise_preferences"
SOURCE_PREFIX = "source:"
RATING_PREFIX = "rating:"


def fold_facts(
    facts: Iterable[FeedbackFact],
    aggregates: MutableMapping[str, PromptAggregate],
    *,
    half_life: float,
) -> Counter[str]:
    """Apply ``facts`` (all new) to ``aggregates`` (created as needed; each touched one gets a new
    revision) and return the counter increments.

    The rated prompt gets a use, its rating and its relevance signal; the prompt it was chosen over
    gets a relevance signal of 0 (it lost a comparison) but no use.
    """
    counters: Counter[str] = Counter()
    touched: set[str] = set()
    for fact in facts:
        counters[EVENTS_PROCESSED] += 1
        counters[SOURCE_PREFIX + fact.source] += 1
        chosen = aggregates.setdefault(fact.prompt_id, PromptAggregate(fact.prompt_id))
        chosen.usage_count += 1
        chosen.add_signal(fact.relevance_signal(), fact.created_at, half_life)
        if fact.rating is not None:
            chosen.add_rating(fact.rating)
            counters[RATING_PREFIX + str(fact.rating)] += 1
        touched.add(fact.prompt_id)
        if fact.chosen_over is not None:
            counters[PAIRWISE] += 1
            rejected = aggregates.setdefault(fact.chosen_over, PromptAggregate(fact.chosen_over))
            rejected.add_signal(0.0, fact.created_at, half_life)
            touched.add(fact.chosen_over)
    for prompt_id in touched:
        aggregates[prompt_id].revision += 1
    return counters

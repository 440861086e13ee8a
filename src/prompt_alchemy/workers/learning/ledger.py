"""Folding a batch of new feedback facts into aggregates and counters: the same for every state backend.

Not every new fact is a new *vote*. A fact the front door attributed to an ``origin`` (an API key
or a client address) is one vote of that origin's session on its prompt: a second fact of the same
origin, session and prompt is recorded (so its redelivery is recognised) but counts for nothing,
and one origin counts at most ``VotePolicy.votes_per_origin`` votes on one prompt, whatever
sessions it makes up. Only counted votes move aggregates and train the weights, so one source's
influence over a prompt and over the global weights is bounded. Facts with no origin come from
inside the deployment (bus publishers, imports) and each counts as itself.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field

from prompt_alchemy.workers.learning.aggregates import PromptAggregate
from prompt_alchemy.workers.learning.facts import FeedbackFact

__all__ = [
    "DUPLICATES",
    "EVENTS_PROCESSED",
    "IGNORED_VOTES",
    "PAIRWISE",
    "RATING_PREFIX",
    "SOURCE_PREFIX",
    "Admission",
    "VotePolicy",
    "admit_votes",
    "counted_votes",
    "fold_admission",
    "fold_facts",
    "influence_key",
    "vote_key",
]

EVENTS_PROCESSED = "events_processed"
DUPLICATES = "duplicates"
PAIRWISE = "pairwise_preferences"
SOURCE_PREFIX = "source:"
RATING_PREFIX = "rating:"
IGNORED_VOTES = "ignored_votes"

_SEPARATOR = "\x1f"  # cannot occur in an identifier, a session id (printable) or an origin


@dataclass(frozen=True, slots=True)
class VotePolicy:
    """``votes_per_origin``: counted votes of one origin (API key or client address) on one prompt."""

    votes_per_origin: int = 3

    def __post_init__(self) -> None:
        if self.votes_per_origin < 1:
            raise ValueError("votes_per_origin must be at least 1")


def vote_key(fact: FeedbackFact) -> str | None:
    """Who voted on what: origin, session and the judged pair; None for a fact from inside."""
    if fact.origin is None:
        return None
    return _SEPARATOR.join((fact.origin, fact.session_id or "", fact.prompt_id, fact.chosen_over or ""))


def influence_key(fact: FeedbackFact) -> str | None:
    """The (origin, prompt) whose counted votes ``VotePolicy.votes_per_origin`` bounds."""
    return None if fact.origin is None else _SEPARATOR.join((fact.origin, fact.prompt_id))


@dataclass(slots=True)
class Admission:
    """Which new facts count, and what the state must remember so later batches agree."""

    counted: list[FeedbackFact] = field(default_factory=list)
    ignored: list[FeedbackFact] = field(default_factory=list)
    new_votes: list[str] = field(default_factory=list)
    influence: Counter[str] = field(default_factory=Counter)

    @property
    def recorded(self) -> list[FeedbackFact]:
        """Every new fact, ignored ones marked so: each is applied once, ever."""
        return self.counted + self.ignored


def admit_votes(
    facts: Sequence[FeedbackFact], known_votes: set[str], influence: Mapping[str, int], policy: VotePolicy
) -> Admission:
    """Split new ``facts`` into counted votes and ignored repeats, given the votes already counted
    (``known_votes``) and each (origin, prompt)'s counted votes so far (``influence``)."""
    admission = Admission()
    seen = set(known_votes)
    for fact in facts:
        key, bound = vote_key(fact), influence_key(fact)
        if key is None or bound is None:
            admission.counted.append(fact)
            continue
        if key in seen or influence.get(bound, 0) + admission.influence[bound] >= policy.votes_per_origin:
            admission.ignored.append(dataclasses.replace(fact, counted=False))
            continue
        seen.add(key)
        admission.new_votes.append(key)
        admission.influence[bound] += 1
        admission.counted.append(fact)
    return admission


def counted_votes(facts: Iterable[FeedbackFact]) -> list[FeedbackFact]:
    """The applied facts that counted: what a full refit trains on."""
    return [fact for fact in facts if fact.counted]


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


def fold_admission(
    admission: Admission, aggregates: MutableMapping[str, PromptAggregate], *, half_life: float
) -> Counter[str]:
    """``fold_facts`` of the counted votes; an ignored one is still an event processed."""
    counters = fold_facts(admission.counted, aggregates, half_life=half_life)
    for fact in admission.ignored:
        counters[EVENTS_PROCESSED] += 1
        counters[SOURCE_PREFIX + fact.source] += 1
        counters[IGNORED_VOTES] += 1
    return counters

"""Which version of a named prompt its feedback favours, how sure that is, and auto-promotion.

Each version is its own prompt, so learning's per-prompt aggregates already keep the variants'
feedback apart. A version's ratings (1-5) are read as successes on a 0-1 scale under a uniform
Beta prior; the favoured version has the highest posterior mean, and the confidence is the
normal approximation of P(favoured beats the runner-up). The label moves only when its
``auto_promote`` policy holds, by a compare-and-set on the name's revision, audited as
``auto_promote`` like any other move. Policies are applied when a name's stats are read and by
the learning worker's periodic review (``review_policies``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

from prompt_alchemy.bus import Bus
from prompt_alchemy.errors import AlchemyError, Conflict, NotFound
from prompt_alchemy.schemas.labels import (
    AutoPromotePolicy,
    LabelMoved,
    LabelPoliciesRequest,
    LabelSetRequest,
    LabelState,
    LabelStatsReply,
    LabelStatsRequest,
    NameGetRequest,
    VariantStats,
)
from prompt_alchemy.schemas.registry import STORAGE_LABEL_POLICIES, STORAGE_LABEL_SET, STORAGE_NAME_GET
from prompt_alchemy.workers.learning.state import LearningState

__all__ = ["compare_versions", "label_stats", "review_policies"]

log = logging.getLogger(__name__)

AUTO_PROMOTE_ACTOR = "auto_promote"


def _posterior(stats: VariantStats) -> tuple[float, float]:
    """Posterior mean and variance of the version's 0-1 success rate (Beta(1, 1) prior)."""
    count = stats.rated
    successes = 0.0 if stats.mean_rating is None else (stats.mean_rating - 1.0) / 4.0 * count
    mean = (successes + 1.0) / (count + 2.0)
    return mean, mean * (1.0 - mean) / (count + 3.0)


def compare_versions(variants: Sequence[VariantStats]) -> tuple[int | None, float | None]:
    """(favoured version, confidence it beats the runner-up); (None, None) without ratings."""
    rated = [variant for variant in variants if variant.rated > 0]
    if not rated:
        return None, None
    ranked = sorted(rated, key=lambda variant: (-_posterior(variant)[0], variant.version))
    if len(ranked) == 1:
        return ranked[0].version, None
    (best_mean, best_var), (next_mean, next_var) = _posterior(ranked[0]), _posterior(ranked[1])
    z = (best_mean - next_mean) / math.sqrt(best_var + next_var)
    return ranked[0].version, 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def _promotion(
    state: LabelState, variants: Sequence[VariantStats], favoured: int | None, confidence: float | None
) -> int | None:
    """The version the policy moves the label to, or None."""
    policy: AutoPromotePolicy | None = state.auto_promote
    if policy is None or favoured is None or confidence is None:
        return None
    current = state.main_version
    if favoured == current or (len(state.variants) == 1 and state.variants[0].version == favoured):
        return None
    by_version = {variant.version: variant for variant in variants}
    best, incumbent = by_version[favoured], by_version[current]
    if best.rated < policy.min_events or incumbent.rated < policy.min_events:
        return None
    if best.mean_rating is None or incumbent.mean_rating is None:
        return None
    if best.mean_rating - incumbent.mean_rating < policy.margin or confidence < policy.confidence:
        return None
    return favoured


async def label_stats(bus: Bus, state: LearningState, request: LabelStatsRequest, *, timeout: float) -> LabelStatsReply:
    named = await bus.request(STORAGE_NAME_GET, NameGetRequest(name=request.name), timeout=timeout)
    label = named.labels.get(request.label)
    if label is None:
        raise NotFound(
            f"name {request.name!r} has no label {request.label!r}",
            details={"field": "label", "labels": sorted(named.labels)},
        )
    aggregates = await state.aggregates([version.prompt_id for version in named.versions])
    weights = {variant.version: variant.weight for variant in label.variants}
    variants = []
    for version in named.versions:
        aggregate = aggregates.get(version.prompt_id)
        variants.append(
            VariantStats(
                version=version.version,
                prompt_id=version.prompt_id,
                weight=weights.get(version.version, 0),
                served=label.served.get(version.version, 0),
                rated=aggregate.rating_count if aggregate else 0,
                mean_rating=aggregate.mean_rating if aggregate else None,
            )
        )
    favoured, confidence = compare_versions(variants)
    promoted: LabelMoved | None = None
    target = _promotion(label, variants, favoured, confidence)
    if target is not None:
        assert confidence is not None
        move = LabelSetRequest(
            name=request.name,
            label=request.label,
            version=target,
            actor=AUTO_PROMOTE_ACTOR,
            automatic=True,
            reason=f"auto_promote: v{target} favoured with confidence {confidence:.3f}",
            expected_revision=named.revision,
        )
        try:
            promoted = (await bus.request(STORAGE_LABEL_SET, move, timeout=timeout)).move
        except Conflict:
            promoted = None  # the name changed meanwhile: the next look decides again
    return LabelStatsReply(
        name=request.name,
        label=request.label,
        variants=variants,
        favoured_version=favoured,
        confidence=confidence,
        auto_promote=label.auto_promote,
        promoted=promoted,
    )


async def review_policies(bus: Bus, state: LearningState, *, timeout: float) -> list[LabelMoved]:
    """Look at every label with an ``auto_promote`` policy once; the moves that made."""
    policed = await bus.request(STORAGE_LABEL_POLICIES, LabelPoliciesRequest(), timeout=timeout)
    moves = []
    for item in policed.labels:
        try:
            reply = await label_stats(bus, state, LabelStatsRequest(name=item.name, label=item.label), timeout=timeout)
        except AlchemyError as error:
            log.warning("auto_promote review of %s/%s failed: %s", item.name, item.label, error)
            continue
        if reply.promoted is not None:
            log.info("auto_promote moved %s/%s: %s", item.name, item.label, reply.promoted.reason)
            moves.append(reply.promoted)
    return moves

"""``learning.recommendations``: the best stored prompts for an input — similarity x learned score.

Candidates come from ``storage.search`` (semantic similarity to the input, filters applied there);
each is scored by the current weights on its ranking features, this time with its historical
rating, which is exactly what the learned weights are for. Its ``similarity_to_input`` feature is
the shared lexical one against the request's input, as in training and in the engine: weights
learned on one definition of a feature mean nothing on another.
"""

from __future__ import annotations

from prompt_alchemy.bus import Bus
from prompt_alchemy.schemas.learning import Recommendation, RecommendationsReply, RecommendationsRequest, Weights
from prompt_alchemy.schemas.ranking import RankingInput, extract_features, score
from prompt_alchemy.schemas.registry import STORAGE_SEARCH
from prompt_alchemy.schemas.storage import SearchRequest

__all__ = ["recommend"]

_CANDIDATES_PER_RESULT = 4
_MAX_CANDIDATES = 100  # storage.search's own limit


async def recommend(
    bus: Bus, weights: Weights, request: RecommendationsRequest, *, timeout: float
) -> RecommendationsReply:
    search = SearchRequest(
        query=request.input,
        filters=request.filters,
        min_similarity=request.min_similarity,
        limit=min(_MAX_CANDIDATES, request.limit * _CANDIDATES_PER_RESULT),
    )
    reply = await bus.request(STORAGE_SEARCH, search, timeout=timeout)
    items: list[Recommendation] = []
    for hit in reply.hits:
        similarity = min(1.0, max(-1.0, hit.similarity if hit.similarity is not None else 0.0))
        candidate = RankingInput.from_record(hit.record).model_copy(update={"input": request.input})
        learned = score(extract_features(candidate), weights)
        items.append(
            Recommendation(record=hit.record, similarity=similarity, learned_score=learned, score=similarity * learned)
        )
    items.sort(key=lambda item: item.score, reverse=True)
    return RecommendationsReply(items=items[: request.limit])

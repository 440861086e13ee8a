"""History enhancement (RAG): stored prompts similar to the idea, offered to a phase as context.

Before its first phase the engine searches storage, for each phase, for prompts of that phase
whose embedding is close to the idea (at least the similarity threshold), in one request; the
best few go into that phase's system message.
Which stored prompts were used is reported back, so a user can see where an idea came from.
"""

from __future__ import annotations

from collections.abc import Sequence

from prompt_alchemy.schemas.common import Phase
from prompt_alchemy.schemas.storage import SearchBatchRequest, SearchFilters, SearchRequest
from prompt_alchemy.workers.generation.guidance import HistoryExample
from prompt_alchemy.workers.generation.storage_link import StorageLink

__all__ = ["find_history"]


async def find_history(
    storage: StorageLink,
    *,
    idea: str,
    phases: Sequence[Phase],
    min_similarity: float,
    limit: int,
    exclude_request: str | None = None,
) -> dict[Phase, list[HistoryExample]]:
    """For each phase, up to ``limit`` stored prompts of that phase similar to ``idea``, all in one
    storage request; no examples when storage cannot say."""
    if limit <= 0 or not phases:
        return {phase: [] for phase in phases}
    reply = await storage.search_batch(
        SearchBatchRequest(
            searches=[
                SearchRequest(
                    query=idea,
                    min_similarity=min_similarity,
                    filters=SearchFilters(phase=phase),
                    limit=min(100, limit * 2),  # room to drop prompts of this very request
                )
                for phase in phases
            ]
        )
    )
    if reply is None:
        return {phase: [] for phase in phases}
    found: dict[Phase, list[HistoryExample]] = {}
    for phase, search in zip(phases, reply.replies, strict=True):
        examples = found[phase] = []
        for hit in search.hits:
            if exclude_request is not None and hit.record.lineage.generation_request_id == exclude_request:
                continue
            if hit.similarity is not None and hit.similarity < min_similarity:
                continue  # the threshold is ours to keep, whatever the backend does with it
            examples.append(HistoryExample(id=hit.record.id, content=hit.record.content, similarity=hit.similarity))
            if len(examples) == limit:
                break
    return found

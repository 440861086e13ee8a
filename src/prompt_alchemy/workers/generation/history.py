"""History enhancement (RAG): stored prompts similar to the idea, offered to a phase as context.

Before each phase the engine searches storage for prompts of that same phase whose embedding is
close to the idea (at least the similarity threshold); the best few go into the system message.
Which stored prompts were used is reported back, so a user can see where an idea came from.
"""

from __future__ import annotations

from prompt_alchemy.schemas.common import Phase
from prompt_alchemy.schemas.storage import SearchFilters, SearchRequest
from prompt_alchemy.workers.generation.guidance import HistoryExample
from prompt_alchemy.workers.generation.storage_link import StorageLink

__all__ = ["find_history"]


async def find_history(
    storage: StorageLink,
    *,
    idea: str,
    phase: Phase,
    min_similarity: float,
    limit: int,
    exclude_request: str | None = None,
) -> list[HistoryExample]:
    """Up to ``limit`` stored prompts of ``phase`` similar to ``idea``; empty when storage cannot say."""
    if limit <= 0:
        return []
    reply = await storage.search(
        SearchRequest(
            query=idea,
            min_similarity=min_similarity,
            filters=SearchFilters(phase=phase),
            limit=min(100, limit * 2),  # room to drop prompts of this very request
        )
    )
    if reply is None:
        return []
    examples: list[HistoryExample] = []
    for hit in reply.hits:
        if exclude_request is not None and hit.record.lineage.generation_request_id == exclude_request:
            continue
        if hit.similarity is not None and hit.similarity < min_similarity:
            continue  # the threshold is ours to keep, whatever the backend does with it
        examples.append(HistoryExample(id=hit.record.id, content=hit.record.content, similarity=hit.similarity))
        if len(examples) == limit:
            break
    return examples

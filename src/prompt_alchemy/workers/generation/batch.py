"""``engine.batch``: many generate requests with bounded concurrency; one failure fails only itself."""

from __future__ import annotations

import asyncio

from prompt_alchemy.bus import RequestContext
from prompt_alchemy.bus.failures import as_service_error
from prompt_alchemy.schemas.engine import BatchItemResult, BatchReply, BatchRequest, GenerateRequest
from prompt_alchemy.schemas.errors import ErrorBody
from prompt_alchemy.workers.generation.generation import Generator

__all__ = ["run_batch"]


async def run_batch(generator: Generator, request: BatchRequest, context: RequestContext | None) -> BatchReply:
    """Every item runs the full generation (own request id and progress events), at most ``concurrency`` at once."""
    slots = asyncio.Semaphore(request.concurrency)

    async def run_item(index: int, item: GenerateRequest) -> BatchItemResult:
        async with slots:
            try:
                reply = await generator.generate(item, context)
            except Exception as error:
                failure = as_service_error(error, doing=f"batch item {index}")
                return BatchItemResult(index=index, ok=False, error=ErrorBody.from_error(failure))
            if not request.candidates:
                reply = reply.model_copy(update={"prompts": list(reply.selected)})
            return BatchItemResult(index=index, ok=True, reply=reply)

    results = await asyncio.gather(*(run_item(index, item) for index, item in enumerate(request.items)))
    succeeded = sum(1 for result in results if result.ok)
    return BatchReply(results=list(results), succeeded=succeeded, failed=len(results) - succeeded)

"""``engine.batch``: many generate requests with bounded concurrency; one failure fails only itself."""

from __future__ import annotations

import asyncio

from prompt_alchemy.bus import RequestContext
from prompt_alchemy.bus.failures import as_service_error
from prompt_alchemy.errors import ServiceError
from prompt_alchemy.schemas.engine import BatchItemResult, BatchReply, BatchRequest, GenerateRequest
from prompt_alchemy.schemas.errors import ErrorBody
from prompt_alchemy.workers.generation.deadline import Budget
from prompt_alchemy.workers.generation.generation import Generator

__all__ = ["run_batch"]


async def run_batch(generator: Generator, request: BatchRequest, context: RequestContext | None) -> BatchReply:
    """Every item runs the full generation (own request id and progress events), at most ``concurrency`` at once.

    When the caller's deadline stops the batch, every item still running answers its own
    ``DeadlineExceeded`` (naming its stage, or that it never started), and the batch its results.
    """
    slots = asyncio.Semaphore(request.concurrency)
    budget = Budget.current(what="the batch")

    def failed(index: int, failure: ServiceError) -> BatchItemResult:
        return BatchItemResult(index=index, ok=False, error=ErrorBody.from_error(failure))

    async def run_item(index: int, item: GenerateRequest) -> BatchItemResult:
        try:
            async with slots:
                reply = await generator.generate(item, context)
        except asyncio.CancelledError:
            if not budget.expired():
                raise
            return failed(index, budget.exceeded(f"batch item {index} started"))
        except Exception as error:
            return failed(index, as_service_error(error, doing=f"batch item {index}"))
        if not request.candidates:
            reply = reply.model_copy(update={"prompts": list(reply.selected)})
        return BatchItemResult(index=index, ok=True, reply=reply)

    items = [asyncio.ensure_future(run_item(index, item)) for index, item in enumerate(request.items)]
    try:
        await asyncio.gather(*items)
    except asyncio.CancelledError:
        if not budget.expired():
            raise
        # the deadline cancelled every item still running; each has answered its DeadlineExceeded
    results = [item.result() for item in items]
    succeeded = sum(1 for result in results if result.ok)
    return BatchReply(results=list(results), succeeded=succeeded, failed=len(results) - succeeded)

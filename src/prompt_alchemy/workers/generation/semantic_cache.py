"""The engine's side of the semantic cache: the shape of a request, lookup before, put after.

Two requests may share an answer only when everything but the wording of the idea that shapes
the result is equal: persona, target family, phases, count, and also the phase selection,
provider, judging, temperature, token limit, per-phase settings and the numbers the idea
mentions. Storage compares the ideas by meaning. The cache is an optimisation: when storage
cannot answer, generation goes on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re

from prompt_alchemy import schemas
from prompt_alchemy.bus import Bus
from prompt_alchemy.errors import AlchemyError
from prompt_alchemy.schemas.common import TargetFamily, Usage
from prompt_alchemy.schemas.engine import GenerateReply, GenerateRequest
from prompt_alchemy.schemas.generation_cache import CacheLookupRequest, CachePutRequest
from prompt_alchemy.workers.generation.settings import EngineSettings

__all__ = ["SemanticCacheLink", "cache_shape"]

log = logging.getLogger(__name__)

_NUMBER = re.compile(r"\d+(?:[.,:/-]\d+)*")


def cache_shape(request: GenerateRequest) -> str:
    """A digest of what, besides the idea's wording, decides a generation's result.

    The numbers in the idea are part of it: embeddings hardly see them, yet "sales for 2023" and
    "sales for 2024", or "idea number 3" and "idea number 4", are different requests.
    """
    shape = {
        "numbers": _NUMBER.findall(request.input),
        "persona": request.persona.value if request.persona is not None else None,  # None: the engine chooses
        "family": TargetFamily.for_model(request.target_model).value,
        "phases": [phase.value for phase in request.phases],
        "count": request.count,
        "selection": request.phase_selection.value,
        "provider": request.provider,
        "judge": request.judge,
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
        "phase_settings": {
            str(phase): settings.model_dump(mode="json") for phase, settings in sorted(request.phase_settings.items())
        },
    }
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:32]


class SemanticCacheLink:
    def __init__(self, bus: Bus, settings: EngineSettings) -> None:
        self.bus = bus
        self.settings = settings

    async def lookup(self, request: GenerateRequest, request_id: str, *, timeout: float) -> GenerateReply | None:
        """The cached answer for ``request`` (marked cached), or None."""
        if not (request.cache and self.settings.cache_enabled):
            return None
        ask = CacheLookupRequest(
            idea=request.input, shape=cache_shape(request), min_similarity=self.settings.cache_min_similarity
        )
        try:
            found = await self.bus.request(schemas.STORAGE_CACHE_LOOKUP, ask, timeout=timeout)
        except AlchemyError as error:
            log.info("semantic cache not consulted for %s: %s", request_id, error)
            return None
        if not found.hit or found.reply is None:
            return None
        return found.reply.model_copy(
            update={
                "request_id": request_id,
                "input": request.input,
                "cached": True,
                "cached_from": found.request_id,
                "cache_similarity": found.similarity,
                "usage": Usage(),
                "cost_usd": 0.0,
            }
        )

    async def remember(self, request: GenerateRequest, reply: GenerateReply, *, timeout: float) -> bool:
        """Offer a fresh generation to the cache: only one whose prompts were all saved."""
        if not self.settings.cache_enabled or reply.cached or not reply.prompts:
            return False
        prompt_ids = [prompt.id for prompt in reply.prompts if prompt.id is not None and prompt.saved]
        if len(prompt_ids) != len(reply.prompts):
            return False
        put = CachePutRequest(
            idea=request.input,
            shape=cache_shape(request),
            request_id=reply.request_id,
            reply=reply,
            prompt_ids=prompt_ids[:100],
            ttl_s=self.settings.cache_ttl_s,
        )
        try:
            await self.bus.request(schemas.STORAGE_CACHE_PUT, put, timeout=timeout)
        except AlchemyError as error:
            log.info("generation %s not cached: %s", reply.request_id, error)
            return False
        return True

"""Contracts of the semantic generation cache the storage worker keeps for the engine.

The engine asks before it runs the phases: is there a previous generation of the same shape
(persona, target family, phases, count and the other settings that change the result) whose
idea is near-identical? Storage embeds the idea with its model and answers the nearest entry
at or above ``min_similarity``. Entries expire, and go when one of their prompts is deleted.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from prompt_alchemy.schemas.common import Identifier, Reply, Request
from prompt_alchemy.schemas.engine import GenerateReply, InputText

__all__ = ["CacheLookupReply", "CacheLookupRequest", "CachePutReply", "CachePutRequest", "CacheShape"]

CacheShape = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[0-9a-f]+$")]
"""A digest of everything besides the idea that shapes a generation's result (the engine makes it)."""

MAX_TTL_S = 30 * 24 * 3600


class CacheLookupRequest(Request):
    idea: InputText
    shape: CacheShape
    min_similarity: float = Field(ge=0.0, le=1.0)


class CacheLookupReply(Reply):
    hit: bool
    request_id: str | None = None
    """The generation the answer comes from."""
    similarity: float | None = None
    reply: GenerateReply | None = None


class CachePutRequest(Request):
    idea: InputText
    shape: CacheShape
    request_id: Identifier
    reply: GenerateReply
    prompt_ids: list[Identifier] = Field(min_length=1, max_length=100)
    """The stored prompts the reply names: deleting any of them drops the entry."""
    ttl_s: int = Field(ge=1, le=MAX_TTL_S)


class CachePutReply(Reply):
    stored: bool

"""Exact-request cache of completions: same request to the same provider and model, same reply.

The key is the sha256 of the canonical JSON of the request (sorted keys, ``use_cache`` left
out) plus the provider and model it resolved to, so a newly configured default provider is not
answered from an old one's entries. Bounded LRU, in memory; only successful replies go in.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict

from prompt_alchemy.schemas.providers import CompletionReply, CompletionRequest

__all__ = ["CompletionCache", "request_digest"]


def request_digest(request: CompletionRequest, *, provider: str = "", model: str = "") -> str:
    canonical = request.model_dump(mode="json", exclude={"use_cache", "stream"})
    canonical["_resolved"] = [provider, model]
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class CompletionCache:
    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, CompletionReply] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> CompletionReply | None:
        reply = self._entries.get(key)
        if reply is None:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return reply.model_copy(deep=True)

    def put(self, key: str, reply: CompletionReply) -> None:
        if self.max_entries <= 0:
            return
        self._entries[key] = reply.model_copy(deep=True)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

"""Storage as one engine request sees it: optional, and given up on after its first outage.

Generation must answer while storage is down, so every call here degrades instead of raising:
a failed store leaves the prompt unsaved, a failed search gives no history. The first "not there
/ not answering" failure marks storage down for the rest of the request, so an outage costs one
timeout, not one per prompt.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel

from prompt_alchemy import schemas
from prompt_alchemy.bus import Bus
from prompt_alchemy.bus.failures import is_unreachable
from prompt_alchemy.errors import AlchemyError, NotFound, ServiceError, Unavailable
from prompt_alchemy.schemas.contract import RequestContract
from prompt_alchemy.schemas.storage import (
    GetReply,
    GetRequest,
    SearchBatchReply,
    SearchBatchRequest,
    StoreBatchReply,
    StoreBatchRequest,
    StoreReply,
    StoreRequest,
)

__all__ = ["StorageLink"]

ReqT = TypeVar("ReqT", bound=BaseModel)
RepT = TypeVar("RepT", bound=BaseModel)


class StorageLink:
    """Per-request view of the storage worker; collects the warnings the reply should carry."""

    def __init__(self, bus: Bus, *, timeout_s: float) -> None:
        self.bus = bus
        self.timeout_s = timeout_s
        self.down_reason: str | None = None
        self.warnings: list[str] = []

    @property
    def available(self) -> bool:
        return self.down_reason is None

    def _failed(self, error: AlchemyError, doing: str) -> None:
        if is_unreachable(error):
            if self.down_reason is None:
                self.down_reason = f"{type(error).__name__}: {error}"
                self.warnings.append(f"storage unavailable ({self.down_reason}); {doing} skipped")
            return
        self.warnings.append(f"storage refused {doing}: {error}")

    async def _ask(self, contract: RequestContract[ReqT, RepT], request: ReqT, doing: str) -> RepT | None:
        """The reply, or None once storage is down or refused (``doing`` names the step in the warning)."""
        if not self.available:
            return None
        try:
            return await self.bus.request(contract, request, timeout=self.timeout_s)
        except AlchemyError as error:
            self._failed(error, doing)
            return None

    async def store(self, request: StoreRequest) -> StoreReply | None:
        return await self._ask(schemas.STORAGE_STORE, request, "saving")

    async def store_batch(self, request: StoreBatchRequest) -> StoreBatchReply | None:
        return await self._ask(schemas.STORAGE_STORE_BATCH, request, "saving")

    async def search_batch(self, request: SearchBatchRequest) -> SearchBatchReply | None:
        return await self._ask(schemas.STORAGE_SEARCH_BATCH, request, "history search")

    async def get(self, prompt_id: str) -> GetReply:
        """A stored prompt the caller asked for by id: here a missing storage is an error."""
        try:
            return await self.bus.request(schemas.STORAGE_GET, GetRequest(id=prompt_id), timeout=self.timeout_s)
        except NotFound:
            raise
        except ServiceError as error:
            if is_unreachable(error):
                raise Unavailable(f"storage is unavailable, cannot fetch prompt {prompt_id!r}: {error}") from error
            raise
        except AlchemyError as error:
            raise Unavailable(f"storage is unavailable, cannot fetch prompt {prompt_id!r}: {error}") from error

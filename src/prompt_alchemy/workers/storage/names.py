"""Named prompts and labels on top of ``PromptMemory`` and a ``NameStore``.

Every change is read-modify-write of the name's document with a compare-and-set on its
revision (retried on a conflict), so concurrent moves on several replicas serialise. A label
move is stored with who, when, from what to what and why in the same step, then published as
``events.labels.moved`` for the gateways' caches; a publish that fails is logged, not raised:
the move is already durable and caches also expire.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from prompt_alchemy.bus import Bus
from prompt_alchemy.errors import AlchemyError, Conflict, NotFound
from prompt_alchemy.schemas.common import utc_now
from prompt_alchemy.schemas.labels import (
    LabelGetRequest,
    LabelHistoryReply,
    LabelHistoryRequest,
    LabelMoved,
    LabelPoliciesReply,
    LabelPoliciesRequest,
    LabelServedReply,
    LabelServedRequest,
    LabelServing,
    LabelSetReply,
    LabelSetRequest,
    LabelState,
    LabelVariant,
    NameGetRequest,
    NameSetReply,
    NameSetRequest,
    NameVersion,
    PromptName,
    ServingVariant,
)
from prompt_alchemy.schemas.registry import EVENTS_LABEL_MOVED
from prompt_alchemy.schemas.storage import GetRequest, PromptRecord
from prompt_alchemy.workers.storage.name_store import NameStore
from prompt_alchemy.workers.storage.prompt_memory import PromptMemory

__all__ = ["NameRegistry"]

log = logging.getLogger(__name__)

_CAS_ATTEMPTS = 32


def _normalised(variants: list[LabelVariant]) -> list[LabelVariant]:
    """A single variant takes all traffic whatever its weight: store it as 100."""
    if len(variants) == 1:
        return [LabelVariant(version=variants[0].version, weight=100)]
    return [variant.model_copy() for variant in variants]


class NameRegistry:
    def __init__(
        self, store: NameStore, memory: PromptMemory, *, bus: Bus | None = None, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self.store = store
        self.memory = memory
        self.bus = bus
        self._clock = clock

    async def _document(self, name: str) -> PromptName:
        document = await self.store.load(name)
        if document is None:
            raise NotFound(f"no prompt is named {name!r}", details={"field": "name"})
        return document

    async def _add_version(
        self, document: PromptName | None, name: str, prompt_id: str, actor: str
    ) -> tuple[PromptName, int, bool]:
        """The document with ``prompt_id`` (at its current content) as a version; (doc, version, created)."""
        record = (await self.memory.get(GetRequest(id=prompt_id))).record
        now = self._clock()
        if document is None:
            document = PromptName(name=name, versions=[], created_at=now, revision=0)
        for existing in document.versions:
            if existing.prompt_id == record.id and existing.prompt_version == record.version:
                return document, existing.version, False
        number = max((version.version for version in document.versions), default=0) + 1
        added = NameVersion(
            version=number, prompt_id=record.id, prompt_version=record.version, added_at=now, added_by=actor
        )
        return document.model_copy(update={"versions": [*document.versions, added]}), number, True

    async def name_set(self, request: NameSetRequest) -> NameSetReply:
        for _ in range(_CAS_ATTEMPTS):
            current = await self.store.load(request.name)
            document, number, created = await self._add_version(current, request.name, request.prompt_id, request.actor)
            if not created:
                return NameSetReply(name=document, version=number, created=False)
            expected = None if current is None else current.revision
            document = document.model_copy(update={"revision": document.revision + 1})
            if await self.store.save(document, expected_revision=expected, move=None):
                return NameSetReply(name=document, version=number, created=True)
        raise Conflict(f"name {request.name!r} is changing too fast; try again", retriable=True)

    async def name_get(self, request: NameGetRequest) -> PromptName:
        document = await self._document(request.name)
        served = await self.store.served(request.name)
        labels = {
            label: state.model_copy(update={"served": served.get(label, {})})
            for label, state in document.labels.items()
        }
        return document.model_copy(update={"labels": labels})

    async def label_set(self, request: LabelSetRequest) -> LabelSetReply:
        for _ in range(_CAS_ATTEMPTS):
            reply = await self._try_label_set(request)
            if reply is not None:
                return reply
        raise Conflict(f"name {request.name!r} is changing too fast; try again", retriable=True)

    async def _try_label_set(self, request: LabelSetRequest) -> LabelSetReply | None:
        current = await self.store.load(request.name)
        if current is None and request.prompt_id is None:
            raise NotFound(f"no prompt is named {request.name!r}", details={"field": "name"})
        if (
            request.expected_revision is not None
            and current is not None
            and current.revision != request.expected_revision
        ):
            raise Conflict(
                f"name {request.name!r} is at revision {current.revision}, not {request.expected_revision}",
                details={"field": "expected_revision", "revision": current.revision},
            )
        document = current
        if request.prompt_id is not None:
            document, number, _ = await self._add_version(current, request.name, request.prompt_id, request.actor)
            variants = [LabelVariant(version=number)]
        elif request.version is not None:
            variants = [LabelVariant(version=request.version)]
        else:
            assert request.variants is not None
            variants = request.variants
        assert document is not None
        for index, variant in enumerate(variants):
            if document.version(variant.version) is None:
                where = "version" if request.version is not None else f"variants.{index}.version"
                raise NotFound(
                    f"name {request.name!r} has no version {variant.version}",
                    details={"field": where, "versions": [version.version for version in document.versions]},
                )
        variants = _normalised(variants)
        old = document.labels.get(request.label)
        policy = None if request.clear_auto_promote else request.auto_promote or (old.auto_promote if old else None)
        same_target = old is not None and old.variants == variants
        if same_target and old is not None and old.auto_promote == policy and document is current:
            return LabelSetReply(moved=False, move=None, name=current)
        now = self._clock()
        revision = document.revision + 1
        move = None
        if same_target and old is not None:
            state = old.model_copy(update={"auto_promote": policy})
        else:
            state = LabelState(variants=variants, auto_promote=policy, moved_at=now, moved_by=request.actor)
            move = LabelMoved(
                name=request.name,
                label=request.label,
                from_variants=old.variants if old else [],
                to_variants=variants,
                actor=request.actor,
                reason=request.reason,
                at=now,
                automatic=request.automatic,
                revision=revision,
            )
        updated = document.model_copy(
            update={"labels": {**document.labels, request.label: state}, "revision": revision}
        )
        expected = None if current is None else current.revision
        if not await self.store.save(updated, expected_revision=expected, move=move):
            return None
        if move is not None:
            await self._announce(move)
        return LabelSetReply(moved=move is not None, move=move, name=updated)

    async def _announce(self, move: LabelMoved) -> None:
        if self.bus is None:
            return
        try:
            await self.bus.publish(EVENTS_LABEL_MOVED, move)
        except AlchemyError as error:
            log.warning("label %s/%s moved but the event was not published: %s", move.name, move.label, error)

    async def label_get(self, request: LabelGetRequest) -> LabelServing:
        document = await self._document(request.name)
        state = document.labels.get(request.label)
        if state is None:
            raise NotFound(
                f"name {request.name!r} has no label {request.label!r}",
                details={"field": "label", "labels": sorted(document.labels)},
            )
        records = await asyncio.gather(*(self._pinned(document, variant.version) for variant in state.variants))
        return LabelServing(
            name=document.name,
            label=request.label,
            revision=document.revision,
            variants=[
                ServingVariant(version=variant.version, weight=variant.weight, record=record)
                for variant, record in zip(state.variants, records, strict=True)
            ],
        )

    async def _pinned(self, document: PromptName, number: int) -> PromptRecord:
        """The version's prompt with the content it had when it was named."""
        version = document.version(number)
        assert version is not None
        try:
            reply = await self.memory.get(GetRequest(id=version.prompt_id, include_history=True))
        except NotFound as error:
            raise NotFound(
                f"version {number} of {document.name!r} is prompt {version.prompt_id!r}, which was deleted",
                details={"field": "name", "prompt_id": version.prompt_id},
            ) from error
        record = reply.record
        if record.version == version.prompt_version:
            return record
        for old in reply.history:
            if old.version == version.prompt_version:
                return record.model_copy(
                    update={"content": old.content, "content_hash": old.content_hash, "version": old.version}
                )
        raise NotFound(
            f"version {number} of {document.name!r} pins version {version.prompt_version} of prompt "
            f"{version.prompt_id!r}, which is no longer kept",
            details={"field": "name", "prompt_id": version.prompt_id},
        )

    async def label_history(self, request: LabelHistoryRequest) -> LabelHistoryReply:
        await self._document(request.name)
        moves = await self.store.history(request.name, request.label, request.limit)
        return LabelHistoryReply(name=request.name, moves=moves)

    async def label_policies(self, request: LabelPoliciesRequest) -> LabelPoliciesReply:
        found: list[LabelGetRequest] = []
        for name in await self.store.names(10_000):
            document = await self.store.load(name)
            if document is None:
                continue
            found.extend(
                LabelGetRequest(name=name, label=label)
                for label, state in sorted(document.labels.items())
                if state.auto_promote is not None
            )
            if len(found) >= request.limit:
                break
        return LabelPoliciesReply(labels=found[: request.limit])

    async def label_served(self, request: LabelServedRequest) -> LabelServedReply:
        await self.store.add_served(request.counts)
        return LabelServedReply(recorded=sum(item.count for item in request.counts))

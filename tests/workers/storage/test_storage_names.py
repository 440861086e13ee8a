"""Named prompts and labels served by the storage worker: both buses x both backends."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable

import pytest

from prompt_alchemy import schemas
from prompt_alchemy.bus import Bus, RequestContext, ServiceRunner
from prompt_alchemy.errors import BadRequest, Conflict, NotFound
from prompt_alchemy.schemas.labels import (
    AutoPromotePolicy,
    LabelGetRequest,
    LabelHistoryRequest,
    LabelMoved,
    LabelPoliciesRequest,
    LabelServedRequest,
    LabelSetRequest,
    LabelVariant,
    NameGetRequest,
    NameSetRequest,
    ServedCount,
)
from prompt_alchemy.schemas.storage import DeleteRequest, StoreRequest, UpdateRequest
from prompt_alchemy.workers.storage.backend import PromptStore
from prompt_alchemy.workers.storage.embedders import WordLlamaEmbedder
from prompt_alchemy.workers.storage.service import build_storage_service

T = 10.0


@pytest.fixture
async def storage_service(bus: Bus, store_factory: Callable[[str], PromptStore]) -> AsyncIterator[ServiceRunner]:
    store = store_factory("names")
    runner = build_storage_service(bus, store, WordLlamaEmbedder())
    await runner.start()
    yield runner
    await runner.stop()
    await store.close()


async def stored(bus: Bus, content: str) -> str:
    return (await bus.request(schemas.STORAGE_STORE, StoreRequest(content=content), timeout=T)).id


async def test_naming_a_prompt_makes_numbered_versions(bus: Bus, storage_service: ServiceRunner) -> None:
    first, second = await stored(bus, "Triage a support ticket"), await stored(bus, "Triage a ticket, politely")
    one = await bus.request(schemas.STORAGE_NAME_SET, NameSetRequest(name="support-triage", prompt_id=first), timeout=T)
    again = await bus.request(
        schemas.STORAGE_NAME_SET, NameSetRequest(name="support-triage", prompt_id=first), timeout=T
    )
    two = await bus.request(
        schemas.STORAGE_NAME_SET, NameSetRequest(name="support-triage", prompt_id=second, actor="key:0"), timeout=T
    )
    assert (one.version, one.created) == (1, True)
    assert (again.version, again.created) == (1, False)
    assert (two.version, two.created) == (2, True)
    named = await bus.request(schemas.STORAGE_NAME_GET, NameGetRequest(name="support-triage"), timeout=T)
    assert [(v.version, v.prompt_id, v.prompt_version, v.added_by) for v in named.versions] == [
        (1, first, 1, "cli"),
        (2, second, 1, "key:0"),
    ]
    assert named.labels == {}


async def test_names_are_slugs_and_unknown_ones_are_not_found(bus: Bus, storage_service: ServiceRunner) -> None:
    prompt_id = await stored(bus, "Anything")
    with pytest.raises(BadRequest) as caught:
        await bus.request(schemas.STORAGE_NAME_SET, {"name": "Not A Slug", "prompt_id": prompt_id}, timeout=T)
    assert "name" in caught.value.message
    with pytest.raises(NotFound):
        await bus.request(schemas.STORAGE_NAME_SET, NameSetRequest(name="x", prompt_id="missing"), timeout=T)
    with pytest.raises(NotFound):
        await bus.request(schemas.STORAGE_NAME_GET, NameGetRequest(name="nobody"), timeout=T)
    with pytest.raises(NotFound):
        await bus.request(schemas.STORAGE_LABEL_SET, LabelSetRequest(name="nobody", label="prod", version=1), timeout=T)


async def test_label_moves_are_audited_published_and_idempotent(bus: Bus, storage_service: ServiceRunner) -> None:
    received: asyncio.Queue[LabelMoved] = asyncio.Queue()

    async def on_moved(event: LabelMoved, _context: RequestContext) -> None:
        await received.put(event)

    subscription = await bus.subscribe(schemas.EVENTS_LABEL_MOVED, on_moved)
    try:
        first, second = await stored(bus, "Summarise a call"), await stored(bus, "Summarise a call in 3 bullets")
        await bus.request(schemas.STORAGE_NAME_SET, NameSetRequest(name="summary", prompt_id=first), timeout=T)
        to_first = await bus.request(
            schemas.STORAGE_LABEL_SET,
            LabelSetRequest(name="summary", label="prod", version=1, actor="key:1", reason="first launch"),
            timeout=T,
        )
        # a prompt id names the prompt on the way: version 2
        to_second = await bus.request(
            schemas.STORAGE_LABEL_SET, LabelSetRequest(name="summary", label="prod", prompt_id=second), timeout=T
        )
        same = await bus.request(
            schemas.STORAGE_LABEL_SET, LabelSetRequest(name="summary", label="prod", version=2), timeout=T
        )
        assert (to_first.moved, to_second.moved, same.moved) == (True, True, False)
        assert to_second.name.labels["prod"].main_version == 2
        history = await bus.request(schemas.STORAGE_LABEL_HISTORY, LabelHistoryRequest(name="summary"), timeout=T)
        assert [(m.from_variants, m.to_variants, m.actor, m.reason) for m in history.moves] == [
            ([LabelVariant(version=1)], [LabelVariant(version=2)], "cli", None),
            ([], [LabelVariant(version=1)], "key:1", "first launch"),
        ]
        assert history.moves[0].at >= history.moves[1].at
        events = [await asyncio.wait_for(received.get(), T) for _ in range(2)]
        assert events == list(reversed(history.moves))
        assert received.empty()
    finally:
        await subscription.unsubscribe()


async def test_history_of_one_label_and_unknown_targets(bus: Bus, storage_service: ServiceRunner) -> None:
    prompt_id = await stored(bus, "Write release notes")
    await bus.request(
        schemas.STORAGE_LABEL_SET, LabelSetRequest(name="notes", label="prod", prompt_id=prompt_id), timeout=T
    )
    await bus.request(schemas.STORAGE_LABEL_SET, LabelSetRequest(name="notes", label="staging", version=1), timeout=T)
    staging = await bus.request(
        schemas.STORAGE_LABEL_HISTORY, LabelHistoryRequest(name="notes", label="staging"), timeout=T
    )
    assert [move.label for move in staging.moves] == ["staging"]
    with pytest.raises(NotFound) as caught:
        await bus.request(schemas.STORAGE_LABEL_SET, LabelSetRequest(name="notes", label="prod", version=9), timeout=T)
    assert "no version 9" in caught.value.message
    with pytest.raises(NotFound) as missing_label:
        await bus.request(schemas.STORAGE_LABEL_GET, LabelGetRequest(name="notes", label="canary"), timeout=T)
    assert "canary" in missing_label.value.message
    with pytest.raises(BadRequest):
        await bus.request(
            schemas.STORAGE_LABEL_SET,
            {"name": "notes", "label": "prod", "version": 1, "prompt_id": prompt_id},
            timeout=T,
        )


async def test_a_version_serves_the_content_it_was_named_with(bus: Bus, storage_service: ServiceRunner) -> None:
    prompt_id = await stored(bus, "Classify an email")
    await bus.request(
        schemas.STORAGE_LABEL_SET, LabelSetRequest(name="mail", label="prod", prompt_id=prompt_id), timeout=T
    )
    await bus.request(
        schemas.STORAGE_UPDATE, UpdateRequest(id=prompt_id, content="Classify an email by urgency"), timeout=T
    )
    serving = await bus.request(schemas.STORAGE_LABEL_GET, LabelGetRequest(name="mail", label="prod"), timeout=T)
    assert [(v.version, v.record.content, v.record.version) for v in serving.variants] == [(1, "Classify an email", 1)]
    # naming the edited prompt again pins its new content as version 2
    renamed = await bus.request(schemas.STORAGE_NAME_SET, NameSetRequest(name="mail", prompt_id=prompt_id), timeout=T)
    assert (renamed.version, renamed.name.versions[-1].prompt_version) == (2, 2)
    await bus.request(schemas.STORAGE_DELETE, DeleteRequest(id=prompt_id), timeout=T)
    with pytest.raises(NotFound) as caught:
        await bus.request(schemas.STORAGE_LABEL_GET, LabelGetRequest(name="mail", label="prod"), timeout=T)
    assert "deleted" in caught.value.message


async def test_split_labels_and_served_counts(bus: Bus, storage_service: ServiceRunner) -> None:
    ids = [await stored(bus, f"Greet a customer, variant {index}") for index in range(2)]
    for prompt_id in ids:
        await bus.request(schemas.STORAGE_NAME_SET, NameSetRequest(name="greet", prompt_id=prompt_id), timeout=T)
    split = [LabelVariant(version=1, weight=90), LabelVariant(version=2, weight=10)]
    reply = await bus.request(
        schemas.STORAGE_LABEL_SET, LabelSetRequest(name="greet", label="prod", variants=split), timeout=T
    )
    assert reply.move is not None
    assert reply.move.to_variants == split
    serving = await bus.request(schemas.STORAGE_LABEL_GET, LabelGetRequest(name="greet", label="prod"), timeout=T)
    assert [(v.version, v.weight, v.record.id) for v in serving.variants] == [(1, 90, ids[0]), (2, 10, ids[1])]
    counts = [
        ServedCount(name="greet", label="prod", version=1, count=9),
        ServedCount(name="greet", label="prod", version=2, count=1),
    ]
    await bus.request(schemas.STORAGE_LABEL_SERVED, LabelServedRequest(counts=counts), timeout=T)
    await bus.request(schemas.STORAGE_LABEL_SERVED, LabelServedRequest(counts=counts[:1]), timeout=T)
    named = await bus.request(schemas.STORAGE_NAME_GET, NameGetRequest(name="greet"), timeout=T)
    assert named.labels["prod"].served == {1: 18, 2: 1}
    with pytest.raises(BadRequest):
        await bus.request(
            schemas.STORAGE_LABEL_SET,
            {"name": "greet", "label": "prod", "variants": [{"version": 1}, {"version": 1}]},
            timeout=T,
        )


async def test_concurrent_moves_all_land_in_the_history(bus: Bus, storage_service: ServiceRunner) -> None:
    ids = [await stored(bus, f"Answer a question, style {index}") for index in range(4)]
    for prompt_id in ids:
        await bus.request(schemas.STORAGE_NAME_SET, NameSetRequest(name="qa", prompt_id=prompt_id), timeout=T)
    replies = await asyncio.gather(
        *(
            bus.request(
                schemas.STORAGE_LABEL_SET,
                LabelSetRequest(name="qa", label="prod", version=1 + index % 4, actor=f"key:{index}"),
                timeout=T,
            )
            for index in range(12)
        )
    )
    moved = [reply.move for reply in replies if reply.move is not None]
    history = await bus.request(schemas.STORAGE_LABEL_HISTORY, LabelHistoryRequest(name="qa"), timeout=T)
    assert sorted(move.revision for move in history.moves) == sorted(move.revision for move in moved)
    assert len({move.revision for move in history.moves}) == len(history.moves)
    # each move starts where the previous one ended: the chain has no gap
    chain = list(reversed(history.moves))
    for earlier, later in itertools.pairwise(chain):
        assert later.from_variants == earlier.to_variants
    final = await bus.request(schemas.STORAGE_NAME_GET, NameGetRequest(name="qa"), timeout=T)
    assert final.labels["prod"].variants == chain[-1].to_variants
    with pytest.raises(Conflict):
        await bus.request(
            schemas.STORAGE_LABEL_SET,
            LabelSetRequest(name="qa", label="prod", version=1, expected_revision=final.revision - 1),
            timeout=T,
        )


async def test_labels_with_a_policy_are_listed_for_review(bus: Bus, storage_service: ServiceRunner) -> None:
    prompt_id = await stored(bus, "Tag an invoice")
    policy = AutoPromotePolicy(min_events=10, margin=0.5)
    for name in ("invoices", "bills"):
        await bus.request(
            schemas.STORAGE_LABEL_SET, LabelSetRequest(name=name, label="staging", prompt_id=prompt_id), timeout=T
        )
        await bus.request(
            schemas.STORAGE_LABEL_SET,
            LabelSetRequest(name=name, label="prod", version=1, auto_promote=policy),
            timeout=T,
        )
    listed = await bus.request(schemas.STORAGE_LABEL_POLICIES, LabelPoliciesRequest(), timeout=T)
    assert [(item.name, item.label) for item in listed.labels] == [("bills", "prod"), ("invoices", "prod")]
    # setting the same target with no policy change records nothing; clearing the policy is not a move
    cleared = await bus.request(
        schemas.STORAGE_LABEL_SET,
        LabelSetRequest(name="bills", label="prod", version=1, clear_auto_promote=True),
        timeout=T,
    )
    assert (cleared.moved, cleared.name.labels["prod"].auto_promote) == (False, None)
    listed = await bus.request(schemas.STORAGE_LABEL_POLICIES, LabelPoliciesRequest(), timeout=T)
    assert [(item.name, item.label) for item in listed.labels] == [("invoices", "prod")]
    history = await bus.request(
        schemas.STORAGE_LABEL_HISTORY, LabelHistoryRequest(name="bills", label="prod"), timeout=T
    )
    assert len(history.moves) == 1

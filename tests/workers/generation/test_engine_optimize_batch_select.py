"""engine.optimize, engine.batch, engine.select and engine.capabilities with the real workers (offline)."""

from __future__ import annotations

import pytest

from prompt_alchemy import schemas
from prompt_alchemy.bus import Bus
from prompt_alchemy.errors import NotFound
from prompt_alchemy.schemas.common import Persona, Phase
from prompt_alchemy.schemas.engine import (
    BatchRequest,
    CapabilitiesRequest,
    GenerateRequest,
    OptimizeRequest,
    SelectRequest,
)
from prompt_alchemy.schemas.health import HealthRequest
from prompt_alchemy.schemas.storage import GetRequest, Lineage, StoreRequest
from prompt_alchemy.workers.generation import EngineWorker

EVENTUALLY = 30.0
ROUGH = "write something about our new product launch"
STRUCTURED = """# Role
You are a senior product marketer.

# Task
Write a launch announcement for the Acme Sync desktop app, for existing customers.

# Constraints
- Keep it under 200 words.
- Never promise dates that are not in the brief.

# Output format
Return Markdown with a headline, two short paragraphs and three bullet points. For example:
## Headline
Paragraph...
"""

pytestmark = pytest.mark.usefixtures("storage", "offline_providers")


async def test_optimize_improves_or_keeps_and_never_returns_a_worse_prompt(bus: Bus, engine: EngineWorker) -> None:
    reply = await bus.request(
        schemas.ENGINE_OPTIMIZE,
        OptimizeRequest(prompt=ROUGH, task="Announce the launch of our sync app to customers", max_iterations=3),
        timeout=EVENTUALLY,
    )
    scores = [iteration.score for iteration in reply.iterations]
    assert reply.iterations[0].iteration == 0
    assert reply.iterations[0].prompt == ROUGH
    assert reply.best.score == max(scores)
    assert reply.best.score >= scores[0]
    assert reply.improved == (reply.best.iteration != 0)
    assert reply.improved  # a one-line prompt is easy to improve
    assert reply.best.prompt != ROUGH
    assert all(iteration.reasoning for iteration in reply.iterations)
    assert [iteration.iteration for iteration in reply.iterations] == list(range(len(reply.iterations)))
    assert len(reply.iterations) <= 4
    assert reply.usage.total_tokens > 0
    # stored: the original (it had no id) as the parent, the optimised prompt as its child
    assert reply.stored_id is not None
    assert reply.parent_id is not None
    child = await bus.request(schemas.STORAGE_GET, GetRequest(id=reply.stored_id), timeout=EVENTUALLY)
    assert child.record.content == reply.best.prompt
    assert child.record.lineage.parent_id == reply.parent_id
    assert child.record.lineage.optimiser_step == reply.best.iteration
    assert child.record.source == "optimize"


async def test_optimize_a_stored_prompt_by_id_keeps_it_as_the_parent(bus: Bus, engine: EngineWorker) -> None:
    stored = await bus.request(
        schemas.STORAGE_STORE,
        StoreRequest(content=ROUGH, input="Announce our sync app", lineage=Lineage(phase=Phase.COAGULATIO)),
        timeout=EVENTUALLY,
    )
    reply = await bus.request(
        schemas.ENGINE_OPTIMIZE, OptimizeRequest(prompt_id=stored.id, max_iterations=2), timeout=EVENTUALLY
    )
    assert reply.original == ROUGH
    assert reply.parent_id == stored.id
    if reply.improved:
        assert reply.stored_id not in (None, stored.id)
        child = await bus.request(schemas.STORAGE_GET, GetRequest(id=reply.stored_id or ""), timeout=EVENTUALLY)
        assert child.record.lineage.parent_id == stored.id
    else:
        assert reply.stored_id == stored.id


async def test_optimize_stops_as_soon_as_the_target_is_met(bus: Bus, engine: EngineWorker) -> None:
    reply = await bus.request(
        schemas.ENGINE_OPTIMIZE,
        OptimizeRequest(prompt=STRUCTURED, target_score=0.0, max_iterations=5, save=False),
        timeout=EVENTUALLY,
    )
    assert len(reply.iterations) == 1
    assert not reply.improved
    assert reply.best.prompt == STRUCTURED
    assert reply.stored_id is None


async def test_optimize_an_unknown_id_is_not_found(bus: Bus, engine: EngineWorker) -> None:
    with pytest.raises(NotFound):
        await bus.request(schemas.ENGINE_OPTIMIZE, OptimizeRequest(prompt_id="no-such-prompt"), timeout=EVENTUALLY)


async def test_batch_with_one_bad_item_returns_the_others(bus: Bus, engine: EngineWorker) -> None:
    reply = await bus.request(
        schemas.ENGINE_BATCH,
        BatchRequest(
            items=[
                GenerateRequest(input="Write a SQL query for monthly revenue", count=1),
                GenerateRequest(input="Plan a workout", count=1, provider="no-such-provider"),
                GenerateRequest(input="Write a haiku about rain", count=2, phases=[Phase.SOLUTIO]),
            ],
            concurrency=2,
        ),
        timeout=EVENTUALLY,
    )
    assert (reply.succeeded, reply.failed) == (2, 1)
    assert [result.index for result in reply.results] == [0, 1, 2]
    good, bad, other = reply.results
    assert good.ok
    assert good.reply is not None
    assert good.reply.best is not None
    assert [prompt.id for prompt in good.reply.prompts] == [good.reply.best.id]  # the selected one only
    assert other.ok
    assert other.reply is not None
    assert len(other.reply.prompts) == 1
    assert not bad.ok
    assert bad.reply is None
    assert bad.error is not None
    assert bad.error.code == 404
    assert "no-such-provider" in bad.error.message
    assert good.reply.request_id != other.reply.request_id


async def test_batch_lists_every_candidate_when_asked(bus: Bus, engine: EngineWorker) -> None:
    item = GenerateRequest(input="Write a SQL query for monthly revenue", count=2)
    compact = await bus.request(schemas.ENGINE_BATCH, BatchRequest(items=[item]), timeout=EVENTUALLY)
    full = await bus.request(schemas.ENGINE_BATCH, BatchRequest(items=[item], candidates=True), timeout=EVENTUALLY)
    assert compact.results[0].reply is not None
    assert full.results[0].reply is not None
    assert len(compact.results[0].reply.prompts) == 1
    assert len(full.results[0].reply.prompts) == 6  # 3 phases x 2 chains


async def test_select_scores_each_candidate_with_a_reason_and_names_the_best(bus: Bus, engine: EngineWorker) -> None:
    reply = await bus.request(
        schemas.ENGINE_SELECT,
        SelectRequest(
            input="Write a launch announcement for the Acme Sync desktop app for existing customers",
            candidates=[ROUGH, STRUCTURED],
            persona=Persona.WRITING,
        ),
        timeout=EVENTUALLY,
    )
    assert [score.index for score in reply.scores] == [0, 1]
    assert all(0.0 <= score.score <= 1.0 and score.reason for score in reply.scores)
    assert reply.best_index == 1
    assert reply.scores[1].score > reply.scores[0].score
    assert reply.provider == "offline"
    assert reply.warnings == []


async def test_capabilities_list_the_available_providers(bus: Bus, engine: EngineWorker) -> None:
    reply = await bus.request(schemas.ENGINE_CAPABILITIES, CapabilitiesRequest(), timeout=EVENTUALLY)
    assert "offline" in reply.providers
    assert reply.default_provider == "offline"
    assert reply.judge_available
    assert reply.warnings == []
    assert reply.limits["max_count"] == 10


async def test_health_is_ok_when_providers_and_storage_answer(bus: Bus, engine: EngineWorker) -> None:
    health = await bus.request(schemas.ENGINE_HEALTH, HealthRequest(), timeout=EVENTUALLY)
    assert health.status == "ok"
    assert "offline" in health.checks["providers"].message
    assert health.checks["storage"].ok

"""engine.generate on both buses with the real storage and providers workers (offline provider)."""

from __future__ import annotations

import asyncio

import pytest

from prompt_alchemy import schemas
from prompt_alchemy.bus import Bus, RequestContext, ServiceRunner
from prompt_alchemy.schemas.brief import AnalyzeRequest, Brief
from prompt_alchemy.schemas.common import Persona, Phase, PhaseSelection
from prompt_alchemy.schemas.engine import GenerateReply, GenerateRequest
from prompt_alchemy.schemas.events import GenerationProgress, ProgressKind
from prompt_alchemy.schemas.learning import WeightsUpdated
from prompt_alchemy.schemas.storage import GetRequest, SearchRequest
from prompt_alchemy.workers.generation import EngineWorker
from prompt_alchemy.workers.providers import ProviderRegistry

EVENTUALLY = 30.0
IDEA = "Write a Python function that parses ISO 8601 dates from log lines and reports malformed ones"


async def generate(bus: Bus, request: GenerateRequest) -> GenerateReply:
    return await bus.request(schemas.ENGINE_GENERATE, request, timeout=EVENTUALLY)


@pytest.mark.usefixtures("storage", "offline_providers")
async def test_three_phases_three_chains_give_nine_linked_ranked_stored_prompts(bus: Bus, engine: EngineWorker) -> None:
    reply = await generate(bus, GenerateRequest(input=IDEA, count=3, persona=Persona.CODE, tags=["dates"]))

    assert len(reply.prompts) == 9
    assert reply.offline
    assert [(p.phase, p.chain) for p in reply.prompts] == [(phase, chain) for phase in Phase for chain in range(3)]
    by_position = {(p.phase, p.chain): p for p in reply.prompts}
    for prompt in reply.prompts:
        assert prompt.saved
        assert prompt.id is not None
        assert prompt.provider == "offline"
        assert prompt.lineage.generation_request_id == reply.request_id
        assert (prompt.lineage.phase, prompt.lineage.chain) == (prompt.phase, prompt.chain)
        assert prompt.scores.features  # every candidate carries its feature vector
        assert 0.0 < prompt.scores.combined < 1.0
        if prompt.phase is Phase.PRIMA_MATERIA:
            assert prompt.parent_id is None
        else:
            parent = by_position[(list(Phase)[prompt.phase.order - 1], prompt.chain)]
            assert prompt.parent_id == parent.id
            assert prompt.lineage.parent_id == parent.id
    # the chains run at different temperatures, so the offline provider writes different variants
    assert len({p.content for p in reply.prompts if p.phase is Phase.COAGULATIO}) > 1

    assert reply.best is not None
    assert reply.best.phase is Phase.COAGULATIO
    assert reply.best.scores.combined == max(p.scores.combined for p in reply.prompts if p.phase is Phase.COAGULATIO)
    assert reply.selected == [reply.best]

    # stored with full lineage, and found again by meaning
    stored = await bus.request(schemas.STORAGE_GET, GetRequest(id=reply.best.id or ""), timeout=EVENTUALLY)
    assert stored.record.content == reply.best.content
    assert stored.record.input == IDEA
    assert "dates" in stored.record.tags
    assert stored.record.lineage.phase is Phase.COAGULATIO
    assert stored.record.lineage.parent_id == reply.best.parent_id
    assert stored.record.lineage.persona is Persona.CODE
    assert stored.record.lineage.provider == "offline"
    assert stored.record.lineage.temperature == reply.best.lineage.temperature
    found = await bus.request(
        schemas.STORAGE_SEARCH,
        SearchRequest(query="parse ISO dates in log lines with Python", limit=20),
        timeout=EVENTUALLY,
    )
    assert reply.best.id in {hit.record.id for hit in found.hits}


@pytest.mark.usefixtures("storage", "offline_providers")
async def test_personas_visibly_change_the_prompt(bus: Bus, engine: EngineWorker) -> None:
    idea = "Help me review a quarterly sales report and explain the drop in revenue"
    replies = await asyncio.gather(
        *(
            generate(bus, GenerateRequest(input=idea, count=1, persona=persona, save=False, use_history=False))
            for persona in Persona
        )
    )
    finals = {persona: reply.best.content for persona, reply in zip(Persona, replies, strict=True) if reply.best}
    assert len(set(finals.values())) == len(Persona)
    # every phase, not just the last, follows the persona
    for phase in Phase:
        contents = {next(p.content for p in reply.prompts if p.phase is phase) for reply in replies}
        assert len(contents) == len(Persona), phase


@pytest.mark.usefixtures("storage", "offline_providers")
async def test_target_families_visibly_change_the_final_form(bus: Bus, engine: EngineWorker) -> None:
    targets = ["claude-sonnet-4", "gpt-4o", "gemini-2.0-flash", "grok-3", None]
    replies = await asyncio.gather(
        *(
            generate(bus, GenerateRequest(input=IDEA, count=1, target_model=target, save=False, use_history=False))
            for target in targets
        )
    )
    finals = [reply.best.content for reply in replies if reply.best]
    assert len(set(finals)) == len(targets)
    assert all(reply.best and reply.best.target_model == target for reply, target in zip(replies, targets, strict=True))


@pytest.mark.usefixtures("storage", "offline_providers")
@pytest.mark.parametrize(
    ("selection", "expected_phases"),
    [
        (PhaseSelection.BEST, [Phase.COAGULATIO]),
        (PhaseSelection.CASCADE, list(Phase)),
        (PhaseSelection.ALL, [phase for phase in Phase for _ in range(2)]),
    ],
)
async def test_phase_selection(
    bus: Bus, engine: EngineWorker, selection: PhaseSelection, expected_phases: list[Phase]
) -> None:
    reply = await generate(bus, GenerateRequest(input=IDEA, count=2, phase_selection=selection, save=False))
    assert [prompt.phase for prompt in reply.selected] == expected_phases
    if selection is PhaseSelection.CASCADE:
        for chosen in reply.selected:
            same_phase = [p.scores.combined for p in reply.prompts if p.phase is chosen.phase]
            assert chosen.scores.combined == max(same_phase)


@pytest.mark.usefixtures("storage", "offline_providers")
async def test_legacy_phase_names_and_a_subset_of_phases(bus: Bus, engine: EngineWorker) -> None:
    request = GenerateRequest.model_validate({"input": IDEA, "phases": ["precision", "idea"], "count": 1})
    reply = await generate(bus, request)
    assert [prompt.phase for prompt in reply.prompts] == [Phase.PRIMA_MATERIA, Phase.COAGULATIO]
    assert reply.prompts[1].parent_id == reply.prompts[0].id


@pytest.mark.usefixtures("storage", "offline_providers")
async def test_history_of_similar_prompts_is_used_and_reported(bus: Bus, engine: EngineWorker) -> None:
    first = await generate(bus, GenerateRequest(input=IDEA, count=2))
    assert first.history_used == []  # nothing stored yet
    second = await generate(bus, GenerateRequest(input="Parse ISO 8601 timestamps in Python log files", count=1))
    assert second.history_used
    assert set(second.history_used) <= {prompt.id for prompt in first.prompts}
    unrelated = await generate(bus, GenerateRequest(input="Write a limerick about a sleepy cat", count=1))
    assert unrelated.history_used == []
    quiet = await generate(bus, GenerateRequest(input=IDEA, count=1, use_history=False))
    assert quiet.history_used == []
    strict = await generate(bus, GenerateRequest(input=IDEA, count=1, history_min_similarity=1.0))
    assert strict.history_used == []


@pytest.mark.usefixtures("offline_providers")
async def test_storage_down_still_answers_with_unsaved_prompts(bus: Bus, engine: EngineWorker) -> None:
    reply = await generate(bus, GenerateRequest(input=IDEA, count=2))
    assert len(reply.prompts) == 6
    assert all(not prompt.saved and prompt.id is None for prompt in reply.prompts)
    assert any("storage unavailable" in warning for warning in reply.warnings)
    assert reply.best is not None


@pytest.mark.usefixtures("storage", "offline_providers")
async def test_the_judge_scores_every_candidate_and_is_combined_with_the_ranker(bus: Bus, engine: EngineWorker) -> None:
    reply = await generate(bus, GenerateRequest(input=IDEA, count=2, judge=True))
    for prompt in reply.prompts:
        assert prompt.scores.judge is not None
        assert 0.0 <= prompt.scores.judge <= 1.0
        assert prompt.judge_reason
        assert prompt.scores.features["judge_score"] == pytest.approx(prompt.scores.judge - 0.5)
    assert any(prompt.scores.combined != prompt.scores.ranker for prompt in reply.prompts)
    assert not any("no readable score" in warning for warning in reply.warnings)


@pytest.mark.usefixtures("storage", "offline_providers")
async def test_pushed_weights_are_used_for_the_next_ranking(bus: Bus, engine: EngineWorker) -> None:
    before = await generate(bus, GenerateRequest(input=IDEA, count=1, save=False))
    assert before.weights_version == 0
    await bus.publish(
        schemas.EVENTS_WEIGHTS_UPDATED, WeightsUpdated(version=9, weights={"structure": -6.0}, bias=0.0, trained_on=3)
    )
    async with asyncio.timeout(EVENTUALLY):
        await engine.weights.wait_for_version(9)
    after = await generate(bus, GenerateRequest(input=IDEA, count=1, save=False))
    assert after.weights_version == 9
    assert before.best is not None
    assert after.best is not None
    assert after.best.scores.ranker < before.best.scores.ranker  # structured prompts are now penalised


async def collect_events(bus: Bus, token: str | None = None) -> tuple[list[GenerationProgress], asyncio.Event]:
    """The events published on ``token``'s stream (every generation's, without one), and an event
    set when a generation there completed or failed."""
    events: list[GenerationProgress] = []
    finished = asyncio.Event()

    async def on_event(event: GenerationProgress, _ctx: RequestContext) -> None:
        events.append(event)
        if event.kind in (ProgressKind.COMPLETED, ProgressKind.FAILED):
            finished.set()

    subject = schemas.generation_events_subject(token) if token else None
    await bus.subscribe(schemas.EVENTS_GENERATION, on_event, subject=subject)
    return events, finished


FIRST_TOKEN = "first-progress-stream"
SECOND_TOKEN = "second-progress-stream"


@pytest.mark.usefixtures("storage", "offline_providers")
async def test_progress_events_arrive_in_order_and_only_for_their_request(bus: Bus, engine: EngineWorker) -> None:
    first_events, first_done = await collect_events(bus, FIRST_TOKEN)
    second_events, second_done = await collect_events(bus, SECOND_TOKEN)
    first, _second = await asyncio.gather(
        generate(bus, GenerateRequest(input=IDEA, count=3, request_id="req-first", progress_token=FIRST_TOKEN)),
        generate(
            bus,
            GenerateRequest(
                input="Write a limerick about a cat", count=2, request_id="req-second", progress_token=SECOND_TOKEN
            ),
        ),
    )
    async with asyncio.timeout(EVENTUALLY):
        await first_done.wait()
        await second_done.wait()
    assert first.request_id == "req-first"
    assert {event.request_id for event in first_events} == {"req-first"}
    assert {event.request_id for event in second_events} == {"req-second"}
    arrived = list(first_events)
    tokens = [event for event in arrived if event.kind is ProgressKind.TOKEN]
    first_events = [event for event in arrived if event.kind is not ProgressKind.TOKEN]
    assert [event.seq for event in first_events] == list(range(len(first_events)))
    for candidate in (event for event in first_events if event.kind is ProgressKind.CANDIDATE):
        streamed = [t for t in tokens if (t.phase, t.chain) == (candidate.phase, candidate.chain)]
        assert [t.seq for t in streamed] == list(range(len(streamed)))  # numbered per phase and chain
        assert "".join(t.delta or "" for t in streamed).strip() == candidate.data["content"]
        assert arrived.index(streamed[-1]) < arrived.index(candidate)  # the text, then the candidate

    kinds = [event.kind for event in first_events]
    expected_head = [ProgressKind.STARTED]
    for _ in Phase:
        expected_head += [ProgressKind.PHASE_STARTED, *[ProgressKind.CANDIDATE] * 3, ProgressKind.PHASE_DONE]
    assert kinds[: len(expected_head)] == expected_head
    assert kinds[len(expected_head)] is ProgressKind.RANKED
    saved = [event for event in first_events if event.kind is ProgressKind.SAVED]
    assert {event.prompt_id for event in saved} == {prompt.id for prompt in first.prompts}
    assert kinds[-1] is ProgressKind.COMPLETED
    assert first_events[-1].prompt_id == (first.best.id if first.best else None)
    phases_started = [event.phase for event in first_events if event.kind is ProgressKind.PHASE_STARTED]
    assert phases_started == list(Phase)
    candidates = [event for event in first_events if event.kind is ProgressKind.CANDIDATE]
    assert {event.data["content"] for event in candidates} == {prompt.content for prompt in first.prompts}


@pytest.mark.usefixtures("storage", "offline_providers")
async def test_a_request_nobody_follows_publishes_no_events(bus: Bus, engine: EngineWorker) -> None:
    """No progress token, no stream: nothing is published (not even the streamed text). A followed
    request after it shows the listener would have seen them: one publisher's events arrive in order."""
    seen, followed_done = await collect_events(bus)
    await generate(bus, GenerateRequest(input=IDEA, count=2, request_id="nobody-follows"))
    followed = await generate(
        bus, GenerateRequest(input=IDEA, count=1, request_id="followed", progress_token=FIRST_TOKEN)
    )
    async with asyncio.timeout(EVENTUALLY):
        await followed_done.wait()
    assert {event.request_id for event in seen} == {followed.request_id}
    assert any(event.kind is ProgressKind.TOKEN for event in seen)


async def test_a_generated_request_id_is_returned_when_none_is_given(
    bus: Bus, engine: EngineWorker, offline_providers: ProviderRegistry, storage: ServiceRunner
) -> None:
    one = await generate(bus, GenerateRequest(input=IDEA, count=1, save=False))
    two = await generate(bus, GenerateRequest(input=IDEA, count=1, save=False))
    assert one.request_id
    assert one.request_id != two.request_id


@pytest.mark.usefixtures("storage", "offline_providers")
async def test_a_request_without_a_persona_gets_the_one_the_idea_is_about_and_the_reply_names_it(
    bus: Bus, engine: EngineWorker
) -> None:
    idea = "limerick about a goat who eats the garden hose"
    reply = await generate(bus, GenerateRequest(input=idea, count=2, save=False, use_history=False))
    assert {prompt.persona for prompt in reply.prompts} == {Persona.WRITING}
    assert reply.best is not None
    assert "AABBA" in reply.best.content  # the writing persona's form rules, not a generic template
    explicit = await generate(
        bus, GenerateRequest(input=idea, count=1, persona=Persona.GENERIC, save=False, use_history=False)
    )
    assert {prompt.persona for prompt in explicit.prompts} == {Persona.GENERIC}
    assert explicit.best is not None
    assert explicit.best.content != reply.best.content


@pytest.mark.usefixtures("storage", "offline_providers")
async def test_the_engine_analyze_subject_answers_the_brief(bus: Bus, engine: EngineWorker) -> None:
    brief = await bus.request(
        schemas.ENGINE_ANALYZE, AnalyzeRequest(input="sql query for the 5 newest orders, mysql"), timeout=EVENTUALLY
    )
    assert isinstance(brief, Brief)
    assert brief.persona is Persona.CODE
    assert brief.form is not None
    assert brief.form.name == "MySQL query"

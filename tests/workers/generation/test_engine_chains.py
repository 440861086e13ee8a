"""Parallel chains differ in substance (approach, structure, level of detail), and every chain keeps
every element of the brief: on both buses, with the real providers worker (offline provider)."""

from __future__ import annotations

import re

import pytest

from prompt_alchemy import schemas
from prompt_alchemy.bus import Bus
from prompt_alchemy.schemas.brief import AnalyzeRequest, Brief
from prompt_alchemy.schemas.common import Phase
from prompt_alchemy.schemas.coverage import brief_coverage
from prompt_alchemy.schemas.engine import GenerateReply, GenerateRequest
from prompt_alchemy.workers.generation import EngineWorker

EVENTUALLY = 30.0
IDEAS = [
    "Write a Python CLI that renames photos by their EXIF date and handles duplicates",
    "summarize a legal contract for a non-lawyer in under 300 words, in plain English",
    "plan an offsite for 12 people on a 15k euro budget, no flights",
    "a limerick about a cat who hates Mondays",
    "SQL for the top 10 customers by revenue in 2024 on PostgreSQL, excluding refunds",
]
_TITLE = re.compile(r"(?m)^([A-Z][^\n:]{1,60}):$")
_TAG = re.compile(r"(?m)^<([a-z_]+)>$")


def sections(prompt: str) -> frozenset[str]:
    """The section titles (generic form) or XML tags (Claude form) of a prompt."""
    return frozenset(_TAG.findall(prompt)) or frozenset(_TITLE.findall(prompt))


async def final_prompts(bus: Bus, idea: str, count: int, target_model: str | None = None) -> list[str]:
    reply = await bus.request(
        schemas.ENGINE_GENERATE,
        GenerateRequest(input=idea, count=count, save=False, target_model=target_model),
        timeout=EVENTUALLY,
    )
    assert isinstance(reply, GenerateReply)
    finals = sorted((p for p in reply.prompts if p.phase is Phase.COAGULATIO), key=lambda p: p.chain)
    assert len(finals) == count
    return [prompt.content for prompt in finals]


@pytest.mark.usefixtures("offline_providers")
@pytest.mark.parametrize("target_model", [None, "claude-sonnet-4"])
async def test_three_chains_give_prompts_of_different_structure(
    bus: Bus, engine: EngineWorker, target_model: str | None
) -> None:
    for idea in IDEAS:
        shapes = [sections(prompt) for prompt in await final_prompts(bus, idea, 3, target_model)]
        for one in range(3):
            for other in range(one + 1, 3):
                # not one line or one section apart: each pair differs in at least two sections
                assert len(shapes[one] ^ shapes[other]) >= 2, (idea, shapes[one], shapes[other])


@pytest.mark.usefixtures("offline_providers")
async def test_the_approaches_are_a_procedure_worked_examples_and_a_checklist(bus: Bus, engine: EngineWorker) -> None:
    procedure, examples, checklist = await final_prompts(bus, IDEAS[0], 3)
    assert re.search(r"Procedure:\n1\. ", procedure)
    assert "{{example_1_input}}" in examples or "{{example_1_request}}" in examples
    assert "{{example_2_" in examples
    assert re.search(r"Checklist[^\n]*:\n- \[ \] ", checklist)
    assert "Rubric:" in checklist
    # and their level of detail differs: the checklist is the most detailed
    assert len(checklist) > max(len(procedure), len(examples))


@pytest.mark.usefixtures("offline_providers")
async def test_every_chain_keeps_every_element_of_the_brief(bus: Bus, engine: EngineWorker) -> None:
    for idea in IDEAS:
        brief = await bus.request(schemas.ENGINE_ANALYZE, AnalyzeRequest(input=idea), timeout=EVENTUALLY)
        assert isinstance(brief, Brief)
        for chain, prompt in enumerate(await final_prompts(bus, idea, 5)):
            coverage = brief_coverage(brief, prompt)
            assert coverage.missing == (), (idea, chain, coverage.missing)
            assert coverage.contradictions == (), (idea, chain)
            assert coverage.foreign == (), (idea, chain)

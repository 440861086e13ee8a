"""What the engine asks providers: persona in every phase, target conventions in the final form."""

from __future__ import annotations

from prompt_alchemy.schemas.common import Persona, Phase, TargetFamily
from prompt_alchemy.workers.generation.guidance import (
    PERSONA_GUIDANCE,
    TARGET_CONVENTIONS,
    HistoryExample,
    chain_approach,
    phase_system_prompt,
    phase_user_message,
)


def system(phase: Phase, *, final: bool, **kwargs: object) -> str:
    arguments: dict[str, object] = {"persona": Persona.CODE, "target_family": TargetFamily.CLAUDE, "target_model": None}
    arguments.update(kwargs)
    return phase_system_prompt(phase=phase, final=final, **arguments)  # type: ignore[arg-type]


def test_persona_guidance_is_in_every_phase() -> None:
    for phase in Phase:
        assert PERSONA_GUIDANCE[Persona.CODE] in system(phase, final=phase is Phase.COAGULATIO)


def test_target_conventions_shape_only_the_final_phase() -> None:
    conventions = TARGET_CONVENTIONS[TargetFamily.CLAUDE]
    assert conventions not in system(Phase.PRIMA_MATERIA, final=False)
    assert conventions in system(Phase.COAGULATIO, final=True)
    # whichever phase is last carries them (a request may stop after solutio)
    assert conventions in system(Phase.SOLUTIO, final=True)


def test_personas_and_families_each_say_something_different() -> None:
    assert len(set(PERSONA_GUIDANCE.values())) == len(Persona)
    assert len(set(TARGET_CONVENTIONS.values())) == len(TargetFamily)
    prompts = {system(Phase.COAGULATIO, final=True, target_family=family) for family in TargetFamily}
    assert len(prompts) == len(TargetFamily)


def test_history_examples_are_offered_and_clipped() -> None:
    long = "x" * 5000
    text = system(
        Phase.SOLUTIO,
        final=False,
        history=[HistoryExample("p1", "Summarise the ticket in three bullets.", 0.9), HistoryExample("p2", long, 0.8)],
        history_chars=200,
    )
    assert "Summarise the ticket in three bullets." in text
    assert "x" * 200 + " [...]" in text
    assert "x" * 201 not in text


def test_chains_get_distinct_approaches_and_a_single_chain_none() -> None:
    assert chain_approach(0, 1) is None
    approaches = [chain_approach(chain, 3) for chain in range(3)]
    assert len(set(approaches)) == 3


def test_user_message_carries_the_idea_then_the_previous_output() -> None:
    assert "make a bot" in phase_user_message(Phase.PRIMA_MATERIA, "make a bot", None)
    later = phase_user_message(Phase.SOLUTIO, "make a bot", "DRAFT-1")
    assert "DRAFT-1" in later
    assert "make a bot" in later

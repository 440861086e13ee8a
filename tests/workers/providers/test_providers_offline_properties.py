"""Whatever text arrives, the offline provider answers: a non-empty prompt, or valid judge JSON."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from prompt_alchemy.schemas.common import Persona, Phase, TargetFamily
from prompt_alchemy.schemas.providers import ChatMessage, CompletionRequest, GenerationHints
from prompt_alchemy.workers.providers import OfflinePromptEngineer

engineer = OfflinePromptEngineer()
VOCABULARY = (
    "write a function that must should never for users under 200 words json table email the and of with without "
    "don't avoid , . ; : - * 1. # <task> </task> ## Task\n Goal: ? python sql review fix translate into French "
    "act as a tutor $ 5 five <candidate> </candidate> Critique: Current prompt (score 0.1):\n"
)
WORDS = st.sampled_from(VOCABULARY.split(" "))
TEXT = st.one_of(st.text(min_size=1, max_size=400), st.lists(WORDS, min_size=1, max_size=80).map(" ".join))


@settings(max_examples=150, deadline=None)
@given(
    text=TEXT,
    idea=st.one_of(st.none(), TEXT),
    phase=st.one_of(st.none(), st.sampled_from(list(Phase))),
    family=st.sampled_from(list(TargetFamily)),
    persona=st.sampled_from(list(Persona)),
    task=st.sampled_from(["generate", "judge", "optimize"]),
    temperature=st.sampled_from([0.0, 0.7, 1.3]),
)
def test_any_text_gets_an_answer(
    text: str,
    idea: str | None,
    phase: Phase | None,
    family: TargetFamily,
    persona: Persona,
    task: str,
    temperature: float,
) -> None:
    request = CompletionRequest(
        messages=[ChatMessage(role="user", content=text)],
        temperature=temperature,
        hints=GenerationHints(phase=phase, idea=idea, target_family=family, persona=persona, task=task),  # type: ignore[arg-type]
    )
    answer = engineer.respond(request)
    assert answer.strip()
    if task == "judge":
        verdict = json.loads(answer)
        indexes = [entry["index"] for entry in verdict["scores"]]
        assert verdict["best_index"] in indexes
        assert all(0.0 <= entry["score"] <= 1.0 for entry in verdict["scores"])

"""The offline provider: real prompt engineering per phase, persona content, target-family form, judge, optimiser."""

from __future__ import annotations

import json
import math
import re

import pytest

from prompt_alchemy.errors import NotFound
from prompt_alchemy.schemas.common import Persona, Phase, TargetFamily
from prompt_alchemy.schemas.providers import ChatMessage, CompletionRequest, GenerationHints
from prompt_alchemy.workers.providers import (
    OFFLINE_EMBEDDING_MODEL,
    OFFLINE_MODEL,
    OfflinePromptEngineer,
    OfflineProvider,
)
from prompt_alchemy.workers.providers.offline import analyse

CODE_IDEA = (
    "write a python function that parses ISO 8601 dates and returns a datetime, must handle timezones, "
    "no external libraries"
)
EMAIL_IDEA = "I need an email to a customer apologising for a late delivery. Keep it friendly, no more than 120 words."
ANALYSIS_IDEA = "analyze churn in our subscription data and give 3 recommendations as a table"

engineer = OfflinePromptEngineer()


def respond(
    idea: str,
    phase: Phase | None = Phase.COAGULATIO,
    *,
    family: TargetFamily = TargetFamily.GENERIC,
    persona: Persona = Persona.GENERIC,
    user: str | None = None,
    system: str = "You are a prompt engineer.",
    temperature: float = 0.0,
) -> str:
    return engineer.respond(
        CompletionRequest(
            messages=[ChatMessage(role="system", content=system), ChatMessage(role="user", content=user or idea)],
            temperature=temperature,
            hints=GenerationHints(phase=phase, persona=persona, target_family=family, idea=idea),
        )
    )


@pytest.mark.parametrize(
    ("idea", "expected"),
    [
        (
            CODE_IDEA,
            {
                "task": "Write a Python function that parses ISO 8601 dates and returns a datetime.",
                "persona": Persona.CODE,
                "language": "Python",
                "inputs": ("ISO 8601 dates",),
                "output": "a datetime",
                "constraints": ("Handle timezones.", "Use no external libraries."),
                "format": "code",
            },
        ),
        (
            EMAIL_IDEA,
            {
                "task": "Write an email to a customer apologising for a late delivery.",
                "persona": Persona.WRITING,
                "audience": "a customer",
                "length": "at most 120 words",
                "tones": ("friendly",),
                "format": "email",
            },
        ),
        (
            "Summarize this article for busy executives in under 150 words. Avoid jargon and don't speculate.",
            {
                "audience": "busy executives",
                "inputs": ("the provided article",),
                "length": "under 150 words",
                "constraints": ("Avoid jargon.", "Do not speculate.", "Keep it under 150 words."),
                "format": "summary",
            },
        ),
        (
            ANALYSIS_IDEA,
            {"persona": Persona.ANALYSIS, "inputs": ("the provided subscription data",), "format": "table"},
        ),
        ("explain quantum computing to a 10-year-old", {"audience": "a 10-year-old", "verb": "explain"}),
        (
            "Give me 10 name ideas for a coffee shop",
            {"constraints": ("Give exactly 10 name ideas.",), "format": "list"},
        ),
    ],
)
def test_the_idea_is_read_into_task_audience_inputs_constraints_and_format(
    idea: str, expected: dict[str, object]
) -> None:
    brief = analyse(idea)
    actual = {
        "task": brief.task,
        "persona": brief.persona,
        "language": brief.language,
        "inputs": brief.inputs,
        "output": brief.output,
        "constraints": brief.constraints,
        "audience": brief.audience,
        "length": brief.length,
        "tones": brief.tones,
        "verb": brief.verb,
        "format": brief.primary_format.key if brief.primary_format else None,
    }
    assert {key: actual[key] for key in expected} == expected


def test_prima_materia_is_a_raw_structured_brief_with_open_questions() -> None:
    brief = respond(EMAIL_IDEA, Phase.PRIMA_MATERIA)
    headings = ("Goal:", "Audience:", "Inputs:", "Constraints:", "Output format:", "Writing focus:", "Open questions:")
    for heading in headings:
        assert heading in brief
    assert "Keep it to at most 120 words." in brief
    # what the idea leaves open becomes questions: the email states audience, tone and length; this one does not
    assert brief.split("Open questions:")[1].count("?") == 1
    vague = respond("write a blog post about remote work", Phase.PRIMA_MATERIA)
    questions = vague.split("Open questions:")[1]
    assert questions.count("?") >= 3
    assert "What tone fits" in questions
    assert "How long should it be?" in questions


def test_solutio_is_flowing_prose_not_a_list() -> None:
    prompt = respond(CODE_IDEA, Phase.SOLUTIO, family=TargetFamily.GPT)
    requirements = prompt.split("## Requirements")[1].split("## Output")[0].strip()
    assert "\n" not in requirements  # one paragraph
    assert not re.search(r"(?m)^\s*(?:\d+\.|-)\s", prompt)
    assert "Handle timezones." in requirements
    assert "You will be given ISO 8601 dates." in prompt


def test_coagulatio_has_numbered_deduplicated_requirements_and_an_output_contract() -> None:
    prompt = respond("write a haiku about autumn, must be in English, should be in English, under 20 words")
    requirements = re.findall(r"(?m)^\d+\. (.*)$", prompt.split("Requirements:")[1].split("Output format:")[0])
    assert requirements
    assert len(requirements) == len(set(requirements))
    assert sum("English" in line for line in requirements) == 1
    contract = prompt.split("Output format:")[1]
    assert "Length: under 20 words." in contract
    assert "Return only the poem" in contract


@pytest.mark.parametrize(
    ("family", "must_have", "must_not_have"),
    [
        (TargetFamily.CLAUDE, ["<task>\n", "</task>", "<constraints>", "<output_format>"], ["## "]),
        (TargetFamily.GPT, ["## Task\n", "## Requirements\n", "## Output format\n"], ["<task>"]),
        (TargetFamily.GENERIC, ["Task:\n", "Requirements:\n", "Output format:\n"], ["## ", "<task>"]),
        (TargetFamily.GROK, ["Here's the job: ", "Hard requirements:\n", "Be direct."], ["## ", "<task>"]),
    ],
)
def test_target_family_changes_the_form(family: TargetFamily, must_have: list[str], must_not_have: list[str]) -> None:
    prompt = respond(CODE_IDEA, family=family)
    for marker in must_have:
        assert marker in prompt
    for marker in must_not_have:
        assert marker not in prompt


def test_gemini_form_is_concise_directive_bullet_lines() -> None:
    prompt = respond(CODE_IDEA, family=TargetFamily.GEMINI)
    lines = [line for line in prompt.splitlines() if line.strip()]
    assert lines[1] == "Write a Python function that parses ISO 8601 dates and returns a datetime."
    assert sum(line.startswith("* ") for line in lines) >= 8
    assert "\n\n" not in prompt
    assert "* Format: Return the code in one fenced code block tagged with its language." in lines


def test_persona_changes_the_content() -> None:
    code = respond(CODE_IDEA).lower()
    for needle in ("edge cases", "unit tests", "python", "time zones", "invalid input"):
        assert needle in code
    writing = respond(EMAIL_IDEA).lower()
    for needle in ("tone", "audience: a customer", "120 words", "subject line"):
        assert needle in writing
    analysis = respond(ANALYSIS_IDEA).lower()
    for needle in ("data provided", "method", "assumptions", "evidence", "confidence"):
        assert needle in analysis
    forced = respond("write a short note about our offsite", persona=Persona.ANALYSIS).lower()
    assert "method" in forced


def test_engine_flow_carries_the_constraints_through_all_three_phases() -> None:
    previous: str | None = None
    outputs: list[str] = []
    for phase in Phase:
        user = f"Raw idea:\n{CODE_IDEA}"
        if previous is not None:
            user = f"Original idea (for reference):\n{CODE_IDEA}\n\n"
            user += f"Draft prompt to transform in the {phase.value} phase:\n{previous}"
        previous = respond(CODE_IDEA, phase, user=user, family=TargetFamily.CLAUDE)
        outputs.append(previous)
    assert len(set(outputs)) == 3
    final = outputs[-1]
    assert "1. Handle timezones." in final
    assert "2. Use no external libraries." in final
    assert "Goal" not in final  # the brief's scaffolding does not leak into the prompt


def test_requirements_from_a_vendor_written_draft_are_kept() -> None:
    draft = "## Task\nParse ISO dates.\n\n## Rules\n- Never use regular expressions.\n- Must run on Python 3.11.\n"
    user = f"Original idea (for reference):\n{CODE_IDEA}\n\nDraft prompt to transform in the coagulatio phase:\n{draft}"
    prompt = respond(CODE_IDEA, Phase.COAGULATIO, user=user)
    assert "Never use regular expressions." in prompt
    assert "Run on Python 3.11." in prompt


@pytest.mark.parametrize(
    ("emphasis", "present", "absent"),
    [
        (
            "Favour directness: the shortest prompt that fully specifies the task.",
            [],
            ["Defaults:", "Before answering"],
        ),
        (
            "Favour completeness: anticipate edge cases and include a worked example.",
            ["Example shape:", "awkward cases"],
            [],
        ),
        (
            "Favour structure: explicit numbered steps and a strict output template.",
            ["Steps:\n1. Restate the interface"],
            [],
        ),
        (
            "Favour the reader's context: spell out audience, background and success criteria.",
            ["(assumed)", "Success criteria:"],
            [],
        ),
        (
            "Favour robustness: state what to do when information is missing or ambiguous.",
            ["When information is missing:"],
            [],
        ),
    ],
)
def test_emphasis_in_the_system_message_shapes_the_prompt(emphasis: str, present: list[str], absent: list[str]) -> None:
    prompt = respond(CODE_IDEA, system=f"You are a prompt engineer.\n\n{emphasis}")
    plain = respond(CODE_IDEA)
    assert prompt != plain
    for marker in present:
        assert marker in prompt
    for marker in absent:
        assert marker in plain
        assert marker not in prompt


def test_output_is_deterministic_and_temperature_picks_a_variant() -> None:
    assert respond(CODE_IDEA, temperature=0.7) == respond(CODE_IDEA, temperature=0.7)
    variants = {respond(CODE_IDEA, temperature=t) for t in (0.0, 0.7, 0.8)}
    assert len(variants) == 3


def test_without_hints_the_message_is_treated_as_an_idea() -> None:
    content = engineer.respond(CompletionRequest(messages=[ChatMessage(role="user", content=EMAIL_IDEA)]))
    assert "Task:\nWrite an email to a customer apologising for a late delivery." in content


def judge(candidates: list[str], idea: str = CODE_IDEA) -> dict[str, object]:
    blocks = "\n\n".join(f'<candidate index="{index}">\n{text}\n</candidate>' for index, text in enumerate(candidates))
    content = engineer.respond(
        CompletionRequest(
            messages=[ChatMessage(role="user", content=f"Task the prompts are for:\n{idea}\n\n{blocks}")],
            temperature=0.0,
            hints=GenerationHints(idea=idea, task="judge"),
        )
    )
    result: dict[str, object] = json.loads(content)
    return result


def test_judge_scores_engineered_prompts_above_an_echo_and_a_stub() -> None:
    engineered = respond(CODE_IDEA)
    verdict = judge(["Write code.", CODE_IDEA, engineered])
    scores = {entry["index"]: entry for entry in verdict["scores"]}  # type: ignore[attr-defined]
    assert verdict["best_index"] == 2
    assert scores[2]["score"] > scores[1]["score"] > scores[0]["score"]
    assert all(0.0 <= entry["score"] <= 1.0 for entry in scores.values())
    assert "restates the idea" in scores[1]["reason"]
    assert any("Mention explicitly" in item for item in scores[0]["improvements"])


def test_judge_reads_numbered_headings_when_there_are_no_blocks() -> None:
    content = engineer.respond(
        CompletionRequest(
            messages=[
                ChatMessage(role="user", content="Candidate 1:\nWrite code.\n\nCandidate 2:\n" + respond(CODE_IDEA))
            ],
            hints=GenerationHints(idea=CODE_IDEA, task="judge"),
        )
    )
    verdict = json.loads(content)
    assert [entry["index"] for entry in verdict["scores"]] == [0, 1]
    assert verdict["best_index"] == 1


def test_optimiser_answers_the_critique_and_keeps_the_prompts_requirements() -> None:
    prompt = "## Task\nParse ISO dates in Python.\n\n## Rules\n- Never use recursion.\n- Return a datetime.\n"
    message = (
        f"Task the prompt is for:\n{CODE_IDEA}\n\nCurrent prompt (score 0.41):\n{prompt}\n\n"
        "Critique:\nToo vague and there is no example of the output.\n\nImprovements to make:\n"
        "- Mention explicitly: timezones, datetime.\n- Specify the exact output format, ideally with a short template."
    )
    rewritten = engineer.respond(
        CompletionRequest(
            messages=[ChatMessage(role="user", content=message)],
            hints=GenerationHints(idea=CODE_IDEA, task="optimize", target_family=TargetFamily.GPT),
        )
    )
    assert "Never use recursion." in rewritten
    assert "## Success criteria" in rewritten
    assert "## Example shape" in rewritten
    assert "Address explicitly: timezones, datetime." in rewritten
    assert "Specify the exact output format" not in rewritten  # critique lines are edits, not model instructions
    assert judge([prompt, rewritten])["best_index"] == 1


async def test_offline_provider_replies_estimate_usage_and_reject_unknown_models() -> None:
    provider = OfflineProvider()
    request = CompletionRequest(messages=[ChatMessage(role="user", content=CODE_IDEA)])
    completion = await provider.complete(request, OFFLINE_MODEL, 1.0)
    assert completion.model == OFFLINE_MODEL
    assert completion.usage.estimated
    assert completion.usage.output_tokens > 50
    with pytest.raises(NotFound, match="model 'gpt-4o' not found at provider 'offline'"):
        await provider.complete(request, "gpt-4o", 1.0)


async def test_offline_embeddings_are_normalised_and_semantic() -> None:
    provider = OfflineProvider()
    result = await provider.embed(
        ["parse dates in python", "python date parsing function", "a recipe for chocolate cake"],
        OFFLINE_EMBEDDING_MODEL,
        5.0,
    )
    assert [len(vector) for vector in result.vectors] == [256, 256, 256]

    def cosine(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert all(math.isclose(cosine(v, v), 1.0, rel_tol=1e-4) for v in result.vectors)
    near, far = cosine(result.vectors[0], result.vectors[1]), cosine(result.vectors[0], result.vectors[2])
    assert near > far
    with pytest.raises(NotFound):
        await provider.embed(["x"], "text-embedding-3-small", 1.0)


@pytest.mark.parametrize(
    ("idea", "present"),
    [
        (
            "generate unit tests for a React login form component",
            ["React login form", "React Testing Library", "deterministic", "one test per behaviour"],
        ),
        ("review my pull request for security issues", ["Order findings by severity", "injection", "overall verdict"]),
        (
            "fix this python bug: my script crashes with KeyError when the config file is missing",
            ["root cause", "fails before the fix", "Root cause: one or two sentences."],
        ),
        ("refactor this Go function to be more readable", ["behaviour identical", "list of changes"]),
        (
            "translate this product description into French and keep the brand names in English",
            ["professional translator into French", "idiomatic French", "Keep the brand names in English."],
        ),
        (
            "summarize this meeting transcript for the team in 5 bullet points",
            ["add no new information", "Give exactly 5 bullet points."],
        ),
        (
            "a SQL query that returns the top 5 customers by revenue last month",
            ["SQL dialect", "bound parameters", "ties"],
        ),
        (
            "I want a prompt that makes the model act as a Socratic tutor for high school physics students",
            ["You are a Socratic tutor for high school physics students.", "Guide with questions", "Stay in this role"],
        ),
        (
            "explain quantum computing to a 10-year-old",
            ["Audience: a 10-year-old.", "analogy", "Define every technical term"],
        ),
        ("create a landing page headline for a note-taking app aimed at students", ["up to four alternatives"]),
        (
            "plan a 3-day trip to Lisbon for a family on a budget under $1500",
            ["Stay within a budget of $1500.", "give prices or cost ranges", "Organise it by day"],
        ),
        ("give me five tips for better sleep", ["Give exactly 5 tips.", "numbered list"]),
    ],
)
def test_the_task_mode_shapes_the_requirements(idea: str, present: list[str]) -> None:
    prompt = respond(idea)
    for marker in present:
        assert marker in prompt, marker


def test_a_job_title_is_not_mistaken_for_the_audience() -> None:
    brief = analyse("write a cover letter for a junior data analyst position, formal tone, one page")
    assert brief.audience is None
    assert brief.persona is Persona.WRITING
    assert brief.length == "about 1 page"
    assert "hiring manager" in respond("write a cover letter for a junior data analyst position, formal tone, one page")


def test_the_draft_is_read_from_its_quoted_block_not_from_the_header_above_it() -> None:
    """The engine's later-phase message says "Draft prompt to transform ...:" and then quotes the draft as
    a JSON string in <draft>: the draft is that string decoded, never the tag and its escapes (which made the
    offline solutio phase copy `\\n\\nOpen questions:\\n- ...` into a requirement)."""
    from prompt_alchemy.workers.generation.guidance import phase_user_message
    from prompt_alchemy.workers.providers.offline.provider import draft_in

    draft = 'You are a poet.\n\nTask:\nWrite it.\n\nOpen questions:\n- Who is "it" for?'
    message = phase_user_message(Phase.SOLUTIO, "write me a poem about the sea", draft)
    assert draft_in(message) == draft
    assert draft_in(f"Draft prompt to improve:\n{draft}") == draft  # a hand-written message: the rest as written


def test_no_offline_phase_carries_json_escapes_from_the_draft_it_transformed() -> None:
    engineer = OfflinePromptEngineer()
    idea = "write me a poem about the sea"
    from prompt_alchemy.workers.generation.guidance import phase_user_message

    previous: str | None = None
    for phase in (Phase.PRIMA_MATERIA, Phase.SOLUTIO, Phase.COAGULATIO):
        for approach in ("procedure", "examples", "rubric"):
            request = CompletionRequest(
                messages=[
                    ChatMessage(role="system", content=f"Approach: {approach}."),
                    ChatMessage(role="user", content=phase_user_message(phase, idea, previous)),
                ],
                hints=GenerationHints(idea=idea, phase=phase),
            )
            text = engineer.respond(request)
            for leak in ("\\n", '\\"', "<draft>"):
                assert leak not in text, (phase, approach, text)
        previous = text

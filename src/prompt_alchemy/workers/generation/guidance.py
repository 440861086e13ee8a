"""The words the engine sends to providers: phase instructions, persona guidance, target-model conventions.

The system message of every phase call is assembled here, so what a model is asked to do can be
read in one place. The persona applies to every phase; the target family's conventions shape the
final phase (the form the prompt is delivered in); earlier phases only learn which model it is for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from prompt_alchemy.schemas.brief import Brief
from prompt_alchemy.schemas.common import MAX_PROMPT_CHARS, Persona, Phase, TargetFamily
from prompt_alchemy.schemas.quoting import DATA_NOTICE, quote, quoted_block, shortened_to_quote_within

__all__ = [
    "CHAIN_APPROACHES",
    "PERSONA_GUIDANCE",
    "PHASE_INSTRUCTIONS",
    "TARGET_CONVENTIONS",
    "HistoryExample",
    "brief_text",
    "chain_approach",
    "phase_system_prompt",
    "phase_user_message",
]

_ROLE = (
    "You are a master prompt engineer who turns rough ideas into production-ready prompts for large "
    "language models, through three alchemical phases."
)

PHASE_INSTRUCTIONS: Mapping[Phase, str] = MappingProxyType(
    {
        Phase.PRIMA_MATERIA: (
            "Phase: prima materia (extraction). Take the raw idea in the user message and extract its "
            "essence: the goal, the audience, the inputs the model will get, the expected output and its "
            "format, and the constraints. Shape it into a complete, well-structured first prompt."
        ),
        Phase.SOLUTIO: (
            "Phase: solutio (dissolution). The user message is a structured draft prompt. Rewrite it in "
            "clear, natural language a capable human expert would write: keep every requirement, remove "
            "stiffness, make the intent and the reasons behind each instruction explicit."
        ),
        Phase.COAGULATIO: (
            "Phase: coagulatio (crystallisation). The user message is a draft prompt. Distil it into its "
            "final, precise form: remove redundancy, resolve ambiguity, make constraints and the output "
            "format unambiguous, and keep it as short as it can be without losing anything."
        ),
    }
)

PERSONA_GUIDANCE: Mapping[Persona, str] = MappingProxyType(
    {
        Persona.CODE: (
            "Persona: software engineering. The prompt is for coding work: name the language, runtime and "
            "versions when known, ask for complete runnable code with types and error handling, tests or a "
            "way to verify the result, and an explanation of non-obvious decisions. Forbid placeholder code."
        ),
        Persona.WRITING: (
            "Persona: writing. The prompt is for producing prose: set the audience, voice, tone and length, "
            "the structure of the piece, and what makes it engaging and original; ask for concrete detail "
            "over generic statements."
        ),
        Persona.ANALYSIS: (
            "Persona: analysis. The prompt is for reasoning over information: ask for explicit assumptions, "
            "step-by-step reasoning, evidence for each claim, quantified uncertainty, and a conclusion that "
            "answers the question first and then supports it."
        ),
        Persona.GENERIC: (
            "Persona: general purpose. The prompt should work for a broad task: state the goal, context, "
            "constraints and the expected output clearly."
        ),
    }
)

TARGET_CONVENTIONS: Mapping[TargetFamily, str] = MappingProxyType(
    {
        TargetFamily.CLAUDE: (
            "Target model family: Claude (Anthropic). Structure the prompt with XML tags such as <context>, "
            "<instructions>, <constraints> and <output_format>; put long reference material first and the "
            "question last; ask for reasoning inside <thinking> tags when it helps."
        ),
        TargetFamily.GPT: (
            "Target model family: GPT (OpenAI). Structure the prompt with Markdown headings (# Role, "
            "# Task, # Constraints, # Output format); state the role in the first line; give numbered steps "
            "and, when the output is data, a JSON shape to follow."
        ),
        TargetFamily.GEMINI: (
            "Target model family: Gemini (Google). Lead with a one-sentence task, then labelled sections "
            "(Context:, Task:, Constraints:, Format:); include a short example of the expected output; keep "
            "instructions direct and positive."
        ),
        TargetFamily.GROK: (
            "Target model family: Grok (xAI). Keep the prompt direct and compact: a plain statement of the "
            "goal, a short bullet list of requirements, and the exact output format; no ornamental wording."
        ),
        TargetFamily.GENERIC: (
            "Target model: unspecified. Use portable conventions: a role line, clearly labelled sections for "
            "context, task, constraints and output format, and plain Markdown."
        ),
    }
)

CHAIN_APPROACHES: tuple[str, ...] = (
    "Approach: step-by-step procedure. Write the prompt as a procedure the model follows in order: the "
    "task and its context, then numbered steps in the order the work is done, then the rules that hold at "
    "every step (every requirement of the idea), then the output format. One line per step; no examples.",
    "Approach: worked examples. Teach by example: the task, its context and its requirements briefly, then "
    "two few-shot slots the user fills with real pairs (an input placeholder and the expected output in "
    "the required format, e.g. {{example_1_input}} and {{example_1_output}}), then the real input. Little "
    "prose; the examples carry the level of detail.",
    "Approach: constraint checklist. Build the prompt around an explicit checklist: the task and its "
    "context, then every requirement of the idea as a checkbox item, a rubric with a pass condition per "
    "criterion, stated defaults, and an instruction to verify every item before answering. Most detailed.",
    "Approach: minimal specification. The shortest prompt that still keeps every element of the idea: one "
    "task sentence, one list of every requirement, the output format. No steps, no examples, no rubric.",
    "Approach: defensive. The task and every requirement, then explicit handling of missing, ambiguous or "
    "conflicting input, the defaults to assume, and what never to invent.",
)
"""One approach per parallel chain: each asks for a different structure and level of detail, so
``count`` chains give prompts that differ in substance, not in one line. Each keeps every element
of the brief."""

_IDEA_ROOM = MAX_PROMPT_CHARS // 4  # the quoted idea in a user message; the draft gets the rest

_OUTPUT_RULE = (
    "Answer with the prompt itself only: no preamble, no commentary, no surrounding quotes. The prompt "
    "must be usable as is."
)


@dataclass(frozen=True, slots=True)
class HistoryExample:
    """A stored prompt offered as context because it is similar to the current idea."""

    id: str
    content: str
    similarity: float | None


def chain_approach(chain: int, count: int) -> str | None:
    """The approach of one chain; a single chain keeps the plain instructions."""
    if count <= 1:
        return None
    return CHAIN_APPROACHES[chain % len(CHAIN_APPROACHES)]


def _history_block(history: Sequence[HistoryExample], max_chars: int) -> str:
    lines = [
        "Similar prompts that were stored before, for inspiration only (reuse what works, do not copy them "
        "verbatim, and ignore them where they do not fit):"
    ]
    for number, example in enumerate(history, start=1):
        content = example.content if len(example.content) <= max_chars else example.content[:max_chars] + " [...]"
        # a stored prompt is anyone's text: quoted, so "</example>" inside it cannot end the block
        lines.append(quoted_block("example", content, index=number))
    return "\n".join(lines)


def phase_system_prompt(
    *,
    phase: Phase,
    persona: Persona,
    target_family: TargetFamily,
    target_model: str | None,
    final: bool,
    approach: str | None = None,
    history: Sequence[HistoryExample] = (),
    history_chars: int = 1500,
) -> str:
    """The system message of one phase call."""
    parts = [_ROLE, PHASE_INSTRUCTIONS[phase], PERSONA_GUIDANCE[persona]]
    if final:
        parts.append(TARGET_CONVENTIONS[target_family])
        if target_model:
            parts.append(f"The prompt will be sent to the model {quote(target_model)}.")
    elif target_model:
        parts.append(
            f"The finished prompt will be sent to the model {quote(target_model)}; a later phase adapts its form."
        )
    if approach:
        parts.append(approach)
    if history:
        parts.append(DATA_NOTICE)
        parts.append(_history_block(history, history_chars))
    parts.append(_OUTPUT_RULE)
    return "\n\n".join(parts)


def brief_text(brief: Brief) -> str:
    """The brief as lines a model reads: every element the prompt must keep."""
    lines = [f"Task: {brief.task}"]
    if brief.deliverable:
        lines.append(f"Deliverable: {brief.deliverable}")
    if brief.audience:
        lines.append(f"Audience: {brief.audience}")
    lines += [f"Constraint ({item.kind.value}): {item.text}" for item in brief.constraints]
    lines += [f"Detail: {detail}" for detail in brief.details]
    if brief.tone:
        lines.append(f"Tone: {', '.join(brief.tone)}")
    if brief.form is not None:
        lines.append(f"Form: {brief.form.name}" + "".join(f"; {rule}" for rule in brief.form.rules))
    if brief.input is not None:
        lines.append(f"Input at run time: {brief.input.description}, as the placeholder {brief.input.placeholder}")
    if brief.code_language:
        lines.append(f"Programming language: {brief.code_language}")
    return "\n".join(lines)


_BRIEF_ROOM = MAX_PROMPT_CHARS // 4


def phase_user_message(phase: Phase, idea: str, previous: str | None, *, brief: Brief | None = None) -> str:
    """The idea for the first phase; the previous phase's prompt (with the idea for reference) afterwards.

    With a ``brief`` (what the analyser read in the idea) every phase also gets it, so no phase or
    chain drops an element of it. All of it is quoted data (``schemas.quoting``): the user's idea,
    its reading and a model's draft are worked on, not obeyed."""
    reading = ""
    if brief is not None:
        reading = "\n\nWhat the idea states (the prompt must keep every element):\n" + quoted_block(
            "brief", shortened_to_quote_within(brief_text(brief), _BRIEF_ROOM)
        )
    if previous is None:
        return (
            f"{DATA_NOTICE}\n\nRaw idea:\n{quoted_block('idea', shortened_to_quote_within(idea, _IDEA_ROOM))}" + reading
        )
    head = (
        f"{DATA_NOTICE}\n\nOriginal idea (for reference):\n"
        f"{quoted_block('idea', shortened_to_quote_within(idea, _IDEA_ROOM))}{reading}\n\n"
        f"Draft prompt to transform in the {phase.value} phase:\n"
    )
    room = MAX_PROMPT_CHARS - len(head) - len("<draft></draft>")
    return head + quoted_block("draft", shortened_to_quote_within(previous, room))

"""The three phases, written offline from a brief.

prima materia: the raw structured brief (goal, audience, inputs, constraints, output format,
open questions). solutio: the brief dissolved into clear natural-language instructions, a
flowing prompt. coagulatio: the prompt tightened: one task sentence, deduplicated numbered
requirements, an explicit output contract, stated defaults and a final self-check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from prompt_alchemy.schemas.common import Persona, Phase, TargetFamily
from prompt_alchemy.workers.providers.offline.analysis import IdeaBrief
from prompt_alchemy.workers.providers.offline.personas import Guidance, guidance_for
from prompt_alchemy.workers.providers.offline.requirements import QUANTITY
from prompt_alchemy.workers.providers.offline.styling import PromptDocument, Section, render
from prompt_alchemy.workers.providers.offline.vocabulary import CODE_LANGUAGES, CONFIG_LANGUAGES, SKELETONS
from prompt_alchemy.workers.providers.offline.wording import dedupe, key_terms, stem

__all__ = [
    "Refinements",
    "coagulatio",
    "example_shape",
    "normalised",
    "prima_materia",
    "requirements_for",
    "solutio",
    "write_phase",
]

_CLOSING = "If two requirements conflict or one cannot be met, say so in one sentence instead of guessing."
_PROSE_FORMATS = frozenset({"summary", "report", "article", "email", "plan", "outline", "faq", "letter"})
_LIST_FORMATS = frozenset({"bullets", "numbered", "table", "markdown", "checklist"})
_PROPER_NAMES = frozenset(name for _, name in CODE_LANGUAGES) | {"Markdown", "English"}
_NEGATIONS = ("do not", "use no", "avoid", "never", "don't")


def _lower_first(sentence: str) -> str:
    """Lower-case the first letter unless it starts a name or an acronym ("Python", "JSON", "I")."""
    first = sentence.split(" ", 1)[0].strip(",.;:")
    if first == "I" or first[1:2].isupper() or first in _PROPER_NAMES:
        return sentence
    return sentence[:1].lower() + sentence[1:]


def _join_clauses(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _core(typed: str) -> str:
    """ "Language of the result: English." -> "English": what a typed constraint is about."""
    return typed.split(":", 1)[-1].split(";", 1)[0].strip().rstrip(".")


def requirements_for(brief: IdeaBrief, guide: Guidance) -> list[str]:
    """The user's own constraints first, then persona requirements that neither repeat nor contradict them."""
    user = [constraint for constraint in brief.constraints if constraint != brief.length_rule]  # in the contract
    said = " ".join([*user, brief.length or ""]).lower()  # the length is in the output format
    typed = [text for _, text in brief.typed if _core(text).lower() not in said]
    user = [*user, *typed, *(brief.form.rules if brief.form else ())]
    forbidden = {
        stem(term) for constraint in user if constraint.lower().startswith(_NEGATIONS) for term in key_terms(constraint)
    }
    persona = [
        requirement
        for requirement in guide.requirements
        if not forbidden & {stem(term) for term in key_terms(requirement)}
    ]
    return dedupe(user + persona)


_CONVERSATION = ("Reply conversationally: short turns, one idea or question at a time.",)


def _format_contract(brief: IdeaBrief, guide: Guidance) -> list[str]:
    primary = brief.primary_format
    lines: list[str] = []
    own = _CONVERSATION if brief.mode == "role" else guide.contract
    if brief.form is not None and brief.form.creative and brief.mode != "role":
        noun = "story" if "story" in brief.form.name else "poem" if brief.form.name != "creative piece" else "text"
        lines.append(f"Return only the {noun} itself ({brief.form.name}): no title unless asked, nothing around it.")
    elif own is not None and (primary is None or primary.key in {"code", "tests"}):
        lines += list(own)
    elif primary is None:
        lines.append("Use short paragraphs; add headings or lists only where they make the answer easier to scan.")
    elif primary.key == "short_copy" and (brief.length or QUANTITY.search(brief.idea)):
        # the idea says how many or how long: no "four alternatives" or "under 12 words" of our own
        lines.append("One per line, the strongest first.")
    else:
        lines += list(primary.contract)
        secondary = next((spec for spec in brief.formats[1:] if spec.key in _LIST_FORMATS), None)
        if secondary is not None and primary.key in _PROSE_FORMATS:
            lines += list(secondary.contract)
    if brief.length:
        lines.append(f"Length: {brief.length}.")
    if brief.mode != "role" and (primary is None or primary.key not in {"json", "yaml", "xml", "csv"}):
        lines.append("Start directly with the answer: no preamble, no closing pleasantries.")
    return lines


def _placeholder(brief: IdeaBrief) -> str | None:
    return f"{{{{{brief.input_slot[1]}}}}}" if brief.input_slot else None


def _input_line(brief: IdeaBrief) -> str | None:
    """ "the incident postmortem, given below as {{incident_postmortem}}"."""
    if brief.input_slot:
        return f"{brief.input_slot[0]}, given below as {_placeholder(brief)}"
    return _join_clauses(list(brief.inputs)) or None


def _details_sentence(brief: IdeaBrief) -> str | None:
    if not brief.facts:
        return None
    return "Keep every detail the user gave: " + "; ".join(fact.rstrip(".") for fact in brief.facts) + "."


def _context_items(brief: IdeaBrief, guide: Guidance) -> list[str]:
    items = [f"Audience: {brief.audience}."] if brief.audience else []
    if brief.form:
        items.append(f"Form: {brief.form.name}.")
    if (line := _input_line(brief)) is not None:
        items.append(f"Input: {line}.")
    if brief.output and brief.output.lower() not in brief.task.lower():
        items.append(f"Expected result: {brief.output}.")
    if brief.language and brief.persona is Persona.CODE and brief.language.lower() not in brief.task.lower():
        items.append(f"Language: {brief.language}.")
    if not brief.facts:  # a structured prompt read back: its own context lines
        items += list(brief.context) + list(brief.notes)
    return items


@dataclass(frozen=True, slots=True)
class Refinements:
    """What an emphasis (from the engine's system prompt) or an optimisation round adds to a prompt."""

    requirements: tuple[str, ...] = ()
    success_criteria: tuple[str, ...] = ()
    example: bool = False  # show the shape of a good answer
    compact: bool = False  # the shortest prompt that fully specifies the task
    steps: bool = False  # explicit numbered steps
    robust: bool = False  # what to do when information is missing or ambiguous
    context: bool = False  # spell out audience and success criteria
    layout: str = ""  # the chain's approach: "procedure", "examples" or "rubric" ("" keeps the standard form)

    def merged(self, other: Refinements) -> Refinements:
        return Refinements(
            layout=other.layout or self.layout,
            requirements=self.requirements + other.requirements,
            success_criteria=self.success_criteria + other.success_criteria,
            example=self.example or other.example,
            compact=self.compact or other.compact,
            steps=self.steps or other.steps,
            robust=self.robust or other.robust,
            context=self.context or other.context,
        )


_MISSING_INFORMATION = (
    "If a required input is missing, empty or unreadable, say exactly what is missing and stop; do not invent it.",
    "If the request can be read in more than one way, pick the most likely reading, state it in one line, "
    "and continue.",
    "Never invent facts, figures, names, quotes or sources.",
)
_MISSING_IN_A_FORM = (
    "If a detail from the request cannot fit the form, keep the form's rules and say in one line which "
    "detail gave way.",
    "If the request can be read in more than one way, pick the reading that suits the form best and go on.",
)


def _missing_information(brief: IdeaBrief) -> tuple[str, ...]:
    """What to do when information is missing: a fixed creative form is not a factual document."""
    return _MISSING_IN_A_FORM if brief.form is not None and brief.form.creative else _MISSING_INFORMATION


_STEPS = {
    Persona.CODE: (
        "Restate the interface you will implement: name, parameters, return value, errors.",
        "List the edge cases you will handle.",
        "Write the implementation.",
        "Write the tests.",
        "Check the code against every requirement before answering.",
    ),
    Persona.WRITING: (
        "Decide the one message the reader must take away.",
        "Outline the structure: opening, body, close.",
        "Write the draft in the required tone and length.",
        "Cut every sentence that does not serve the reader, then check the requirements.",
    ),
    Persona.ANALYSIS: (
        "Restate the question and the data available.",
        "State the method and the assumptions.",
        "Work through the data and record the evidence for each finding.",
        "Draw conclusions with a confidence level, then recommendations.",
    ),
    Persona.GENERIC: (
        "Restate the task in one sentence.",
        "Work out the answer, covering every part of the task.",
        "Shape it into the required output format.",
        "Check it against every requirement before answering.",
    ),
}


_CREATIVE_STEPS = (
    "Choose the one image, moment or feeling at the heart of the piece.",
    "Draft it within every rule of the form.",
    "Read it aloud: fix rhythm, rhyme and any forced word.",
    "Check every detail from the request is in it.",
)


def _steps(brief: IdeaBrief) -> tuple[str, ...]:
    if brief.form is not None and brief.form.creative:
        return _CREATIVE_STEPS
    return _STEPS[brief.persona]


def example_shape(brief: IdeaBrief) -> str | None:
    """A skeleton of a good answer in the requested format, when one can be drawn without inventing content."""
    primary = brief.primary_format
    if primary is None or (primary.key == "code" and brief.mode in {"review", "debug"}):
        return None  # a review or a diagnosis is not shaped like the code it is about
    if primary.skeleton:
        return primary.skeleton
    if primary.key == "code":
        if brief.language == "Python":
            return (
                "def <name>(<param>: <Type>) -> <ReturnType>:\n"
                '    """<One-line summary.>"""\n'
                "    ...\n\n\n"
                "def test_<behaviour>() -> None:\n"
                "    ..."
            )
        if brief.designs_schema:
            return "CREATE TABLE <name> (\n    <column> <type> <constraints>,\n    ...\n);\nCREATE INDEX ..."
        if brief.language in CONFIG_LANGUAGES:
            return f"# validate: <the tool's check command>\n<{brief.language}: the complete file>"
        return f"<{brief.language or 'code'}: signature, implementation>\n<tests: one per behaviour and edge case>"
    return SKELETONS.get(primary.key)


def _think_first(brief: IdeaBrief) -> str:
    if brief.persona is Persona.CODE:
        return "Before writing code, walk through the edge cases above one by one. Show only the final result."
    if brief.persona is Persona.WRITING:
        return "Before writing, decide the one message the reader must take away. Show only the final text."
    if brief.persona is Persona.ANALYSIS:
        return "Before answering, sketch your method and check it fits the data. Show only the final analysis."
    return "Plan the answer before writing it. Show only the final answer."


def prima_materia(
    brief: IdeaBrief, family: TargetFamily, variant: int = 0, refinements: Refinements | None = None
) -> str:
    guide = guidance_for(brief)
    primary = brief.primary_format
    sections = [
        Section("task", "Goal", brief.task),
        Section("audience", "Audience", brief.audience or f"Not stated (default: {guide.default_audience})"),
        Section("inputs", "Inputs", _input_line(brief) or "Not stated"),
    ]
    if brief.form:
        sections.append(Section("form", f"Form: {brief.form.name}", brief.form.rules))
    if brief.facts:
        sections.append(Section("details", "Stated details", brief.facts))
    if brief.output:
        sections.append(Section("expected", "Expected result", brief.output[:1].upper() + brief.output[1:]))
    stated = tuple(dedupe([*(text for _, text in brief.typed), *brief.constraints]))
    sections.append(Section("constraints", "Constraints", stated if stated else "None stated"))
    sections.append(
        Section(
            "output_format",
            "Output format",
            f"{primary.label[:1].upper()}{primary.label[1:]}: {primary.contract[0]}" if primary else "Not stated",
        )
    )
    if (brief.context or brief.notes) and not brief.facts:
        sections.append(Section("context", "Context", tuple(brief.context + brief.notes)))
    focus_name = "Role" if brief.mode == "role" else brief.persona.value.capitalize()
    sections.append(Section("persona_focus", f"{focus_name} focus", guide.focus))
    angle = _working_angle(refinements or Refinements())
    if angle:
        sections.append(Section("angle", "Angle for this draft", angle))
    sections.append(Section("open_questions", "Open questions", tuple(gap.question for gap in guide.gaps)))
    return render(PromptDocument(None, tuple(sections)), family)


def _working_angle(refine: Refinements) -> tuple[str, ...]:
    """What the chain's emphasis asks this brief to carry forward, so parallel chains differ from the start."""
    angle: list[str] = []
    if refine.compact:
        angle.append("Aim for the shortest prompt that still fully specifies the task.")
    if refine.example:
        angle.append("Collect the awkward cases and one worked example before drafting.")
    if refine.steps:
        angle.append("Plan the answer as explicit numbered steps with a strict output template.")
    if refine.context:
        angle.append("Spell out who the reader is, what they already know and what success looks like.")
    if refine.robust:
        angle.append("Decide what the model must do when information is missing or ambiguous.")
    angle += {
        "procedure": ["Turn the work into ordered steps; every requirement becomes a rule that holds at each step."],
        "examples": ["Leave two few-shot slots (input and expected output) for the user's real examples."],
        "rubric": ["Turn every requirement into a checklist item with a pass condition."],
    }.get(refine.layout, [])
    angle.extend(refine.requirements)
    return tuple(angle)


def _paragraph(sentences: list[str]) -> str:
    connected: list[str] = []
    for index, sentence in enumerate(sentences):
        if len(sentences) >= 3 and index == len(sentences) - 1:
            connected.append("Finally, " + _lower_first(sentence))
        elif index == 2:
            connected.append("Also, " + _lower_first(sentence))
        else:
            connected.append(sentence)
    return " ".join(connected)


def solutio(brief: IdeaBrief, family: TargetFamily, variant: int = 0, refinements: Refinements | None = None) -> str:
    guide = guidance_for(brief)
    refine = refinements or Refinements()
    task = [brief.task]
    audience = brief.audience or (f"{guide.default_audience}" if refine.context else None)
    if audience:
        task.append(f"It is for {audience}, so pitch the vocabulary and level of detail at them.")
    if (line := _input_line(brief)) is not None:
        task.append(f"You will be given {line}.")
    if (details := _details_sentence(brief)) is not None:
        task.append(details)
    else:
        task += list(brief.context) + list(brief.notes)
    requirements = requirements_for(brief, guide) + list(refine.requirements)
    if refine.steps:
        steps = [_lower_first(step).rstrip(".") for step in _steps(brief)]
        requirements.append("Work in this order: " + "; then ".join(steps) + ".")
    elif variant == 1 and not refine.compact:
        requirements.append(_think_first(brief))
    if refine.layout == "rubric":
        requirements.append("Treat each of these as a checklist item and verify every one before answering.")
    output = _format_contract(brief, guide)
    if refine.example and (shape := example_shape(brief)):
        output.append("Follow this shape: " + " / ".join(line for line in shape.splitlines() if line.strip()) + ".")
    sections = [
        Section("task", "Task", " ".join(task)),
        Section("constraints", "Requirements", _paragraph(dedupe(requirements))),
        Section("output_format", "Output", " ".join(output)),
    ]
    if brief.input_slot:
        sections.append(Section("input", "Input", _placeholder(brief) or ""))
    closing_parts = []
    if refine.robust:
        closing_parts.append(" ".join(_missing_information(brief)))
    assumptions = [gap.assumption for gap in guide.gaps if gap.assumption]
    if assumptions and not refine.compact:
        closing_parts.append(
            "Where the request is silent, assume the following and say so in one line. " + " ".join(assumptions)
        )
    closing = "\n\n".join(closing_parts) or None
    return render(PromptDocument(guide.role, tuple(sections), closing), family)


def _opening(brief: IdeaBrief, guide: Guidance, refine: Refinements) -> list[Section]:
    """Task, context and the stated details: every layout starts with them."""
    sections = [Section("task", "Task", brief.task)]
    context = _context_items(brief, guide)
    if refine.context and brief.audience is None:
        context.insert(0, f"Audience: {guide.default_audience} (assumed).")
    if context:
        sections.append(Section("context", "Context", tuple(context)))
    if brief.facts:
        sections.append(Section("details", "Details from the request (keep every one)", brief.facts))
    return sections


def _input_section(brief: IdeaBrief) -> list[Section]:
    return [Section("input", "Input", _placeholder(brief) or "")] if brief.input_slot else []


def _procedure(brief: IdeaBrief, family: TargetFamily, guide: Guidance, refine: Refinements) -> str:
    """Ordered steps, then the rules that hold at every step: a procedure to follow, medium detail."""
    sections = _opening(brief, guide, refine)
    sections.append(Section("procedure", "Procedure", _steps(brief), numbered=True))
    rules = tuple(dedupe(requirements_for(brief, guide) + list(refine.requirements)))
    sections.append(Section("constraints", "Rules for every step", rules))
    sections.append(Section("output_format", "Output format", tuple(_format_contract(brief, guide))))
    sections += _input_section(brief)
    return render(PromptDocument(guide.role, tuple(sections), _CLOSING), family)


def _few_shot_slots(brief: IdeaBrief) -> str:
    given, wanted = ("Input", "Output") if brief.input_slot else ("Request", "Answer")
    pairs = [
        f"Example {n}\n{given}: {{{{example_{n}_{given.lower()}}}}}\n{wanted}: {{{{example_{n}_{wanted.lower()}}}}}"
        for n in (1, 2)
    ]
    return "\n\n".join(pairs)


def _examples(brief: IdeaBrief, family: TargetFamily, guide: Guidance, refine: Refinements) -> str:
    """Requirements in brief, then few-shot slots the user fills: the examples set the level of detail."""
    sections = _opening(brief, guide, refine)
    requirements = tuple(dedupe(requirements_for(brief, guide) + list(refine.requirements)))
    sections.append(Section("constraints", "Requirements", requirements))
    sections.append(
        Section(
            "examples", "Examples (replace each placeholder with a real pair)", _few_shot_slots(brief), verbatim=True
        )
    )
    guide_line = "Match the examples' format, length and level of detail; they show what a good answer looks like."
    sections.append(Section("output_format", "Output format", (guide_line, *_format_contract(brief, guide))))
    if (shape := example_shape(brief)) is not None:
        sections.append(Section("example", "Answer shape", shape, verbatim=True))
    sections += _input_section(brief)
    return render(PromptDocument(guide.role, tuple(sections), None), family)


def _rubric(brief: IdeaBrief, family: TargetFamily, guide: Guidance, refine: Refinements) -> str:
    """Every requirement as a checklist item, a pass condition per criterion, defaults: the most detail."""
    sections = _opening(brief, guide, refine)
    requirements = dedupe(requirements_for(brief, guide) + list(refine.requirements))
    sections.append(
        Section("checklist", "Checklist (every item must hold)", tuple(f"[ ] {item}" for item in requirements))
    )
    reader = brief.audience or guide.default_audience
    criteria = [
        "Completeness: pass only if every detail from the request appears in the answer.",
        "Constraints: pass only if every checklist item holds.",
        "Format: pass only if the answer follows the output format below exactly.",
        f"Fit: pass only if it is pitched at {reader}.",
        *(f"Quality: pass only if {_lower_first(check)}" for check in guide.checks),
    ]
    sections.append(Section("rubric", "Rubric", tuple(criteria), numbered=True))
    sections.append(Section("output_format", "Output format", tuple(_format_contract(brief, guide)), numbered=True))
    assumptions = tuple(gap.assumption for gap in guide.gaps if gap.assumption)
    if assumptions:
        sections.append(Section("assumptions", "Defaults", assumptions))
    verify = "Before answering, go through the checklist and the rubric item by item; fix every failing item first."
    sections.append(Section("verification", "Verification", verify))
    sections += _input_section(brief)
    return render(PromptDocument(guide.role, tuple(sections), _CLOSING), family)


_LAYOUTS = {"procedure": _procedure, "examples": _examples, "rubric": _rubric}


def coagulatio(brief: IdeaBrief, family: TargetFamily, variant: int = 0, refinements: Refinements | None = None) -> str:
    guide = guidance_for(brief)
    refine = refinements or Refinements()
    if refine.layout in _LAYOUTS:
        return _LAYOUTS[refine.layout](brief, family, guide, refine)
    sections = _opening(brief, guide, refine)
    requirements = requirements_for(brief, guide) + list(refine.requirements)
    if variant == 1 and not refine.compact:
        requirements.append(_think_first(brief))
    sections.append(Section("constraints", "Requirements", tuple(dedupe(requirements)), numbered=True))
    if refine.steps:
        sections.append(Section("steps", "Steps", _steps(brief), numbered=True))
    sections.append(Section("output_format", "Output format", tuple(_format_contract(brief, guide)), numbered=True))
    success = refine.success_criteria
    if refine.context and not success:
        success = (f"The answer addresses each of: {', '.join(brief.key_terms[:8])}.",)
    if success:
        sections.append(Section("success_criteria", "Success criteria", success))
    if refine.robust:
        sections.append(Section("missing_information", "When information is missing", _missing_information(brief)))
    assumptions = tuple(gap.assumption for gap in guide.gaps if gap.assumption)
    if assumptions and not refine.compact:
        sections.append(Section("assumptions", "Defaults", assumptions))
    shape = example_shape(brief) if (variant == 2 or refine.example or refine.steps) else None
    if shape is not None:
        sections.append(Section("example", "Example shape", shape, verbatim=True))
    if not refine.compact:
        sections.append(Section("quality_checks", "Before answering, check", guide.checks, numbered=True))
    if brief.input_slot:
        sections.append(Section("input", "Input", _placeholder(brief) or ""))
    return render(PromptDocument(guide.role, tuple(sections), None if refine.compact else _CLOSING), family)


_WRITERS = {Phase.PRIMA_MATERIA: prima_materia, Phase.SOLUTIO: solutio, Phase.COAGULATIO: coagulatio}


def write_phase(
    phase: Phase, brief: IdeaBrief, family: TargetFamily, variant: int = 0, refinements: Refinements | None = None
) -> str:
    return _WRITERS[phase](brief, family, variant, refinements)


def normalised(text: str) -> str:
    """Whitespace-insensitive form, to recognise a phase output this module wrote."""
    return re.sub(r"\s+", " ", text).strip()

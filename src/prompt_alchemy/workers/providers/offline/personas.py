"""Persona guidance: what a code, writing, analysis or generic prompt must pin down.

The persona changes *content* (code: language, interface, edge cases, tests; writing: tone,
audience, length; analysis: data, method, assumptions, evidence), and within a persona the
task's mode does too: writing tests, reviewing, debugging or refactoring code; creating or
transforming (translating, summarising, editing) text; explaining; playing a role. Each gap in
the brief comes with the question to ask (prima materia) and the default to assume instead
(later phases). ``contract`` replaces the output-format contract when the mode has its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from prompt_alchemy.schemas.common import Persona
from prompt_alchemy.workers.providers.offline.analysis import IdeaBrief
from prompt_alchemy.workers.providers.offline.vocabulary import CONFIG_LANGUAGES
from prompt_alchemy.workers.providers.offline.wording import indefinite

__all__ = ["Gap", "Guidance", "guidance_for"]

_GENERAL_PURPOSE = frozenset(
    {"Python", "TypeScript", "JavaScript", "Go", "Rust", "Java", "C#", "C++", "Ruby", "PHP", "Swift", "Kotlin"}
)
_TEST_FRAMEWORKS = {
    "Python": "pytest",
    "JavaScript": "Jest or Vitest",
    "TypeScript": "Jest or Vitest",
    "Java": "JUnit 5",
    "Kotlin": "JUnit 5",
    "Go": "the standard testing package",
    "Rust": "the built-in test harness (#[test])",
    "Ruby": "RSpec",
    "C#": "xUnit",
    "PHP": "PHPUnit",
    "Swift": "XCTest",
}
_WRITING_AUDIENCES = {
    "email": "the recipient, who is busy",
    "letter": "the recipient, who is busy",
    "short_copy": "someone skimming the page",
    "tweet": "someone scrolling past",
}
_REVIEW_FOCUS = (
    (r"\bsecurity\b|\bvulnerab|\bsecure\b", "injection, authentication and authorisation, secrets in code, unsafe "
     "deserialisation and missing input validation"),
    (r"\bperformance\b|\bslow\b|\bspeed\b|\bfast\b", "algorithmic complexity, needless work in hot paths, I/O and "
     "memory use"),
    (r"\breadab|\bstyle\b|\bclean\b", "naming, structure, duplication and comments"),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Gap:
    """Something the idea leaves open: ask it early, assume it (and say so) later."""

    question: str
    assumption: str  # empty when the output contract already settles it


@dataclass(frozen=True, slots=True)
class Guidance:
    role: str
    default_audience: str
    focus: tuple[str, ...]
    requirements: tuple[str, ...]
    gaps: tuple[Gap, ...]
    checks: tuple[str, ...]
    contract: tuple[str, ...] | None = None  # the mode's own output contract, if any


def _join(items: tuple[str, ...] | list[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _definite(noun: str | None, fallback: str) -> str:
    return re.sub(r"^(?:an?|some)\s+", "the ", noun or fallback, flags=re.IGNORECASE)


def _common_gaps(brief: IdeaBrief, default_audience: str) -> list[Gap]:
    gaps: list[Gap] = []
    if brief.audience is None and brief.mode != "role":
        gaps.append(
            Gap(
                "Who will use the result, and how much do they already know?",
                f"If the audience matters and is not given, write for {default_audience}.",
            )
        )
    if brief.primary_format is None and brief.mode not in {"role", "review", "debug"}:
        gaps.append(Gap("What exact shape should the answer take (prose, list, table, JSON...)?", ""))
    return gaps


# ---------------------------------------------------------------- code


def _code(brief: IdeaBrief) -> Guidance:
    language = brief.language
    edge = "; ".join(brief.edge_cases) or "empty, missing, malformed and unusually large input"
    builders: dict[str, Callable[[IdeaBrief, str | None, str], Guidance]] = {
        "test": _code_tests,
        "review": _code_review,
        "debug": _code_debug,
        "refactor": _code_refactor,
    }
    return builders.get(brief.mode, _code_create)(brief, language, edge)


def _language_gap(language: str | None) -> list[Gap]:
    if language:
        return []
    return [Gap("Which programming language and version?", "If no language is given, use Python 3.11+ and say so.")]


def _code_create(brief: IdeaBrief, language: str | None, edge: str) -> Guidance:
    if language == "SQL":
        if brief.designs_schema:
            return _schema_create(brief)
        return _sql_create(brief, edge)
    if language in CONFIG_LANGUAGES:
        return _config_create(brief, language)
    interface = _definite(brief.deliverable, "the code")
    focus = (
        f"Language: {language}" if language else "Language: not stated",
        f"Interface: {interface}: its name, typed parameters and return value",
        f"Input -> output: {_join(list(brief.inputs)) or 'not stated'} -> {brief.output or 'not stated'}",
        f"Edge cases: {edge}",
        "Errors: how invalid input is reported",
        "Tests: unit tests for typical input and each edge case",
    )
    no_libraries = re.search(
        r"\b(?:without|no|not? using)\b[^.;]{0,25}\b(?:librar|imports?|dependenc)", brief.idea, re.I
    )
    if no_libraries and language:
        idiom = f"Write idiomatic {language} with no imports or libraries beyond what the request allows."
    elif language in _GENERAL_PURPOSE:
        idiom = f"Write idiomatic {language}; prefer the standard library unless a dependency is clearly justified."
    elif language:
        idiom = f"Write idiomatic {language}."
    else:
        idiom = "Use the language the user or the code names; if none, pick a mainstream one and state it."
    typed = language in _GENERAL_PURPOSE and not (brief.form and not brief.form.creative)
    requirements = (
        idiom,
        *(
            (f"Define a clear interface for {interface}: a descriptive name, typed parameters and the return type.",)
            if typed
            else ()
        ),
        f"Handle these edge cases explicitly: {edge}.",
        "Reject invalid input with a specific, descriptive error instead of guessing.",
        *(("Add a short docstring; comment only where the logic is not obvious.",) if typed else ()),
        "Include unit tests that cover typical input and each edge case."
        if typed
        else "Show how to check it works: a few inputs and the expected result.",
    )
    checks = (
        "The code runs as written: imports included, no placeholders or pseudo-code.",
        "Every listed edge case is handled or explicitly rejected.",
        "The tests would pass against the code as written." if typed else "Every stated detail is respected.",
    )
    gaps = (
        *_language_gap(language),
        Gap(
            "What should happen on invalid input: raise an error, return a default, or skip it?",
            "On invalid input, raise a descriptive error.",
        ),
        Gap(
            "Are there performance, memory or input-size limits?",
            "Assume inputs fit in memory; prefer clarity over micro-optimisation.",
        ),
    )
    role = f"You are a senior {language or 'software'} engineer who writes correct, readable, well-tested code."
    return Guidance(role, "developers who will call and maintain this code", focus, requirements, gaps, checks)


_VALID_CONFIG = {"Dockerfile": "a valid Dockerfile", "Terraform": "valid Terraform (HCL)"}


def _config_create(brief: IdeaBrief, language: str) -> Guidance:
    """Configuration a tool reads (Compose, Kubernetes, a Dockerfile, Terraform): no interface or unit tests."""
    focus = (
        f"Format: {language}",
        "Versions: pinned",
        "Secrets: kept out of the file",
        "Validation: the tool's own check before applying",
    )
    requirements = (
        f"Write {_VALID_CONFIG.get(language, 'valid ' + language)} for the tool the request names, in its current "
        "file format.",
        "Pin image, package and provider versions; never rely on `latest`.",
        "Keep secrets out of the file: read them from environment variables or a secret store.",
        "Set health checks, restart behaviour and resource limits where the tool supports them.",
        "Comment each non-obvious setting in one line.",
        "Say in a comment at the top how to validate and apply it with the tool's own commands.",
    )
    gaps = (
        Gap("Which versions of the tool, images or providers?", "Use current stable versions and pin them."),
        Gap("Local development or production?", "Assume production-like defaults and say so in a comment."),
    )
    checks = (
        "The file is valid for the tool as written.",
        "No secret value appears in the file.",
        "Every image, package or provider version is pinned.",
    )
    role = "You are a senior DevOps engineer who writes correct, minimal, secure configuration."
    return Guidance(
        role, "engineers who will deploy and maintain this configuration", focus, requirements, gaps, checks
    )


def _schema_create(brief: IdeaBrief) -> Guidance:
    """Designing tables, not querying them: keys, constraints and indexes instead of bound parameters."""
    focus = (
        "Entities: the things the system keeps, and how they relate",
        "Keys and constraints: primary, foreign, NOT NULL, UNIQUE, CHECK",
        "Indexes: for the lookups the system makes most",
        "Dialect: PostgreSQL unless told otherwise",
    )
    requirements = (
        "State the SQL dialect you assume (PostgreSQL unless told otherwise).",
        "Give every table with its columns and types, its primary key and its foreign keys.",
        "Add NOT NULL, UNIQUE and CHECK constraints wherever the data requires them.",
        "Model many-to-many relations with a join table; say what happens to rows that refer to a deleted one.",
        "Add indexes for the lookups the system will make most, and say which lookup each serves.",
        "Show two or three example queries the schema must serve.",
    )
    gaps = (
        Gap("Which entities and rules matter most?", "Infer them from the domain and list the ones you assumed."),
        Gap("Which database?", "Assume PostgreSQL and say so."),
    )
    checks = ("Every relation has a key and a foreign key where it refers to another.", "The example queries run.")
    role = "You are a senior data engineer who designs correct, normalised, well-indexed database schemas."
    return Guidance(role, "developers who will build on this schema", focus, requirements, gaps, checks)


def _sql_create(brief: IdeaBrief, edge: str) -> Guidance:
    focus = (
        "Dialect: not stated"
        if not re.search(r"postgres|mysql|sqlite|sql server|oracle|bigquery|snowflake", brief.idea, re.I)
        else "Dialect: as named",
        f"Result: {brief.output or brief.task.rstrip('.')}",
        f"Edge cases: {edge}",
    )
    requirements = (
        "State the SQL dialect you assume (PostgreSQL unless told otherwise).",
        "Use the table and column names given; where none are, state the schema you assume.",
        f"Handle these cases explicitly: {edge}.",
        "Pass values as bound parameters, never by string concatenation.",
        "Explain any non-obvious clause in one sentence.",
    )
    gaps = (
        Gap(
            "Which database (dialect), and which tables and columns?",
            "Assume PostgreSQL and state the schema you assume.",
        ),
        Gap("How should ties at a cut-off be handled?", "Break ties deterministically and say how."),
    )
    checks = ("The query runs on the stated dialect as written.", "NULLs, ties and empty results behave as stated.")
    role = "You are a senior data engineer who writes correct, efficient, readable SQL."
    return Guidance(role, "developers and analysts who will run this query", focus, requirements, gaps, checks)


def _code_tests(brief: IdeaBrief, language: str | None, edge: str) -> Guidance:
    framework = _TEST_FRAMEWORKS.get(language or "", "the project's test framework")
    if re.search(r"\breact\b", brief.idea, re.IGNORECASE):
        framework = "Jest or Vitest with React Testing Library"
    subject = re.sub(
        r"^(?:write|generate|create|add)\s+(?:unit\s+)?tests?\s+(?:for\s+)?", "", brief.task, flags=re.IGNORECASE
    )
    focus = (
        f"Under test: {subject.rstrip('.')}",
        f"Framework: {framework}",
        f"Cases: the happy path, each edge case ({edge}) and each error path",
    )
    requirements = (
        f"Use {framework}; one test per behaviour.",
        f"Cover the happy path, every edge case and every error path: {edge}.",
        "Keep tests independent and deterministic: no real network, clock or randomness; fake them.",
        "Test through the public interface, not private details.",
        "Name each test after the behaviour it checks.",
    )
    gaps = (
        *_language_gap(language),
        Gap(
            "Can you share the code under test, or its interface?",
            "Where the code is not shown, state the interface you assume.",
        ),
    )
    checks = (
        "Each test would fail if the behaviour it names broke.",
        "No test depends on another test's state, the real clock or the network.",
    )
    role = f"You are a senior {language or 'software'} engineer who writes thorough, deterministic tests."
    return Guidance(role, "developers who will maintain the tests", focus, requirements, gaps, checks)


def _review_focus(brief: IdeaBrief) -> str:
    for pattern, focus in _REVIEW_FOCUS:
        if re.search(pattern, brief.idea, re.IGNORECASE):
            return focus
    return "correctness, security, readability and test coverage"


def _code_review(brief: IdeaBrief, language: str | None, edge: str) -> Guidance:
    focus_areas = _review_focus(brief)
    requirements = (
        f"Focus on {focus_areas}.",
        "Order findings by severity: critical, high, medium, low.",
        "For each finding give the location, what is wrong, why it matters and a concrete fix.",
        "Quote only the lines a finding is about; do not rewrite the whole code.",
        "Say plainly when you find nothing serious rather than inventing issues.",
    )
    contract = (
        "One block per finding, most severe first: severity, location, problem, why it matters, fix.",
        "End with a one-line overall verdict.",
    )
    gaps = (
        Gap(
            "Which language, framework and runtime context?",
            "Infer the language and framework from the code and say so.",
        ),
        Gap(
            "What matters most: security, performance, readability?", f"Without other guidance, focus on {focus_areas}."
        ),
    )
    checks = ("Every finding points to a specific location.", "Every fix is concrete enough to apply as written.")
    role = f"You are a senior {language or 'software'} reviewer who finds real problems and proposes concrete fixes."
    return Guidance(role, "the author of the code", (f"Focus: {focus_areas}",), requirements, gaps, checks, contract)


def _code_debug(brief: IdeaBrief, language: str | None, edge: str) -> Guidance:
    requirements = (
        "Find the root cause before proposing a fix; state it in one or two sentences.",
        "Propose the smallest change that fixes it, as a diff or the corrected code.",
        "Add a test that fails before the fix and passes after it.",
        "If the information is not enough, say exactly what else you need (error message, logs, versions, input).",
    )
    contract = (
        "Root cause: one or two sentences.",
        "Fix: the change as a diff or corrected code in a fenced block.",
        "Verification: the test, and how to run it.",
    )
    gaps = (
        Gap(
            "What is the exact error message or wrong behaviour, and how is it reproduced?",
            "Reason from the code and symptoms given; say what you assume.",
        ),
        *_language_gap(language),
    )
    checks = ("The fix addresses the root cause, not only the symptom.", "The fix changes nothing else.")
    role = f"You are an experienced {language or 'software'} engineer who finds root causes before fixing symptoms."
    return Guidance(
        role,
        "the developer who hit the bug",
        ("Root cause first, then the smallest fix",),
        requirements,
        gaps,
        checks,
        contract,
    )


def _code_refactor(brief: IdeaBrief, language: str | None, edge: str) -> Guidance:
    requirements = (
        "Keep the behaviour identical; say explicitly if any change alters it.",
        "Keep the public interface unless told otherwise.",
        "Improve in small, explained steps: naming, structure, duplication, complexity.",
        "Keep or add tests that prove the behaviour is unchanged.",
    )
    contract = (
        "The refactored code in one fenced code block.",
        "Then the list of changes, one line each, with the reason.",
    )
    gaps = (
        Gap(
            "What is the goal: readability, performance or testability?",
            "Optimise for readability unless told otherwise.",
        ),
    )
    checks = ("Behaviour is unchanged for every input the original handled.",)
    role = f"You are a senior {language or 'software'} engineer who refactors safely, in small steps."
    return Guidance(
        role,
        "developers who maintain this code",
        ("Same behaviour, clearer code",),
        requirements,
        gaps,
        checks,
        contract,
    )


# ---------------------------------------------------------------- writing


def _creative(brief: IdeaBrief) -> Guidance:
    """A poem, story or other fixed creative form: its own rules, none of business writing's."""
    tone = _join(list(brief.tones))
    form = brief.form.name if brief.form else "piece"
    focus = (
        f"Form: {form}",
        f"Tone: {tone}" if tone else "Tone: suited to the subject",
        f"Audience: {brief.audience}" if brief.audience else "Audience: not stated",
    )
    requirements = [f"Write for {brief.audience}: choose words and images they will enjoy."] if brief.audience else []
    if tone:
        requirements.append(f"Keep {indefinite(tone)} tone throughout.")
    if re.search(r"\brhym(?:e|es|ing|ed)\b", brief.idea, re.IGNORECASE) and not re.search(
        r"\b(?:no|not|without|don'?t)\s+(?:\w+\s+)?rhym", brief.idea, re.IGNORECASE
    ):
        requirements.append("Rhyme throughout, with a regular rhyme scheme and no forced rhymes.")
    requirements += [
        "Use fresh, specific images; avoid clichés and filler words.",
        "Keep every named person, place, object and detail from the request.",
    ]
    gaps = (
        Gap("Any word, image or feeling that must appear?", "Build it around the subject and details given."),
        *(() if tone else (Gap("What mood: playful, tender, solemn...?", "Choose the mood the subject suggests."),)),
    )
    checks = (
        f"The text follows every rule of the {form}.",
        "Every detail from the request appears in the text.",
    )
    role = f"You are a skilled poet and storyteller who writes a {form} with craft and exactness."
    return Guidance(role, "the reader of this piece", focus, tuple(requirements), gaps, checks)


_COMPLAINT = re.compile(r"\bcomplain\w*\b|\bcompensation\b|\brefund\b|\bdispute\b|\bescalat\w*\b", re.IGNORECASE)
_MOURNING = re.compile(r"\beulog\w*\b|\bcondolences?\b|\bsympathy\b|\bobituar\w*\b|\bfuneral\b", re.IGNORECASE)
_THANKS = re.compile(r"\bthank(?:s|[- ]you)\b|\bgratitude\b", re.IGNORECASE)
_CLOSE_READER = re.compile(
    r"\b(?:friends?|mom|mum|dad|mother|father|sister|brother|wife|husband|partner|boyfriend|girlfriend|"
    r"grandma|grandpa|grandmother|grandfather|aunt|uncle|cousin|son|daughter|family|niece|nephew)\b",
    re.IGNORECASE,
)


def _writing(brief: IdeaBrief) -> Guidance:
    if brief.mode == "transform":
        return _writing_transform(brief)
    if brief.mode == "review":
        return _writing_review(brief)
    if brief.form is not None and brief.form.creative:
        return _creative(brief)
    tone = _join(list(brief.tones))
    primary = brief.primary_format.key if brief.primary_format else None
    default_audience = _WRITING_AUDIENCES.get(primary or "", "a general, non-specialist reader")
    if re.search(r"\bcover letter\b", brief.idea, re.IGNORECASE):
        default_audience = "a hiring manager screening many applications"
    elif re.search(r"\b(?:bio|biography|profile|about me|about section)\b", brief.idea, re.IGNORECASE):
        default_audience = "people who look at the profile: recruiters, peers and potential clients"
    audience = brief.audience or default_audience
    focus = (
        f"Tone: {tone}" if tone else "Tone: not stated",
        f"Audience: {audience}",
        f"Length: {brief.length}" if brief.length else "Length: not stated",
        "Structure: a strong opening, one idea per paragraph, a clear close or call to action",
    )
    requirements = [
        f"Write for {audience}: use words they know and examples they recognise.",
        (
            f"Use {indefinite(tone)} tone throughout."
            if tone
            else "Use a warm, personal tone: this is for someone close."
            if _CLOSE_READER.search(audience)
            else "Use a firm, polite tone: state the problem, the facts and the remedy you expect."
            if _COMPLAINT.search(brief.idea)
            else "Use a warm, grateful tone."
            if _THANKS.search(brief.idea)
            else "Use a warm, respectful tone."
            if _MOURNING.search(brief.idea)
            else "Use a clear, warm, professional tone unless told otherwise."
        ),
    ]
    if primary == "short_copy":
        requirements.append("Lead with the benefit the reader cares about; use concrete, vivid words.")
    else:
        requirements.append("Open with the main point; end with a clear takeaway or next step.")
    requirements.append("Prefer concrete details to generic claims; cut clichés and filler.")
    if brief.length is None and primary != "short_copy":
        requirements.append("Keep it as short as the message allows.")
    if primary == "email":
        requirements.append("Write a specific subject line that says what the email is about.")
    gaps = [
        *(
            []
            if tone
            else [
                Gap(
                    "What tone fits: formal, friendly, persuasive...?",
                    "If no tone is given, be clear, warm and professional.",
                )
            ]
        ),
        *(
            []
            if brief.length or primary == "short_copy"
            else [
                Gap("How long should it be?", "If no length is given, keep it brief: a few short paragraphs at most.")
            ]
        ),
        Gap(
            "What should the reader do, know or feel afterwards?",
            "Make the single most important takeaway unmistakable.",
        ),
    ]
    checks = (
        "Every sentence serves the reader's goal; nothing is padding.",
        "Tone and length match the brief.",
        "Any placeholder is clearly marked in [brackets].",
    )
    role = "You are an experienced writer and editor who adapts tone, structure and length to the reader."
    return Guidance(role, default_audience, focus, tuple(requirements), tuple(gaps), checks)


def _writing_review(brief: IdeaBrief) -> Guidance:
    """Feedback on a piece of writing the user gives ("rate this cover letter", "critique my essay")."""
    source = _join(list(brief.inputs)) or "the text provided"
    scored = re.search(r"\b(?:rate|grade|score)\b|\b\d+\s*(?:-|to|/|out of)\s*\d+\b", brief.idea, re.IGNORECASE)
    requirements = (
        *(("Give the score first, then one line per criterion that explains it.",) if scored else ()),
        "Judge it against its purpose and its reader, on explicit criteria (clarity, structure, evidence, tone).",
        "Name what works and should be kept, briefly.",
        "List the most important improvements first, each quoting the passage it is about and giving a "
        "concrete rewrite.",
        "Do not rewrite the whole text unless asked.",
    )
    gaps = (Gap("Who is the text for, and what should it achieve?", "Infer the purpose and reader from the text."),)
    checks = ("Every suggestion points at a specific passage and says how to change it.",)
    contract = (
        *(("Start with the score on its own line.",) if scored else ()),
        "Then what works, then the improvements as a numbered list, most important first.",
    )
    role = "You are an experienced editor who gives honest, specific, actionable feedback on writing."
    focus = (f"Source: {source}", "Operation: review")
    return Guidance(role, "the author of the text", focus, requirements, gaps, checks, contract)


# Transformations that change figures on purpose ("convert this recipe to metric and halve it").
_RESCALING = re.compile(
    r"\b(?:convert\w*|halve|halving|double|doubling|triple|scale|scaling|adjust)\b.{0,60}?"
    r"\b(?:units?|metric|imperial|quantit\w*|measurements?|servings?|portions?|currenc\w*|celsius|fahrenheit|"
    r"grams?|ounces?|cups?)\b",
    re.IGNORECASE,
)


def _writing_transform(brief: IdeaBrief) -> Guidance:
    verb = brief.verb or "rewrite"
    source = _join(list(brief.inputs)) or "the text provided"
    if verb == "translate":
        target = brief.translation_target or "the target language"
        requirements: tuple[str, ...] = (
            f"Translate into natural, idiomatic {target}, not word for word.",
            "Keep the meaning, tone and formatting of the original; add and remove nothing.",
            "Leave names, numbers, code and URLs unchanged unless told otherwise.",
            "Where a phrase has no direct equivalent, choose the closest natural wording and note it after the text.",
        )
        gaps: tuple[Gap, ...] = (
            Gap(
                "Which regional variant and register?",
                "If no variant is given, use the most widely used standard variant.",
            ),
        )
        into = f" into {brief.translation_target}" if brief.translation_target else ""
        role = f"You are a professional translator{into}."
    elif verb in {"summarize", "summarise", "condense", "shorten"}:
        requirements = (
            "Keep only the main points and the facts that support them; add no new information.",
            "Keep the original's meaning and emphasis; do not editorialise.",
            "Name who did what, and keep figures exact.",
        )
        gaps = (
            ()
            if brief.length
            else (
                Gap(
                    "How long should the summary be?",
                    "If no length is given, keep it to about a fifth of the original.",
                ),
            )
        )
        role = "You are an expert editor who summarises faithfully and concisely."
    elif _RESCALING.search(brief.idea):
        requirements = (
            "Change only what the request asks (units, amounts or servings); keep everything else as written.",
            "Convert every figure the change touches, none skipped; round to practical amounts.",
            "Keep the original's order, structure and wording around the figures.",
            "After the text, list any conversion you rounded or could not make exactly, one line each.",
        )
        gaps = (Gap("Which unit system or scale exactly?", "Use standard metric units and state them."),)
        role = "You are a meticulous editor who converts figures exactly and changes nothing else."
    else:
        requirements = (
            "Keep every fact and the author's meaning; change only wording, clarity and flow.",
            "Preserve the author's voice unless asked to change it.",
            "After the text, list the significant changes, one line each.",
        )
        gaps = (Gap("Light touch or a deeper rewrite?", "Make the smallest changes that achieve the goal."),)
        role = "You are a meticulous editor who improves text without changing what it says."
    contract = ("Return the transformed text first, complete and ready to use.", "Then any notes, as a short list.")
    checks = ("Nothing in the result contradicts or goes beyond the original.",)
    focus = (f"Source: {source}", f"Operation: {verb}")
    return Guidance(role, "the readers of the original", focus, requirements, gaps, checks, contract)


# ---------------------------------------------------------------- analysis


# Figures that are data ("4.1%", "12,000 visitors", "3.5 stars"), not a headcount or a count of items.
_DATA_FIGURES = re.compile(r"\d\s*%|\b\d{1,3}(?:,\d{3})+\b|\b\d+\.\d+\b")


def _analysis(brief: IdeaBrief) -> Guidance:
    if brief.mode == "explain" and brief.verb in {"summarize", "summarise", "condense", "shorten"}:
        return _known_summary(brief)  # "summarize the plot of Hamlet": from knowledge, no text given
    if not brief.inputs and not brief.input_slot and not _DATA_FIGURES.search(brief.idea):
        return _assessment(brief)  # "compare PostgreSQL and MongoDB for a startup": no data to stay within
    data = _join(list(brief.inputs)) or "not stated"
    focus = (
        f"Data: {data}",
        "Method: the approach, stated before the findings",
        "Assumptions: listed explicitly",
        "Evidence: figures or quotes from the data behind every claim",
        "Uncertainty: a confidence level per conclusion and the limitations",
    )
    requirements = (
        "Use only the data provided; say where it is insufficient instead of inventing figures.",
        "State your method before presenting findings.",
        "List your assumptions explicitly.",
        "Back every finding with specific evidence from the data (numbers, quotes or examples).",
        "Distinguish correlation from causation and give a confidence level for each conclusion.",
        "End with recommendations that follow from the findings.",
    )
    gaps = (
        *(
            ()
            if brief.inputs
            else (
                Gap(
                    "What data is available: source, time range, size?",
                    "Work only with data given in the conversation; ask for it if none is.",
                ),
            )
        ),
        Gap(
            "Which decision will this analysis inform?",
            "Assume the goal is a decision; lead with what matters most for it.",
        ),
        Gap(
            "Which metrics matter most?",
            "If metrics are not named, choose the few that best answer the question and say why.",
        ),
    )
    checks = (
        "Every number comes from the data or is labelled as an estimate.",
        "Assumptions and limitations are stated.",
        "Conclusions follow from the evidence shown.",
    )
    role = "You are a rigorous analyst who separates evidence from assumptions and states uncertainty plainly."
    return Guidance(
        role, "decision-makers who need the conclusions and the evidence behind them", focus, requirements, gaps, checks
    )


def _known_summary(brief: IdeaBrief) -> Guidance:
    """Summarising what is known (a plot, a debate, a period of history): no source text to stay within."""
    focus = (
        "Scope: the main points only, most important first",
        "Accuracy: well-established facts; contested points marked as such",
        f"Reader: {brief.audience or 'a capable non-specialist'}",
    )
    requirements = (
        "Cover only the main points, most important first; leave out detail that does not change the picture.",
        "Be accurate: where accounts or interpretations differ, say so briefly instead of picking one silently.",
        "Keep names, dates and figures exact; if unsure of one, leave it out rather than guess.",
        "Add no opinion of your own unless asked.",
    )
    gaps = (Gap("How much detail?", "If no length is given, keep it to a short paragraph or five bullets."),)
    checks = ("Every point is one a well-informed reader would agree belongs in a summary.",)
    role = "You are a knowledgeable writer who summarises accurately and concisely."
    return Guidance(role, "readers who want the essentials quickly", focus, requirements, gaps, checks)


def _assessment(brief: IdeaBrief) -> Guidance:
    """Weighing options or a question from knowledge: no data given, so none to cite or stay within."""
    focus = (
        "Criteria: those the request names first, then the few that matter most for the situation",
        f"Situation: {brief.audience or 'as the request describes it'}",
        "Evidence: well-established knowledge; anything uncertain or likely to have changed is marked",
        "Outcome: a recommendation for the stated situation",
    )
    requirements = (
        "State your method first: the criteria you judge on (those the request names, then the few that "
        "matter most for the stated situation) and why.",
        "Give the trade-offs of each option, not only its strengths.",
        "Rely on well-established knowledge; mark anything uncertain, version-dependent or likely to have "
        "changed, and do not invent figures.",
        "List your assumptions about the situation explicitly.",
        "End with a recommendation for the stated situation and what would change it.",
    )
    gaps = (
        Gap(
            "Which criteria matter most (cost, effort, risk, speed...)?",
            "If criteria are not named, choose the few that decide the question for this situation and say why.",
        ),
        Gap("Which decision will this inform?", "Assume the goal is a decision; lead with what matters most for it."),
    )
    checks = (
        "Every option is judged on the same criteria.",
        "Uncertain or time-sensitive claims are marked as such.",
        "The recommendation follows from the criteria and the stated situation.",
    )
    role = "You are a rigorous analyst who weighs options on explicit criteria and states uncertainty plainly."
    return Guidance(
        role, "decision-makers who need a clear, well-argued recommendation", focus, requirements, gaps, checks
    )


# ---------------------------------------------------------------- generic


def _role_play(brief: IdeaBrief) -> Guidance:
    role_text = brief.role or "an expert assistant"
    requirements = [
        "Stay in this role for the whole conversation.",
        "Ask one clarifying question when a request is ambiguous, instead of guessing.",
        "If asked to do something outside the role, say so briefly and steer back.",
    ]
    if re.search(r"\b(?:tutor|teacher|coach|mentor|socratic)\b", role_text, re.IGNORECASE):
        requirements[1:1] = [
            "Guide with questions rather than giving answers outright; reveal one only after the learner has tried.",
            "Check understanding with one short question before moving on.",
        ]
    if re.search(r"\binterviewer\b", role_text, re.IGNORECASE):
        requirements[1:1] = ["Ask one question at a time and wait for the answer before the next."]
    if brief.tones:
        requirements.insert(1, f"Keep {indefinite(_join(list(brief.tones)))} tone in every reply.")
    gaps = (
        Gap("How should a conversation start and end?", "Open with a short greeting that says what you can help with."),
    )
    checks = ("Every reply stays in role and moves the conversation toward the user's goal.",)
    return Guidance(
        f"You are {role_text}.",
        "the people who will talk to this assistant",
        (f"Role: {role_text}",),
        tuple(requirements),
        gaps,
        checks,
    )


def _generic(brief: IdeaBrief) -> Guidance:
    if brief.mode == "role":
        return _role_play(brief)
    if brief.mode == "explain":
        requirements: tuple[str, ...] = (
            "Start from what the reader already knows and build up one step at a time.",
            "Use one concrete example or analogy for each new idea.",
            "Define every technical term the first time it appears.",
            "End with a one-sentence summary.",
        )
        checks: tuple[str, ...] = ("A reader at the stated level could follow every step.",)
        audience = "a curious non-specialist"
    else:
        requirements = (
            "Be specific and concrete; prefer examples to abstractions.",
            "Cover every part of the task; leave out what it does not ask for.",
            "If something is ambiguous, state the assumption you make and continue.",
        )
        checks = ("The answer addresses every part of the task.", "Assumptions are stated, not hidden.")
        audience = "a capable non-specialist"
    focus = (
        f"Goal: {brief.task}",
        f"Audience: {brief.audience or 'not stated'}",
        "Success: what a complete, useful answer contains",
    )
    gaps = (
        Gap("What is the result for: who uses it, and how?", "Assume the reader will act on the answer directly."),
        Gap(
            "What does a great answer look like?",
            "Aim for complete but concise: depth where it helps, brevity elsewhere.",
        ),
    )
    return Guidance("You are a knowledgeable, precise assistant.", audience, focus, requirements, gaps, checks)


_BUILDERS = {Persona.CODE: _code, Persona.WRITING: _writing, Persona.ANALYSIS: _analysis, Persona.GENERIC: _generic}


def guidance_for(brief: IdeaBrief) -> Guidance:
    """Guidance for the brief's (possibly inferred) persona and mode, with the gaps common to all of them."""
    builder = _BUILDERS[brief.persona]
    if brief.mode == "role":
        builder = _role_play
    elif brief.mode == "transform" and brief.persona in {Persona.GENERIC, Persona.ANALYSIS}:
        builder = _writing_transform  # summarising or translating given text is editing work
    guidance = builder(brief)
    gaps = _common_gaps(brief, guidance.default_audience) + list(guidance.gaps)
    return Guidance(
        guidance.role,
        guidance.default_audience,
        guidance.focus,
        guidance.requirements,
        tuple(gaps[:5]),
        guidance.checks,
        guidance.contract,
    )

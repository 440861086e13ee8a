"""Reading a rough idea: task, audience, inputs, expected result, constraints, format, persona.

Plain, robust heuristics (verbs, "for <audience>", "must/should/don't/without/under N words",
format words, input nouns) that never fail: whatever they miss becomes an open question later.
``analyse`` reads an idea; ``prompt_reading`` reads an existing prompt.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from prompt_alchemy.schemas.common import Persona
from prompt_alchemy.workers.providers.offline.facts import (
    details,
    input_slot,
    is_threshold,
    stated_audience,
    typed_constraints,
)
from prompt_alchemy.workers.providers.offline.forms import FixedForm, fixed_form
from prompt_alchemy.workers.providers.offline.persona_choice import choose_persona
from prompt_alchemy.workers.providers.offline.requirements import (
    LENGTH,
    QUANTITY,
    imperative,
    is_constraint,
    length_requirement,
    quantity_requirement,
    to_requirement,
)
from prompt_alchemy.workers.providers.offline.vocabulary import (
    CODE_FORMAT,
    CODE_LANGUAGES,
    CONFIG_FILES,
    EDGE_CASES,
    FORMATS,
    INPUT_NOUNS,
    INPUT_VERBS,
    LIST_FORMAT,
    PEOPLE_NOUNS,
    TASK_VERBS,
    TONES,
    FormatSpec,
)
from prompt_alchemy.workers.providers.offline.wording import (
    NUMBER_WORDS,
    as_sentence,
    capitalise,
    clean_text,
    dedupe,
    key_terms,
    sentences,
)

__all__ = ["IdeaBrief", "analyse"]

_I = re.IGNORECASE
_NP_END = (
    r"(?=\s+(?:into|to|for|so|that|which|who|and|then|with|by|as|using|in|on|from|while|because|before|after|"
    r"must|should|without|under|at|per|across|where|when|if)\b|[,;:!?()]|\.(?!\w)|$)"
)
_NP = r"((?:[\w/#+.'-]+\s+){0,5}?[\w/#+.'-]+)"
_LEADING_MARKERS = (
    r"(?:must|should|shall|needs? to|has to|have to|don'?t|do not|never|always|avoid|without|no|not|only|keep|"
    r"make sure|ensure|be sure|under|below|less than|fewer than|at most|at least|no more than|max(?:imum)?|limit|"
    r"use|using|include|including|exclude|excluding|it (?:must|should|needs|has)|you (?:must|should)|be|"
    r"written in|in (?:a|an) \w+ (?:tone|style|voice)|in (?:under |less than |about |at most )?\d+|"
    r"(?:the )?(?:audience|output|format|input|tone|length)\b)"
)
_CLAUSE_SPLIT = re.compile(
    rf"(?:,|;|\s+-\s+|\s+(?:and|but|also|plus)\s+)\s*(?=(?:and\s+|but\s+|also\s+)?{_LEADING_MARKERS}\b)", _I
)
_AUDIENCE = (
    re.compile(
        r"\b(?:for|aimed at|targeted at|targeting|intended for|written for|geared (?:towards?|to)|suitable for|"
        r"audience(?: is|:)|readers are)\s+((?:an?\s+|the\s+|my\s+|our\s+|their\s+|your\s+)?(?:[\w'-]+\s+){0,3}?"
        rf"(?:{PEOPLE_NOUNS}))\b(?!\s+(?:position|role|job|opening|vacancy|post|interview|application|salary))",
        _I,
    ),
    re.compile(
        r"\b(?:explain|teach|describe|pitch|present|introduce|sell|e-?mail|letter|message|note|memo|speech|talk)\b"
        r".{0,80}?\bto\s+"
        rf"((?:an?\s+|the\s+|my\s+|our\s+)?(?:[\w'-]+\s+){{0,3}}?(?:{PEOPLE_NOUNS}))\b",
        _I,
    ),
)
_INPUT_PATTERNS = (
    re.compile(rf"\bextract\b.{{1,60}}?\bfrom\s+(?:an?\s+|the\s+|my\s+|our\s+|these\s+|this\s+)?{_NP}{_NP_END}", _I),
    re.compile(rf"\b(?:{INPUT_VERBS})\s+(?:me\s+|all\s+|any\s+)?{_NP}{_NP_END}", _I),
    re.compile(
        r"\b(?:given|based on|from|provided with|(?:using|in|across|within) (?=the |my |our |this |these ))\s*"
        rf"((?:an?\s+|the\s+|some\s+|my\s+|our\s+|their\s+|your\s+|this\s+|these\s+)?(?:[\w/#+.'-]+\s+){{0,3}}?"
        rf"(?:{INPUT_NOUNS}))\b",
        _I,
    ),
    re.compile(
        r"\b(?:i(?:'ll| will) (?:provide|paste|give you|share|send)|you(?:'ll| will) (?:get|receive|be given)|"
        rf"the input (?:is|will be)|input:)\s+{_NP}{_NP_END}",
        _I,
    ),
)
_OUTPUT = re.compile(
    rf"\b(?:returns?|returning|outputs?|outputting|produces?|producing|yields?|into|gives? back|responds? with)\s+"
    rf"(?!account\b){_NP}{_NP_END}",
    _I,
)
_PREFIXES = (
    r"^(?:please|pls|kindly|hey|hi|ok|okay|so|now)\b[,\s]*",
    r"^(?:can|could|would|will) you(?: please)?\s+",
    r"^(?:i|we)(?:'d| would)? (?:want|need|like|wanna)(?: you)? to\s+",
    r"^(?:help|assist) (?:me|us)(?: to)?\s+",
    r"^(?:my|our|the) (?:goal|task|job|aim|objective) is to\s+",
    r"^(?:i|we) (?:want|need|would like|'d like)\s+",
    r"^(?:need|want|looking for)\s+(?=an?\s|some\s|the\s)",
    r"^(?:i'm|i am|we're|we are) (?:looking for|trying to)\s+",
    r"^(?:(?:create|write|generate|make|build|design|craft|give me|draft)\s+)?(?:me\s+)?(?:an?\s+)?"
    r"(?:good\s+|great\s+)?"
    r"(?:system\s+)?prompt\s+(?:that|which|to|for|where|so that)\s+(?:will\s+)?",
)
_STRONG_TONES = (
    "formal|informal|casual|friendly|warm|professional|persuasive|humorous|funny|witty|playful|serious|"
    "empathetic|enthusiastic|neutral|academic|conversational|confident|inspiring|motivational|authoritative|"
    "respectful|polite|diplomatic|blunt|upbeat|calm|engaging|heartfelt|sincere|light-?hearted|whimsical|"
    "sarcastic|cheerful|heartwarming|reassuring|nostalgic|gentle|grateful|thankful|appreciative|apologetic|"
    "remorseful|sentimental|touching|skeptical|sceptical|balanced|objective|humble|gracious|inspirational"
)
_TONE_STRONG = re.compile(rf"(?<![\w-])({_STRONG_TONES})(?![\w-])", _I)  # "eco-friendly" is no tone
# "personal and funny": a tone word paired with a strong tone is a tone too
_TONE_PAIRED = re.compile(
    rf"(?<![\w-])({TONES})\s+(?:and|but|yet)\s+(?:{_STRONG_TONES})(?![\w-])|"
    rf"(?<![\w-])(?:{_STRONG_TONES})\s+(?:and|but|yet)\s+({TONES})(?![\w-])",
    _I,
)
_TONE_CLAUSE = re.compile(rf"(?:^|,)\s*({TONES})\s*(?=,|$|\.)", _I)
_TONE_CONTEXT = re.compile(
    rf"\b(?:keep it|be|sound|make it|tone|in an?)\s+({TONES})\b|\b({TONES})\s+(?:tone|style|voice)\b", _I
)
_GENERIC_VERBS = frozenset(
    ["write", "create", "make", "generate", "build", "produce", "give", "draft", "compose", "help"]
)
_MAKING_VERBS = frozenset(
    [
        "write",
        "create",
        "build",
        "generate",
        "make",
        "draft",
        "compose",
        "produce",
        "design",
        "develop",
        "implement",
        "give",
        "plan",
        "outline",
        "prepare",
        "code",
    ]
)
_TRANSFORMING_VERBS = frozenset(["turn", "convert", "transform"])
_WRITE_FORMATS = frozenset(
    [
        "code",
        "email",
        "letter",
        "article",
        "poem",
        "story",
        "summary",
        "report",
        "tweet",
        "faq",
        "outline",
        "sql",
        "regex",
        "tests",
    ]
)


_SCHEMA_WORD = re.compile(r"\bschemas?\b", _I)
_QUERY_WORD = re.compile(r"\bquer(?:y|ies)\b|\bselect\b", _I)


@dataclass(frozen=True)
class IdeaBrief:
    """Everything the phases need to know about the idea; empty fields are gaps to ask about."""

    idea: str
    task: str
    verb: str | None = None
    deliverable: str | None = None
    audience: str | None = None
    inputs: tuple[str, ...] = ()
    output: str | None = None
    constraints: tuple[str, ...] = ()
    length: str | None = None
    length_rule: str | None = None
    tones: tuple[str, ...] = ()
    formats: tuple[FormatSpec, ...] = ()
    language: str | None = None
    context: tuple[str, ...] = ()
    key_terms: tuple[str, ...] = ()
    edge_cases: tuple[str, ...] = ()
    persona: Persona = Persona.GENERIC
    notes: tuple[str, ...] = field(default=())
    mode: str = "create"  # create, test, review, debug, refactor, transform, explain, role
    role: str | None = None  # "a Socratic tutor for ..." when the idea asks the model to play a part
    translation_target: str | None = None
    form: FixedForm | None = None  # haiku, limerick, sonnet, tweet, an SQL dialect...
    input_slot: tuple[str, str] | None = None  # (what the prompt receives, its {{placeholder}} name)
    facts: tuple[str, ...] = ()  # every detail the idea states, clause by clause
    typed: tuple[tuple[str, str], ...] = ()  # (kind, requirement) of recognised constraints
    persona_reason: str = ""

    @property
    def primary_format(self) -> FormatSpec | None:
        return self.formats[0] if self.formats else None

    @property
    def designs_schema(self) -> bool:
        """ "design a database schema for ...": tables to define, not a query to write."""
        return (
            self.language == "SQL"
            and _SCHEMA_WORD.search(self.idea) is not None
            and _QUERY_WORD.search(self.idea) is None
        )

    def with_requirements(self, extra: Iterable[str]) -> IdeaBrief:
        return replace(self, constraints=tuple(dedupe([*self.constraints, *extra])))


# ---------------------------------------------------------------- detectors


def _audience(text: str) -> str | None:
    for pattern in _AUDIENCE:
        match = pattern.search(text)
        if match:
            audience = re.sub(r"^(?:my|our|their|your)\s+", "the ", match.group(1).strip(), flags=_I)
            return audience
    return None


def _provided(phrase: str) -> str:
    phrase = phrase.strip().rstrip(".")
    phrase = re.sub(r"^(?:this|these|the following|my|our|the attached|attached)\s+", "the provided ", phrase, flags=_I)
    return phrase


def _input_phrases(text: str) -> list[str]:
    """Input phrases as written; those naming a known kind of material come first."""
    found: list[str] = []
    for pattern in _INPUT_PATTERNS:
        for match in pattern.finditer(text):
            phrase = match.group(1).strip()
            if phrase.lower() in {"it", "this", "them", "that", "these", "me", "us", "the", "a", "an"}:
                phrase = "the text provided"
            if len(key_terms(phrase)) == 0 and phrase != "the text provided":
                continue
            found.append(phrase)
    material = re.compile(rf"(?:{INPUT_NOUNS})$", _I)
    phrases = dedupe(found)
    materials = [phrase for phrase in phrases if material.search(phrase)]
    return (materials or phrases)[:4]


def _output(text: str) -> str | None:
    match = _OUTPUT.search(text)
    return match.group(1).strip() if match else None


def _tones(text: str) -> tuple[str, ...]:
    found = [(match.start(), match.group(1).lower()) for match in _TONE_STRONG.finditer(text)]
    for match in _TONE_CONTEXT.finditer(text):
        found.append((match.start(), (match.group(1) or match.group(2)).lower()))
    for match in _TONE_CLAUSE.finditer(text):  # "..., kind" or "..., humble, 2 minutes": a tone on its own
        found.append((match.start(1), match.group(1).lower()))
    for match in _TONE_PAIRED.finditer(text):  # "personal and funny": a word paired with a tone is one
        group = 1 if match.group(1) else 2
        found.append((match.start(group), match.group(group).lower()))
    return tuple(dict.fromkeys(tone for _, tone in sorted(found)))


_ATTACK = re.compile(r"\b(?:sql|nosql|command|code|ldap|xpath|html|css|template)\s+injection\b", _I)
_NOT_HTTP = re.compile(r"\b(?:pull|merge|feature|change)\s+requests?\b", _I)


_CONFIG_OPENING_WORDS = 6


def _without_attacks(text: str) -> str:
    """Compounds whose last word is not the topic it looks like: "SQL injection" is an attack, not the
    SQL language or a database to query; a "pull request" is a code change, not an HTTP request."""
    return _NOT_HTTP.sub("change", _ATTACK.sub("injection", text))


_LANGUAGE_PATTERNS = tuple((re.compile(pattern, _I), name) for pattern, name in CODE_LANGUAGES)
_CONFIG_PATTERNS = tuple((re.compile(pattern, _I), name) for pattern, name in CONFIG_FILES)
_EDGE_PATTERNS = tuple((re.compile(pattern, _I), cases) for pattern, cases in EDGE_CASES)


def _language(text: str) -> str | None:
    """The programming language named first, or the format of configuration named as the deliverable
    before any language ("a docker compose file for a django app" is YAML; "a python script that
    deploys to kubernetes" is Python)."""
    text = _without_attacks(text)
    language: str | None = None  # the first of CODE_LANGUAGES that the text names
    first_language = len(text)  # where the text names any language first
    for pattern, name in _LANGUAGE_PATTERNS:
        if match := pattern.search(text):
            language = language or name
            first_language = min(first_language, match.start())
    opening = " ".join(text.split()[:_CONFIG_OPENING_WORDS])
    for pattern, name in _CONFIG_PATTERNS:
        match = pattern.search(opening)
        if match and match.start() < first_language:
            return name
    return language


_SUMMARISING = frozenset({"summarize", "summarise", "condense", "shorten"})
_GIVEN = re.compile(r"(?:this|these|those|the attached|attached|the following|my|our|your|their|the provided)\b", _I)
_MATERIAL_END = re.compile(rf"\b(?:{INPUT_NOUNS})$", _I)


def _slot_inputs(slot: tuple[str, str] | None, phrases: list[str]) -> tuple[str, ...]:
    """The input slot, else the input phrases that name material (not "a list", not "summarize this")."""
    if slot:
        return (slot[0],)
    kept = [
        phrase
        for phrase in phrases
        if len(key_terms(phrase)) >= 2
        and not any(word.lower() in TASK_VERBS for word in phrase.split())
        # "summarize the main arguments for UBI", "compare iPhone 16 and Pixel 9": nothing is given
        and (_GIVEN.match(phrase) or _MATERIAL_END.search(phrase))
    ]
    return tuple(dedupe(_provided(phrase) for phrase in kept))


_INTO_RESULT = re.compile(
    r"\b(?:turn|turns|convert|converts|transform|transforms|make|summari[sz]e|condense|distil|distill|organi[sz]e|"
    r"sort|group)\b.{0,80}?\binto\b(.*)",
    _I | re.S,
)
_CODE_ANSWERS = frozenset({"code", "sql", "regex", "tests"})


def _formats(text: str, persona: Persona, inputs: list[str]) -> tuple[FormatSpec, ...]:
    scan = _without_attacks(text)  # a review for SQL injection asks for no SQL
    result = _INTO_RESULT.search(scan)
    if result is not None:
        scan = result.group(1)  # "turn these bullet points into a paragraph": the format is what comes after "into"
    for phrase in inputs:  # "summarise a CSV file" asks for a summary, not for CSV
        scan = re.sub(re.escape(phrase), " ", scan, flags=_I)
    specs: list[FormatSpec] = []
    claimed: list[tuple[int, int]] = []  # words a more specific format already read
    for pattern, spec in FORMATS:
        if spec.key in {"code", "tests"} and persona is not Persona.CODE:
            continue
        spans = [
            match.span()
            for match in pattern.finditer(scan)
            if not any(start <= match.start() and match.end() <= end for start, end in claimed)
        ]
        if spans and spec not in specs:  # "a LinkedIn post" is a social post, not also an article
            specs.append(spec)
            claimed += spans
    if persona is Persona.CODE and any(spec.key in _CODE_ANSWERS for spec in specs):
        # The answer is code; a table, JSON or CSV it mentions is what the code shows or returns.
        specs = [spec for spec in specs if spec.key in _CODE_ANSWERS]
    if not specs and persona is Persona.CODE:
        specs.append(CODE_FORMAT)
    if not specs and QUANTITY.search(_digits_for_number_words(scan)):
        specs.append(LIST_FORMAT)
    return tuple(specs)


_HANDLES = re.compile(r"\b(?:handles?|handling|deal with|copes? with|supports?)\s+([^,.;()]{3,60})", _I)


def _stated_edge_cases(text: str, constraints: list[str]) -> tuple[str, ...]:
    """The cases the idea says to handle ("handles filenames with spaces"), unless a constraint says it already."""
    said = " ".join(constraints).lower()
    return tuple(
        match.group(1).strip() for match in _HANDLES.finditer(text) if match.group(1).strip().lower() not in said
    )


# "retry 3 times", "at times", "every time": a count or a manner, not a time of day to handle.
_COUNTED_TIMES = re.compile(
    r"\b(?:\d+|once|twice|one|two|three|four|five|six|seven|eight|nine|ten|many|few|several|multiple|more|"
    r"less|fewer|some|at|every|each|any|first|last|next|same|real|on|in|long|this|that|other|all)\s+times?\b",
    _I,
)
# Requests or uploads the code receives, counts or limits are traffic, not calls it makes (no HTTP
# client cases).
_RECEIVED_REQUESTS = re.compile(
    r"(\b(?:incoming|inbound|received|receives?|limits?|limiting|throttles?|throttling|counts?|counting|logs?|"
    r"logging|serves?|serving|handles?|handling|accepts?|accepting)\s+(?:\w+\s+){0,2}?)(?:requests?|uploads?)\b",
    _I,
)


# "design a REST API": the endpoints it serves, not an API it calls
_API_DESIGN = re.compile(
    r"\b((?:design|designs|designing|build|builds|building|create|creates|implement|implements|write|expose|"
    r"exposes)\s+(?:an?\s+|the\s+|our\s+)?(?:rest(?:ful)?|graphql|http|json|public|internal)?\s*)apis?\b",
    _I,
)
# A phone or card number is an identifier to validate, not a quantity to compute with.
_IDENTIFYING_NUMBERS = re.compile(
    r"\b(?:phone|telephone|mobile|cell|card|account|order|serial|tracking|invoice|reference|passport|"
    r"social security|vat|tax|id|routing|sort code) numbers?\b",
    _I,
)


# "at least one number, one symbol": a kind of character a rule asks for, not a quantity
_CHARACTER_CLASSES = re.compile(
    r"\b(?:one|a|an|1|single|no)\s+(?:numbers?|digits?|symbols?|letters?|uppercase|lowercase|capitals?|"
    r"special characters?)\b",
    _I,
)


def _edge_cases(text: str) -> tuple[str, ...]:
    text = _RECEIVED_REQUESTS.sub(r"\1traffic", _COUNTED_TIMES.sub("count", _without_attacks(text)))
    text = _IDENTIFYING_NUMBERS.sub("identifiers", text)
    text = _API_DESIGN.sub(r"\1 endpoints", text)
    text = _CHARACTER_CLASSES.sub("character class", text)
    return tuple(cases for pattern, cases in _EDGE_PATTERNS if pattern.search(text))[:4]


# ---------------------------------------------------------------- task

_ROLE_PLAY = re.compile(
    r"^(?:(?:makes?|has|have|lets?|gets?) (?:the |an? )?"
    r"(?:model|ai|assistant|llm|chatbot|bot|chatgpt|claude|gemini|grok|it) "
    r"(?:to )?)?(?:act|behave|work|respond|roleplay|role-play|serve) (?:as|like) (?P<role>.+)$"
    r"|^(?:pretend|pose) to be (?P<pretend>.+)$|^you are (?P<you>an? .+)$|^be (?P<be>an? .+)$",
    _I,
)
_MODES: tuple[tuple[str, frozenset[str]], ...] = (
    ("test", frozenset({"test"})),
    ("review", frozenset({"review", "audit", "critique", "check", "verify", "rate", "grade", "score"})),
    ("debug", frozenset({"debug", "fix", "troubleshoot", "diagnose"})),
    ("refactor", frozenset({"refactor", "optimize", "optimise", "improve", "clean", "simplify"})),
    (
        "transform",
        frozenset(
            {
                "translate",
                "rewrite",
                "paraphrase",
                "edit",
                "proofread",
                "polish",
                "summarize",
                "summarise",
                "convert",
                "format",
                "shorten",
                "condense",
            }
        ),
    ),
    ("explain", frozenset({"explain", "describe", "teach", "tutor"})),
)
_TIME_UNIT = re.compile(r"minutes?|seconds?", _I)
_SPOKEN = re.compile(
    r"\b(?:speech|talk|toast|presentation|pitch|scripts?|video|podcast|vows?|eulogy|ad|advert|commercial|"
    r"announcement|sermon|lecture|voicemail|monologue|radio|read aloud|keynote|story ?telling)\b",
    _I,
)
_GIVEN_BEFORE = re.compile(r"\b(?:this|these|the attached|attached|my|our|your)\s+$", _I)
_BUDGET = re.compile(r"\bon an? (?:tight |small |limited |low |shoestring )?budget\b", _I)
_MONEY = re.compile(
    r"\b(?:under|within|below|less than|max(?:imum)?(?: of)?|up to|no more than)\s+"
    r"([$€£]\s?\d(?:[\d,.]*\d)?\s?[kKmM]?\b|\d(?:[\d,.]*\d)?\s?(?:dollars|euros|pounds|usd|eur|gbp)\b)",
    _I,
)
_TRANSLATION_TARGET = re.compile(r"\b(?:into|to)\s+([A-Z][a-z]+(?: [A-Z][a-z]+)?)\b")


# "a system prompt for a customer support chatbot": the prompt the idea asks for *is* that assistant's role
_SYSTEM_PROMPT_FOR = re.compile(
    r"^(?:(?:please\s+)?(?:write|create|draft|generate|make|build|design|give me|i need)\s+)?(?:me\s+)?"
    r"(?:an?\s+|the\s+)?system prompt (?:for|of)\s+(?P<role>(?:an?|the|our|my)\s+.+)$",
    _I,
)


def _role_play(clause: str) -> str | None:
    clause = clause.strip().rstrip(".!")
    system = _SYSTEM_PROMPT_FOR.match(clause)
    if system is not None:
        role = re.sub(rf"(?:,\s*(?:{TONES})\b)+$", "", system.group("role").strip(), flags=_I)  # the tone is kept apart
        return re.sub(r"^(?:our|my)\s+", "the ", role, flags=_I)
    match = _ROLE_PLAY.match(_strip_prefixes(clause))
    if match is None:
        return None
    role = next(group for group in match.groups() if group)
    return role.strip()


# "find the bug in this function", "what's wrong with my query": debugging, whatever the first verb
_DEBUG_ASK = re.compile(
    r"\b(?:find|spot|locate|track down) (?:the |a |any )?bugs?\b|\bwhat'?s wrong with\b|"
    r"\bwhy (?:does|is|do|are) (?:my|this|these|the)\b[^?]{0,60}\b(?:fail|failing|crash|crashing|break|"
    r"breaking|hang|hanging|wrong)\b",
    _I,
)


# "give me feedback on my essay", "any notes on this draft?": a review, whatever the first verb
_REVIEW_ASK = re.compile(
    r"\b(?:give|giving|provide|offer|want|need|get)\s+(?:me\s+)?(?:some\s+)?(?:honest\s+|detailed\s+|constructive\s+|"
    r"brutal\s+|quick\s+)?(?:feedback|notes|a critique|comments)\s+on\b",
    _I,
)


def _mode(verb: str | None, formats: tuple[FormatSpec, ...], role: str | None, idea: str = "") -> str:
    if role is not None:
        return "role"
    if _DEBUG_ASK.search(idea):
        return "debug"
    if _REVIEW_ASK.search(idea):
        return "review"
    if formats and formats[0].key == "tests":
        return "test"
    for mode, verbs in _MODES:
        if verb in verbs:
            return mode
    return "create"


_NUMBER_WORD = re.compile(rf"\b({'|'.join(NUMBER_WORDS)})\b", _I)


def _digits_for_number_words(text: str) -> str:
    """ "one page", "five tips" -> "1 page", "5 tips", for the length and quantity patterns only."""
    return _NUMBER_WORD.sub(lambda match: NUMBER_WORDS[match.group(1).lower()], text)


def _money_constraints(text: str) -> list[str]:
    found = [
        f"Stay within a budget of {match.group(1).strip()}."
        for match in _MONEY.finditer(text)
        if not is_threshold(text, match.start(1))  # "when the price drops below $50" is no budget
    ]
    if _BUDGET.search(text):
        found.append("Keep costs low, and give prices or cost ranges where you can.")
    return found


def _strip_prefixes(text: str) -> str:
    changed = True
    while changed:
        changed = False
        for pattern in _PREFIXES:
            stripped = re.sub(pattern, "", text, count=1, flags=_I)
            if stripped != text and stripped.strip():
                text, changed = stripped.strip(), True
    return re.sub(r"^give me\s+", "give ", text, flags=_I)


_DETERMINED = re.compile(
    r"^(?:an?|the|my|our|your|their|his|her|its|this|that|these|those|some|any|each|every|one|two|three|\d)\b", _I
)


def _with_article(noun_phrase: str) -> str:
    """ "haiku about rust" -> "a haiku about rust"; plurals, names and determined phrases stay as they are."""
    first = noun_phrase.split(" ", 1)[0]
    if _DETERMINED.match(noun_phrase) or first.endswith("s") or first[:1].isupper() or not first.isalpha():
        return noun_phrase
    return ("an " if first[:1].lower() in "aeiou" else "a ") + noun_phrase


def _task(clause: str, formats: tuple[FormatSpec, ...], *, code: bool = True) -> tuple[str, str | None, str | None]:
    """(task sentence, verb, deliverable) from the first clause of the idea."""
    text = _strip_prefixes(clause.strip().rstrip(".!"))
    words = text.split()
    if not words:
        return "Complete the task described.", None, None
    first = re.sub(r"'s$", "", words[0].lower().strip(","))  # "what's wrong with..." asks a question too
    if first in {"what", "why", "how", "when", "where", "which", "who", "is", "are", "can", "should", "does", "do"}:
        if first == "how" and len(words) > 1 and words[1].lower() == "to":
            return as_sentence("Explain " + text), "explain", None
        return f"Answer this question: {text.rstrip('?')}?", "answer", None
    verb = imperative(first)
    second = words[1].lower() if len(words) > 1 else ""
    if second == "of":  # "quiz of 8 questions", "list of ideas": a noun phrase, not an imperative
        verb = ""
    if verb in TASK_VERBS or verb == "give":
        text = capitalise(verb) + text[len(words[0]) :]
    else:
        verb = "write" if formats and formats[0].key in _WRITE_FORMATS else "create"
        text = f"{capitalise(verb)} {_with_article(text)}"
    for _, name in CODE_LANGUAGES if code else ():  # "python" -> "Python", in code only
        if re.fullmatch(r"[A-Za-z]+", name):
            text = re.sub(rf"\b{name}\b", name, text, flags=_I)
    deliverable = re.match(rf"^\S+\s+{_NP}{_NP_END}", text, _I) if verb in _MAKING_VERBS else None
    noun = deliverable.group(1) if deliverable else None
    if verb in _TRANSFORMING_VERBS:  # "turn this spreadsheet into a table of ...": the result is after "into"
        result = re.search(rf"\binto\s+((?:[\w/#+.'-]+\s+){{0,9}}?[\w/#+.'-]+){_NP_END}", text, _I)
        noun = result.group(1) if result else None
    return as_sentence(text), verb, noun


# ---------------------------------------------------------------- public


def _classify(clause: str, brief: dict[str, list[str]]) -> None:
    lower = clause.lower()
    if re.match(r"^(?:the )?(?:target )?audience\b|^(?:it'?s|this is|it is) (?:for|aimed at)\b|^readers\b", lower):
        brief["audience_lines"].append(clause)
    elif re.match(
        r"^(?:i(?:'ll| will) (?:provide|paste|give|share|send)|the input\b|input:|you(?:'ll| will) (?:get|receive))",
        lower,
    ):
        brief["input_lines"].append(clause)
    elif re.match(r"^(?:output|format|return|respond|reply|answer)\b", lower) and len(lower.split()) <= 6:
        brief["format_lines"].append(clause)
    elif is_constraint(clause):
        brief["constraints"].append(to_requirement(clause))
    else:
        brief["context"].append(as_sentence(clause))


def analyse(
    idea: str, persona: Persona = Persona.GENERIC, *, scan_text: str | None = None, decided: bool = False
) -> IdeaBrief:
    """Read ``idea``; detectors also look at ``scan_text`` (e.g. a whole prompt) when given.

    ``persona`` GENERIC means "choose from the idea" unless ``decided`` says the engine already chose it.
    A pure reading, remembered for the last ideas: one generation reads the same idea for the
    analysis and for each of its candidates, and the brief is immutable.
    """
    return _analysed(idea, persona, scan_text, decided)


@functools.lru_cache(maxsize=256)
def _analysed(idea: str, persona: Persona, scan_text: str | None, decided: bool) -> IdeaBrief:
    idea = clean_text(idea) or "Complete the task described."
    scan = clean_text(scan_text) if scan_text else idea
    if decided:
        effective, persona_reason = persona, "chosen by the engine"
    else:
        effective, persona_reason = choose_persona(scan if scan_text else idea, persona)
    raw_inputs = _input_phrases(scan)
    formats = _formats(scan, effective, raw_inputs)
    parts_of_idea = sentences(idea)
    parts: dict[str, list[str]] = {
        "constraints": [],
        "context": [],
        "audience_lines": [],
        "input_lines": [],
        "format_lines": [],
    }
    first_clauses = (
        [part.strip() for part in _CLAUSE_SPLIT.split(parts_of_idea[0]) if part and part.strip()]
        if parts_of_idea
        else [idea]
    )
    role = _role_play(first_clauses[0])
    verb: str | None
    deliverable: str | None
    if role is not None:
        task, verb, deliverable = as_sentence(f"Act as {role}"), "act", None
    else:
        task, verb, deliverable = _task(first_clauses[0], formats, code=effective is Persona.CODE)
    for clause in first_clauses[1:]:
        _classify(clause, parts)
    for sentence in parts_of_idea[1:]:
        for clause in _CLAUSE_SPLIT.split(sentence):
            if clause and clause.strip():
                _classify(clause.strip(), parts)
    constraints = list(parts["constraints"])
    counted = _digits_for_number_words(scan)
    length_match = next(
        (
            match
            for match in LENGTH.finditer(counted)
            # "summarize this 40-page PDF": the size of what is given, not of the answer
            if not _GIVEN_BEFORE.search(counted, 0, match.start())
            # "a password of at least 12 characters": in code, only lines measure the answer
            and (effective is not Persona.CODE or match.group("unit").lower().startswith("line"))
            # "30 minutes a day" is a workout's length: time measures only what is spoken or played
            and (not _TIME_UNIT.match(match.group("unit")) or _SPOKEN.search(idea) is not None)
        ),
        None,
    )
    length = length_rule = None
    if length_match is not None:
        length_rule, length = length_requirement(length_match)
        constraints.append(length_rule)
    quantity = QUANTITY.search(counted)
    if quantity is not None:
        constraints.append(quantity_requirement(quantity))
    constraints += _money_constraints(scan)
    target = _TRANSLATION_TARGET.search(idea) if verb == "translate" else None
    typed = tuple(typed_constraints(idea)) if scan_text is None else ()
    slot = input_slot(idea) if scan_text is None else None
    mode = _mode(verb, formats, role, idea)
    inputs = tuple(dedupe(_provided(phrase) for phrase in raw_inputs)) if scan_text else _slot_inputs(slot, raw_inputs)
    if mode == "transform" and verb in _SUMMARISING and not inputs:
        mode = "explain"  # "summarize the arguments for and against UBI": nothing given to stay faithful to
    form = fixed_form(idea)
    if form is not None and form.creative and choose_persona(idea)[0] is not Persona.WRITING:
        form = None  # "user stories" in a code idea are not a story to write; a forced persona keeps a sonnet
    if mode == "review" and effective is not Persona.CODE:
        form = None  # "rate this cover letter": the letter is what is reviewed, not what is written
        formats = ()  # ... and its format is not the review's: a review has its own shape
    return IdeaBrief(
        idea=idea,
        task=task,
        verb=verb,
        deliverable=deliverable,
        audience=stated_audience(idea) if scan_text is None else _audience(scan),
        inputs=inputs,
        output=_output(idea),
        constraints=tuple(dedupe(constraints)),
        length=length,
        length_rule=length_rule,
        tones=_tones(scan),
        formats=formats,
        language=_language(scan),
        context=tuple(parts["context"]),
        key_terms=key_terms(idea),
        edge_cases=_stated_edge_cases(idea, constraints) + _edge_cases(scan) if effective is Persona.CODE else (),
        persona=effective,
        notes=tuple(
            as_sentence(line) for key in ("audience_lines", "input_lines", "format_lines") for line in parts[key]
        ),
        mode=mode,
        role=role,
        translation_target=target.group(1) if target else None,
        form=form,
        input_slot=slot,
        facts=tuple(details(idea)) if scan_text is None else (),
        typed=typed,
        persona_reason=persona_reason,
    )

"""Choosing the persona from what an idea is about, not from one keyword.

Each persona has weighted signals: the deliverable a person asks for weighs most (a haiku, a
cover letter, a bash script, a meal plan), then the work verbs (analyse, compare, debug), then
topic words. A programming language's name counts only next to a code noun ("python function",
"Go HTTP handler"), so a haiku about rust is writing and a python named Pip is a snake. Signals
in the opening words (where people name what they want) count double.
"""

from __future__ import annotations

import re

from prompt_alchemy.schemas.common import Persona

__all__ = ["choose_persona"]

_I = re.IGNORECASE
_LANGS = (
    r"python|typescript|javascript|js|ts|golang|(?-i:Go)|rust|java|kotlin|swift|ruby|php|c#|c\+\+|bash|shell|"
    r"powershell|sql|postgres(?:ql)?|mysql|sqlite|scala|haskell|elixir|lua|dart|perl|r"
)
# Frameworks and runtimes read like a language next to a code noun: "a react component", "a node.js
# script", "a django view".
_FRAMEWORKS = (
    r"react|vue|angular|svelte|node(?:\.js)?|nodejs|deno|express|django|flask|fastapi|rails|spring|laravel|"
    r"next\.js|nextjs|pandas|numpy|pytest|jest"
)
_CODE_NOUNS = (
    r"function|functions|script|class|method|module|package|library|cli|api|endpoint|handler|service|"
    r"program|app|query|queries|regex|code|snippet|test|tests|bug|dag|pipeline|formula|macro|component|hook|"
    r"helper|migration|schema|decorator|lambda|server|client|parser|tool|command|job|view|route|middleware|"
    r"worker|daemon|bot|webhook|plugin|extension|workflow|one-?liners?|loop|loops|recursion|composables?"
)
# The deliverable named first ("a function that validates email addresses", "write a python script
# to..."): the head of the idea outweighs what it is about (an email is the data here, not the text).
_HEAD_CODE_DELIVERABLE = (
    r"^\W*(?:(?:please\s+)?(?:write|create|build|make|implement|code|generate|give me|i need)\s+)?"
    r"(?:an?|the|some|one)?\s*(?:[\w+#.-]+\s+){0,2}?"
    r"(?:function|functions|script|class|method|cli|api|endpoint|regex|query|program|module|library|"
    r"decorator|parser|unit tests?|sql|migration|handler)\b"
)
_SIGNALS: dict[Persona, tuple[tuple[str, float], ...]] = {
    Persona.CODE: (
        (_HEAD_CODE_DELIVERABLE, 5.0),
        (rf"\b(?:{_LANGS}|{_FRAMEWORKS})\b[\w\s-]{{0,25}}?\b(?:{_CODE_NOUNS})\b", 4.0),
        # the noun first, the language after it: "a cron job in node.js", "a web scraper in go"
        (
            rf"\b(?:{_CODE_NOUNS}|scraper|bot)\b[\w\s-]{{0,20}}?\b(?:in|with|using)\s+(?:{_LANGS}|go|{_FRAMEWORKS})\b",
            4.0,
        ),
        # a lower-case "go" counts as the language right before a code noun: "a go HTTP middleware"
        (rf"\bgo\s+(?:(?:http|grpc|rest)\s+)?(?:{_CODE_NOUNS})\b", 4.0),
        (r"\b(?:review|audit|check)\b[^.]{0,30}\b(?:pull requests?|prs?|code|diff|handler|function|commit)\b", 3.0),
        (
            r"\b(?:sql|regex|regular expression|bash script|shell script|cli|dag|api|endpoint|unit tests?|jest|"
            r"pytest|typescript|javascript|golang|dockerfile|kubernetes|terraform|github actions?|formula|"
            r"pagination function|debounce|off[- ]by[- ]one|race conditions?|unwrap\(\)|stack ?trace|cron(?: ?jobs?)?|"
            r"crontab|webhooks?|rate[- ]limit(?:s|er|ing)?|paginated|pagination|one-?liners?|"
            r"middleware|http handlers?|http servers?)\b",
            3.0,
        ),
        (
            r"\b(?:function|script|code|bug|refactor|debug|implement|compile|deploy|repository|repo|codebase|"
            r"algorithm|parse|parser|query|schema|library|libraries|flag|--[\w-]+|class|method|handler)\b",
            1.5,
        ),
        (
            r"\b(?:airflow|spark|s3|redshift|parquet|kafka|postgres|mysql|redis|docker|react|django|flask|"
            r"fastapi|node|microservices?)\b",
            0.8,
        ),
    ),
    Persona.WRITING: (
        (
            r"\b(?:haikus?|limericks?|sonnets?|poems?|poetry|acrostics?|villanelles?|stor(?:y|ies)|fables?|"
            r"cover letter|e-?mails?|letters?|messages?|replies|reply|captions?|tweets?|blog posts?|articles?|"
            r"(?:linkedin|twitter|facebook|instagram|reddit|mastodon|bluesky|threads|social(?: media)?) posts?|"
            r"newsletters?|speech|toast|eulogy|pep talk|product descriptions?|descriptions?|release notes|"
            r"press release|"
            r"slogans?|taglines?|headlines?|ad copy|landing page|bio|essay|script for a video|lyrics|song|"
            r"card|invitation|announcement|copy|spoken copy|scenes?|dialogues?|monologues?|screenplays?|"
            r"thank[- ]you notes?|notes? to|apology|apologies)\b",
            3.0,
        ),
        (
            r"\b(?:write|draft|compose|rewrite|proofread|edit|translate|locali[sz]e|apologi[sz]e|announce|"
            r"reply to|respond to|tone|friendly|polite|playful|kind|firm|warm|funny|words?\b|characters)\b",
            1.2,
        ),
    ),
    Persona.ANALYSIS: (
        # the working verb first: "summarize the story of the Odyssey" summarises, it writes no story
        (r"^\W*(?:please\s+)?(?:summari[sz]e|analy[sz]e)\b", 5.0),
        (
            r"\b(?:summari[sz]e|summary|analy[sz]e|analysis|compare|comparison|evaluate|assess|calculate|"
            r"extract|significant|significance|statistic\w*|correlat\w*|trends?|insights?|themes?|"
            r"complaints|metrics?|ratios?|benchmark|does the .{0,40} support|key obligations|risks?)\b",
            2.5,
        ),
        (
            r"\b(?:vs\.?|versus|a/b tests?|open rates?|click[- ]?through(?: rates?)?|ctr|conversion rates?)(?!\w)|"
            r"\bwhich (?:\w+ ){0,2}(?:won|wins|did better|performed better|is better)\b|\d\s*%|"
            r"\bpros and cons\b|\btrade-?offs?\b|\badvantages and disadvantages\b",
            2.5,
        ),
        (
            r"\b(?:data|dataset|csv|spreadsheet|survey|reviews|study|abstract|sample size|contract|invoice|"
            r"balance sheet|income statement|report|postmortem|post-mortem|visitors|conversion|converted|"
            r"counts?|percent|%|kpis?|cost|governance|json)\b",
            1.0,
        ),
    ),
    Persona.GENERIC: (
        # explaining a concept ("explain what an API is to my grandmother") is teaching, not coding;
        # explaining given code ("explain this function") is not matched here
        (
            r"^\W*(?:(?:can|could) you\s+)?(?:please\s+)?explain\s+(?:what|how|why|the difference|the concept)\b"
            r"(?![^.?!]{0,60}\b(?:this|these|the following|attached|(?:my|our)\s+(?:\w+\s+)?"
            r"(?:code|function|script|query|regex|program|class|config|error|stack ?trace))\b)",
            6.0,
        ),
        (r"\b(?:study guide|cheat ?sheet|study plan|revision plan|flash ?cards|crash course)\b", 5.0),
        (
            r"\b(?:create|design|write|draft|make|build|prepare|generate)\s+(?:me\s+)?(?:an?\s+|\d+\s+)?(?:[\w-]+\s+){0,3}?"
            r"(?:surveys?|questionnaires?|quiz(?:zes)?|polls?|quiz questions|feedback forms?|templates?|trackers?|"
            r"planners?|worksheets?)\b",
            5.0,
        ),
        (
            r"\b(?:plan|planning|itinerary|agenda|lesson plan|meal plan|packing list|checklist|schedule|"
            r"workout|routine|recipe|trip|offsite|interview questions|negotiation|prepare for|"
            r"to-?do list|budget plan|gift ideas|party)\b",
            3.0,
        ),
        (r"\b(?:help me|ideas for|tips|advice|how (?:do|can|should) i)\b", 1.0),
    ),
}
_OPENING_WORDS = 7
_REASONS = {
    Persona.CODE: "the idea asks for code",
    Persona.WRITING: "the idea asks for a piece of writing",
    Persona.ANALYSIS: "the idea asks to analyse given material",
    Persona.GENERIC: "the idea asks for a plan or practical help",
}


_COMPILED: dict[Persona, tuple[tuple[re.Pattern[str], float], ...]] = {
    persona: tuple((re.compile(pattern, _I), weight) for pattern, weight in signals)
    for persona, signals in _SIGNALS.items()
}


def _score(text: str, opening: str, signals: tuple[tuple[re.Pattern[str], float], ...]) -> float:
    total = 0.0
    for pattern, weight in signals:
        for match in pattern.finditer(text):
            total += weight * (2.0 if match.start() < len(opening) else 1.0)
    return total


# "a radio ad script", "a video script": words for a voice, not a program
_SPOKEN_SCRIPT = re.compile(
    r"\b(?:ad|advert|advertisement|radio|video|film|movie|podcast|youtube|tiktok|sales|call|phone|cold[- ]call|"
    r"interview|commercial|explainer|promo|wedding|speech|presentation|demo|voice-?over)\s+scripts?\b",
    _I,
)


def choose_persona(idea: str, given: Persona = Persona.GENERIC) -> tuple[Persona, str]:
    """(persona, why): the one asked for, else the one the idea's deliverable and words point to."""
    if given is not Persona.GENERIC:
        return given, "asked for in the request"
    idea = _SPOKEN_SCRIPT.sub("spoken copy", idea)
    opening = " ".join(idea.split()[:_OPENING_WORDS])
    scores = {persona: _score(idea, opening, signals) for persona, signals in _COMPILED.items()}
    best = max(scores, key=lambda persona: scores[persona])
    if scores[best] < 2.0:
        return Persona.GENERIC, "no persona stands out; a general assistant fits"
    return best, _REASONS[best]

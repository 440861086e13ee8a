"""Constraints as requirements: "must handle X" -> "Handle X.", length limits, requirement lines of a prompt."""

from __future__ import annotations

import re

from prompt_alchemy.workers.providers.offline.vocabulary import TASK_VERBS
from prompt_alchemy.workers.providers.offline.wording import as_sentence, clean_text, dedupe, key_terms, sentences

__all__ = [
    "HEADING",
    "LABEL",
    "LENGTH",
    "LIST_ITEM",
    "QUANTITY",
    "STRONG_MARKERS",
    "imperative",
    "is_constraint",
    "length_requirement",
    "quantity_requirement",
    "requirements_in",
    "to_requirement",
]

_I = re.IGNORECASE
STRONG_MARKERS = re.compile(
    r"\b(?:must|should|shall|needs? to|has to|have to|don'?t|do not|does not|doesn'?t|never|always|avoid|"
    r"without|make sure|ensure|be sure|only|at least|at most|no more than|fewer than|less than|under \d|"
    r"cannot|can'?t|mustn'?t|shouldn'?t|required|mandatory|limit(?:ed)? to|keep it|keep them)\b",
    _I,
)
LENGTH = re.compile(
    r"\b(?:(?P<qual>under|below|less than|fewer than|no more than|not more than|at most|max(?:imum)?(?: of)?|"
    r"up to|within|at least|min(?:imum)?(?: of)?|exactly|about|around|roughly|approximately|between)\s+)?"
    r"(?P<n>\d[\d,]*)(?:\s*(?:-|to|and)\s*(?P<m>\d[\d,]*))?[\s-]*"
    r"(?P<unit>words?|sentences?|paragraphs?|stanzas?|verses?|lines?(?: of code)?|characters?|chars?|pages?|minutes?|"
    r"seconds?)\b",
    _I,
)
QUANTITY = re.compile(
    r"\b(?:(?P<qual>at least|at most|up to|no more than|exactly|about|around)\s+)?(?P<n>\d{1,3})\s+"
    r"(?P<unit>(?:[\w-]+\s+){0,2}(?:bullet points?|bullets?|points?|items?|tips?|ideas?|examples?|questions?|options?|"
    r"steps?|slides?|tweets?|names?|titles?|headlines?|variations?|versions?|reasons?|ways?|sections?|"
    r"test cases?|suggestions?|alternatives?|taglines?|slogans?|recommendations?|insights?|takeaways?|lessons?|"
    r"facts?|arguments?|quotes?|hashtags?|keywords?|features?|use cases?|bullets|activit(?:y|ies)|games?|"
    r"exercises?|books?|movies?|films?|recipes?|places?|destinations?|strategies|strategy|habits?|prompts?|"
    r"jokes?|riddles?|posts?|emails?|messages?|captions?))\b"
    r"(?:,?\s+(?P<after>max(?:imum)?|at most|or fewer|or less|tops|at least|min(?:imum)?|or more)\b)?"
    r"(?!\s+(?:per|a|an|each|every)\s+(?:day|week|month|year|hour)\b)",  # "3 posts per week" is a rate
    _I,
)

LABEL = re.compile(r"^[A-Z][\w /'-]{1,30}:\s")
LIST_ITEM = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)]|\[[ x]\])\s+(.*)$")
HEADING = re.compile(r"^\s*(?:#{1,6}\s|<[/\w][^>]*>\s*$)|:\s*$")


def _plural(unit: str, n: str) -> str:
    unit = unit.lower()
    if n == "1":
        return unit[:-1] if unit.endswith("s") and not unit.endswith("ss") else unit
    return unit if unit.endswith("s") or unit.endswith("code") else unit + "s"


def length_requirement(match: re.Match[str]) -> tuple[str, str]:
    """(requirement sentence, short description) for a length phrase."""
    qual = (match.group("qual") or "").lower()
    n, m = match.group("n"), match.group("m")
    unit = _plural(match.group("unit"), n if not m else "2")
    if m or qual == "between":
        return f"Keep it between {n} and {m or n} {unit}.", f"{n}-{m or n} {unit}"
    if qual in {"under", "below", "less than", "fewer than"}:
        return f"Keep it under {n} {unit}.", f"under {n} {unit}"
    if qual in {
        "no more than",
        "not more than",
        "at most",
        "max",
        "maximum",
        "maximum of",
        "max of",
        "up to",
        "within",
    }:
        return f"Keep it to at most {n} {unit}.", f"at most {n} {unit}"
    if qual.startswith("at least") or qual.startswith("min"):
        return f"Use at least {n} {unit}.", f"at least {n} {unit}"
    if qual == "exactly" or (unit.startswith(("sentence", "paragraph", "line", "stanza", "verse")) and not qual):
        return f"Use exactly {n} {unit}.", f"exactly {n} {unit}"
    return f"Aim for about {n} {unit}.", f"about {n} {unit}"


_AFTER_QUALIFIERS = {"at least": "at least", "min": "at least", "minimum": "at least", "or more": "at least"}


def quantity_requirement(match: re.Match[str]) -> str:
    """ "5 bullet points" -> exactly 5; "up to 5 tips" and "2 hashtags max" -> at most."""
    after = (match.group("after") or "").lower()
    qual = (match.group("qual") or (_AFTER_QUALIFIERS.get(after, "at most") if after else "exactly")).lower()
    qual = {"up to": "at most", "no more than": "at most", "around": "about"}.get(qual, qual)
    return f"Give {qual} {match.group('n')} {match.group('unit').lower()}."


def imperative(word: str) -> str:
    lower = word.lower()
    if lower in TASK_VERBS:
        return lower
    for suffix, replacement in (("ies", "y"), ("es", ""), ("s", ""), ("es", "e")):
        if lower.endswith(suffix) and (lower[: -len(suffix)] + replacement) in TASK_VERBS:
            return lower[: -len(suffix)] + replacement
    if lower.endswith("es") and lower[:-1] in TASK_VERBS:
        return lower[:-1]
    return lower


def to_requirement(clause: str) -> str:
    """A constraint clause as one imperative sentence ("must handle X" -> "Handle X.")."""
    text = clause.strip().strip(",;:- ").rstrip(".!")
    text = re.sub(r"^(?:and|but|also|plus|then|please|oh and)\s+", "", text, flags=_I)
    length = LENGTH.search(text)
    if length is not None:
        rest = (text[: length.start()] + text[length.end() :]).strip()
        if len(key_terms(rest)) <= 1 or re.fullmatch(
            r"(?:keep (?:it|this|the \w+)|it (?:must|should) be|be|in|(?:the )?\w+ (?:must|should) be)?\s*", rest, _I
        ):
            return length_requirement(length)[0]
    subject = r"(?:it|this|that|you|they|we|i|the (?:answer|response|output|result|code|text|reply))\s+"
    patterns: tuple[tuple[str, str], ...] = (
        (rf"^(?:{subject})?(?:must|should|shall|needs? to|has to|have to|ought to) not\s+(.+)", "Do not {0}"),
        (
            rf"^(?:{subject})?(?:must ?n[o']t|should ?n[o']t|cannot|can ?n[o']t|don'?t|do not|does not|doesn'?t|"
            r"will not|won'?t)\s+(.+)",
            "Do not {0}",
        ),
        (r"^(?:it|this|that)\s+(?:must|should|shall|needs? to|has to|have to)\s+be\s+(.+)", "Keep it {0}"),
        (rf"^(?:{subject})?(?:must|should|shall|needs? to|has to|have to|ought to|will)\s+(.+)", "{0}"),
        (r"^never\s+(.+)", "Never {0}"),
        (r"^always\s+(.+)", "Always {0}"),
        (r"^without\s+(.+)", "Avoid {0}"),
        (r"^avoid\s+(.+)", "Avoid {0}"),
        # "no negative balances allowed" -> "Allow no negative balances"
        (r"^no\s+(.+?)\s+(?:allowed|permitted|accepted)$", "Allow no {0}"),
        (r"^no\s+(.+?)\s+given$", "Give no {0}"),
        (r"^no\s+(.+?)\s+(?:included|added)$", "Include no {0}"),
        (r"^no\s+(.+?)\s+mentioned$", "Mention no {0}"),
        (r"^no\s+(.+?)\s+(?:required|needed)$", "Require no {0}"),
        (r"^no\s+(.+)", "Use no {0}"),
        (r"^(?:make sure|ensure|be sure)(?: that| to)?\s+(.+)", "Make sure {0}"),
        (r"^using\s+(.+)", "Use {0}"),
        (r"^with\s+(.+)", "Include {0}"),
        (r"^only\s+(.+)", "Only {0}"),
    )
    for pattern, template in patterns:
        match = re.match(pattern, text, _I)
        if match:
            body = match.group(1).strip()
            if template == "{0}" and body.lower().startswith("be "):
                return as_sentence("Be " + body[3:])
            if template == "Only {0}" and imperative(body.split()[0]) not in TASK_VERBS | {
                "use",
                "return",
                "include",
                "output",
                "respond",
                "answer",
                "mention",
                "cite",
            }:
                return as_sentence("Use only " + body)
            return as_sentence(template.format(body))
    return as_sentence(text)


def is_constraint(clause: str) -> bool:
    return bool(STRONG_MARKERS.search(clause) or LENGTH.search(clause)) or bool(
        re.match(r"^(?:no|avoid|never|always|keep|use|using|include|be)\b", clause.strip(), _I)
    )


def requirements_in(text: str, limit: int = 12) -> list[str]:
    """Requirement-like lines of an existing prompt, as imperative sentences."""
    found: list[str] = []
    for raw in clean_text(text).splitlines():
        line = re.sub(r"</?[\w_-]+>", " ", raw).strip()
        if not line or HEADING.search(raw) or line.endswith("?"):
            continue
        item = LIST_ITEM.match(line)
        body = (item.group(1) if item else line).strip()
        if LABEL.match(body) and not STRONG_MARKERS.search(body):
            continue
        candidates = [body] if item else [s for s in sentences(body) if STRONG_MARKERS.search(s)]
        for candidate in candidates:
            if 2 <= len(candidate.split()) <= 40 and not candidate.lower().startswith(("you are ", "act as ")):
                found.append(to_requirement(candidate))
    return dedupe(found)[:limit]

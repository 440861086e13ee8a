"""How well a prompt covers a brief: each element present, nothing contradicting it, nothing foreign.

Shared by the generation engine's ranking and the offline judge, so a prompt that misreads the
idea cannot score near 1.0 on structure and length alone. An element (a stated detail, a typed
constraint, a form rule, the stated audience, the input placeholder) counts as present when most
of its content words appear in the prompt with every verbatim copy of the idea removed: pasting
the idea is not carrying it. A contradiction is a figure turned into another one (a budget in a
different currency, "at least" for an upper limit, another output language); a foreign rule is a
convention of another kind of deliverable (typed parameters in a poem, a takeaway in a haiku).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from prompt_alchemy.schemas.brief import Brief, ConstraintKind
from prompt_alchemy.schemas.common import Persona

__all__ = ["Coverage", "brief_coverage", "without_idea"]

_I = re.IGNORECASE
_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "with",
        "from",
        "into",
        "is",
        "are",
        "be",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "as",
        "keep",
        "do",
        "not",
        "no",
        "use",
        "using",
        "give",
        "any",
        "all",
        "each",
        "every",
        "their",
        "there",
        "they",
        "them",
        "our",
        "your",
        "my",
        "user",
        "user's",
        "the",
        "should",
        "must",
        "will",
        "can",
        "than",
        "then",
        "so",
        "very",
        "more",
        "most",
        "less",
        "figure",
        "date",
        "budget",
        "amount",
        "language",
        "result",
        "respect",
        "exclusion",
        "names",
        "exactly",
        "columns",
        "table",
    ]
)
_CURRENCIES = {
    "EUR": r"€|\beuros?\b|\beur\b",
    "USD": r"\$|\busd\b|\bdollars?\b",
    "GBP": r"£|\bgbp\b|\bpounds? sterling\b",
    "JPY": r"¥|\bjpy\b|\byen\b",
    "CHF": r"\bchf\b|\bswiss francs?\b",
}
_CODE_RULES = re.compile(
    r"typed parameters|return type|unit tests?|docstring|function signature|idiomatic (?:python|rust|go|java\w*)|"
    r"pep ?8|standard library",
    _I,
)
_BUSINESS_RULES = re.compile(
    r"takeaway|call to action|subject line|never invent facts|cite (?:your )?sources|executive summary|"
    r"professional tone|bullet points? per",
    _I,
)
_PASTED_WORDS = 4
_UPPER = re.compile(r"\b(?:at most|under|no more than|max(?:imum)?|up to|less than|fewer than)\s+(\d[\d,]*)", _I)


@dataclass(frozen=True, slots=True)
class Coverage:
    share: float  # of the brief's elements present, in [0, 1]
    missing: tuple[str, ...] = ()
    contradictions: tuple[str, ...] = ()
    foreign: tuple[str, ...] = ()

    @property
    def factor(self) -> float:
        """What a score is multiplied by: full coverage and no conflicts keep it, a misreading sinks it."""
        value = 0.4 + 0.6 * self.share - 0.2 * len(self.contradictions) - 0.15 * len(self.foreign)
        return round(max(0.0, min(1.0, value)), 3)


def without_idea(text: str, idea: str) -> str:
    """``text`` with every verbatim copy of ``idea`` (whitespace- and case-insensitive) removed."""
    words = idea.strip().rstrip(".!?").split()
    if not words:
        return text
    return re.sub(r"\s+".join(re.escape(word) for word in words), " ", text, flags=_I)


def _terms(text: str) -> list[str]:
    words = re.findall(r"[#@$€£¥]?[\w][\w.'+-]*", text.lower())
    return [word.strip(".'") for word in words if word.strip(".'") not in _STOP and len(word.strip(".'")) >= 2]


def _present(term: str, text: str) -> bool:
    root = term[:5] if term.isalpha() and len(term) > 5 else term
    return re.search(rf"(?<![\w]){re.escape(root)}", text, _I) is not None


def _covered(element: str, text: str) -> bool:
    terms = _terms(element)
    if not terms:
        return True
    return sum(_present(term, text) for term in terms) / len(terms) >= 0.6


def _core(constraint: str) -> str:
    return constraint.split(":", 1)[-1].split(";", 1)[0]


def _elements(brief: Brief) -> list[str]:
    elements = list(brief.details)
    elements += [_core(item.text) for item in brief.constraints if item.kind is not ConstraintKind.EDGE_CASE]
    if brief.form:
        elements.append(brief.form.name)
        elements += [" ".join(re.findall(r"\b(?:\d+|[A-Z]{4,})\b", rule)) for rule in brief.form.rules]
    if brief.audience:
        elements.append(brief.audience)
    whole = _normal(brief.idea)
    return [element for element in elements if element.strip() and _normal(element) != whole]


def _normal(text: str) -> str:
    return " ".join(text.lower().strip().rstrip(".!?").split())


def _contradictions(brief: Brief, text: str) -> list[str]:
    found: list[str] = []
    for item in brief.constraints:
        if item.kind is ConstraintKind.BUDGET:
            code = next((code for code in _CURRENCIES if code in item.text), None)
            for other, pattern in _CURRENCIES.items():
                if code and other != code and re.search(pattern, text, _I):
                    found.append(f"a {other} amount where the idea says {code}")
        if item.kind is ConstraintKind.LANGUAGE:
            language = _core(item.text).strip().rstrip(".")
            if "english" not in language.lower() and re.search(
                r"\b(?:write|answer|respond|reply) in english\b", text, _I
            ):
                found.append(f"English where the idea asks for {language}")
    for limit in _UPPER.finditer(brief.idea):
        number = limit.group(1)
        if re.search(rf"\b(?:at least|minimum(?: of)?)\s+{re.escape(number)}\b", text, _I):
            found.append(f"'at least {number}' where the idea sets an upper limit")
    return list(dict.fromkeys(found))


def _foreign(brief: Brief, text: str) -> list[str]:
    found: list[str] = []
    if brief.persona is not Persona.CODE:
        found += [f"code convention '{match.group(0)}'" for match in _CODE_RULES.finditer(text)]
    if brief.form is not None and brief.persona is Persona.WRITING and _creative(brief):
        found += [f"business-writing rule '{match.group(0)}'" for match in _BUSINESS_RULES.finditer(text)]
    return list(dict.fromkeys(found))[:4]


def _creative(brief: Brief) -> bool:
    return bool(
        brief.form and re.search(r"haiku|limerick|sonnet|poem|story|acrostic|villanelle|creative", brief.form.name, _I)
    )


def brief_coverage(brief: Brief, prompt: str) -> Coverage:
    """How ``prompt`` covers ``brief`` (see the module docstring)."""
    # Pasting a sentence is not carrying it; a one- or two-word idea ("haiku") is just its own words.
    text = without_idea(prompt, brief.idea) if len(brief.idea.split()) >= _PASTED_WORDS else prompt
    elements = _elements(brief)
    missing = [element for element in elements if not _covered(element, text)]
    share = 1.0 - len(missing) / len(elements) if elements else 1.0
    if brief.input is not None and brief.input.placeholder not in prompt:
        share = max(0.0, share - 0.1)
        missing.append(f"input placeholder {brief.input.placeholder}")
    return Coverage(
        round(share, 3), tuple(missing), tuple(_contradictions(brief, prompt)), tuple(_foreign(brief, prompt))
    )

"""Small text tools of the offline prompt engineer: sentences, stems, key terms, de-duplication."""

from __future__ import annotations

import re
from collections.abc import Iterable

from prompt_alchemy.workers.providers.offline.vocabulary import STOPWORDS

__all__ = [
    "NUMBER_WORDS",
    "as_sentence",
    "capitalise",
    "clean_text",
    "dedupe",
    "indefinite",
    "key_terms",
    "sentences",
    "stem",
]

_I = re.IGNORECASE
_GENERIC_VERBS = frozenset(
    ["write", "create", "make", "generate", "build", "produce", "give", "draft", "compose", "help"]
)


# "five tips", "like I'm five": number words as digits, for the readers that count
NUMBER_WORDS: dict[str, str] = {
    word: str(number)
    for number, word in enumerate(
        ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"), start=1
    )
}


def clean_text(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\u2019", "'").replace("\u2014", " - ").replace("\u2013", "-")
    return re.sub(r"[ \t]+", " ", text).strip()


def sentences(text: str) -> list[str]:
    protected = re.sub(
        r"\b(e\.g|i\.e|etc|vs|approx|incl)\.", lambda m: m.group(1).replace(".", "\x00") + "\x00", text, flags=_I
    )
    parts = re.split(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])|\n+|;\s*", protected)
    return [part.replace("\x00", ".").strip(" \t-*•") for part in parts if part.strip(" \t-*•")]


def capitalise(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def indefinite(phrase: str) -> str:
    """ "upbeat tone" -> "an upbeat tone", "friendly tone" -> "a friendly tone" (by sound: "an honest", "a useful",
    "an 8-year-old")."""
    lower = phrase.lower()
    vowel_sound = (lower[:1] in "aeiou" and not lower.startswith(("uni", "use", "usu", "one"))) or bool(
        re.match(r"8|1[18](?!\d)", lower)  # "an 8-year-old", "an 11-year-old"
    )
    return ("an " if vowel_sound or lower.startswith(("honest", "honour", "honor", "hour")) else "a ") + phrase


def as_sentence(text: str) -> str:
    text = text.strip().rstrip(",;:- ")
    if not text:
        return text
    return capitalise(text) if text[-1] in ".!?" else capitalise(text) + "."


def stem(word: str) -> str:
    """A crude stem for matching key terms (dates/dated/dating -> dat)."""
    word = word.lower()
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    for suffix, minimum in (("ing", 5), ("es", 4), ("ed", 4), ("s", 3), ("e", 4)):
        if word.endswith(suffix) and len(word) > minimum:
            return word[: -len(suffix)]
    return word


def _words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z][A-Za-z0-9+#'-]*[A-Za-z0-9+#]|\d[\d.]*\d|[A-Za-z]|\d", text)


def key_terms(text: str, limit: int = 16) -> tuple[str, ...]:
    """Content words of ``text`` in order of appearance, one per stem."""
    seen: dict[str, str] = {}
    for word in _words(text):
        lower = word.lower().strip("'")
        if lower in STOPWORDS or lower in _GENERIC_VERBS or (len(lower) < 3 and not lower.isdigit()):
            continue
        seen.setdefault(stem(lower), lower)
        if len(seen) >= limit:
            break
    return tuple(seen.values())


def dedupe(items: Iterable[str]) -> list[str]:
    """Keep the first of near-identical requirements (same content words, or one contained in another)."""
    kept: list[str] = []
    signatures: list[frozenset[str]] = []
    for item in items:
        text = item.strip()
        if not text:
            continue
        signature = frozenset(stem(word) for word in key_terms(text, limit=64)) or frozenset({text.lower()})
        duplicate = False
        for index, other in enumerate(signatures):
            overlap = len(signature & other) / max(1, min(len(signature), len(other)))
            if signature == other or (overlap >= 1.0 and min(len(signature), len(other)) >= 2):
                duplicate = True
                if len(signature) > len(other):  # keep the more specific wording
                    kept[index], signatures[index] = text, signature
                break
        if not duplicate:
            kept.append(text)
            signatures.append(signature)
    return kept

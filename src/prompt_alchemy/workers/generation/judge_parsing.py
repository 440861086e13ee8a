"""Reading an LLM judge's answer: strict JSON is asked for, anything JSON-like is accepted.

Models wrap JSON in code fences, add a sentence before it, number candidates from 1, score out of
10 or write "8/10". Each of those is understood; what cannot be read is left out, and the caller
falls back to the ranker score for it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Verdict", "normalise_score", "parse_verdicts"]

_FENCE = re.compile(r"```[A-Za-z0-9_-]*\s*(.*?)```", re.DOTALL)
_FRACTION = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(?:/\s*(\d+(?:\.\d+)?))?\s*%?\s*$")
_LIST_KEYS = ("scores", "results", "evaluations", "candidates", "ratings", "judgements", "judgments", "verdicts")
_INDEX_KEYS = ("index", "candidate", "candidate_index", "id", "idx", "number")
_SCORE_KEYS = ("score", "rating", "overall", "value", "overall_score")
_REASON_KEYS = ("reason", "reasoning", "rationale", "explanation", "critique", "comment", "feedback")
_IMPROVEMENT_KEYS = ("improvements", "suggestions", "changes", "fixes")


@dataclass(frozen=True, slots=True)
class Verdict:
    """The judge's view of one candidate: score in 0..1 and why."""

    index: int
    score: float
    reason: str
    improvements: tuple[str, ...] = field(default=())


def normalise_score(value: object) -> float | None:
    """A score in 0..1 from 0.83, "0.83", 8.3 (of 10), 83 (of 100) or "8/10"; None if unreadable."""
    if isinstance(value, bool):
        return None
    denominator: float | None = None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        match = _FRACTION.match(value)
        if not match:
            return None
        number = float(match.group(1))
        denominator = float(match.group(2)) if match.group(2) else None
        if value.strip().endswith("%"):
            denominator = 100.0
    else:
        return None
    if not math.isfinite(number) or number < 0:
        return None
    if denominator is not None:
        if denominator <= 0:
            return None
        number /= denominator
    elif number > 10:
        number /= 100
    elif number > 1:
        number /= 10
    return number if number <= 1.0 else None


def _documents(text: str) -> Iterator[Any]:
    """Every JSON value the text plausibly holds, most likely first."""
    decoder = json.JSONDecoder()
    chunks = [match.group(1) for match in _FENCE.finditer(text)] + [text]
    for chunk in chunks:
        stripped = chunk.strip()
        try:
            yield json.loads(stripped)
            continue
        except ValueError:
            pass
        for position, char in enumerate(stripped):
            if char not in "{[":
                continue
            try:
                value, _ = decoder.raw_decode(stripped, position)
            except ValueError:
                continue
            yield value
            break


def _first(item: dict[str, Any], keys: tuple[str, ...]) -> Any:
    lowered = {str(key).lower(): value for key, value in item.items()}
    for key in keys:
        if key in lowered:
            return lowered[key]
    return None


def _items(document: Any) -> list[Any] | None:
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        listed = _first(document, _LIST_KEYS)
        if isinstance(listed, list):
            return listed
        if _first(document, _SCORE_KEYS) is not None:
            return [document]
    if isinstance(document, int | float) and not isinstance(document, bool):
        return [document]
    return None


def _as_index(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("#").isdigit():
        return int(value.strip().lstrip("#"))
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _verdicts(items: list[Any], count: int) -> dict[int, Verdict]:
    raw: list[tuple[int | None, float, str, tuple[str, ...]]] = []
    for item in items:
        if isinstance(item, dict):
            score = normalise_score(_first(item, _SCORE_KEYS))
            if score is None:
                continue
            reason = _first(item, _REASON_KEYS)
            improvements = _first(item, _IMPROVEMENT_KEYS)
            listed = tuple(str(entry) for entry in improvements) if isinstance(improvements, list) else ()
            raw.append((_as_index(_first(item, _INDEX_KEYS)), score, str(reason or "").strip(), listed))
        else:
            score = normalise_score(item)
            if score is not None:
                raw.append((None, score, "", ()))
    given = [index for index, *_ in raw if index is not None]
    one_based = bool(given) and 0 not in given and max(given) == count
    result: dict[int, Verdict] = {}
    for position, (index, score, reason, improvements) in enumerate(raw):
        if index is None:
            index = position if len(raw) == count or count == 1 else None
        elif one_based:
            index -= 1
        if index is None or not 0 <= index < count or index in result:
            continue
        result[index] = Verdict(index=index, score=score, reason=reason or "no reason given", improvements=improvements)
    return result


def parse_verdicts(text: str, count: int) -> dict[int, Verdict]:
    """Verdicts by candidate index (0-based) for as many candidates as the answer covers."""
    for document in _documents(text):
        items = _items(document)
        if items is None:
            continue
        verdicts = _verdicts(items, count)
        if verdicts:
            return verdicts
    return {}

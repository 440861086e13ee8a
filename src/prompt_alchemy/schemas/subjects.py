"""NATS subject syntax: validation and wildcard matching (``*`` one token, ``>`` the rest)."""

from __future__ import annotations

import re

__all__ = ["is_valid_pattern", "is_valid_subject", "matches"]

# Every message is checked on both ends, so the checks are one compiled regex each (C speed).
# ``\s`` matches exactly the characters ``str.isspace`` accepts.
_PART = r"[^\s.*>]+"
_SUBJECT = re.compile(rf"{_PART}(?:\.{_PART})*")
_PATTERN = re.compile(rf"(?:{_PART}|\*)(?:\.(?:{_PART}|\*))*(?:\.>)?|>")


def matches(pattern: str, subject: str) -> bool:
    """Whether a concrete subject matches a pattern, with NATS wildcard semantics."""
    pattern_tokens = pattern.split(".")
    subject_tokens = subject.split(".")
    for index, part in enumerate(pattern_tokens):
        if part == ">":
            return len(subject_tokens) > index
        if index >= len(subject_tokens) or (part != "*" and part != subject_tokens[index]):
            return False
    return len(pattern_tokens) == len(subject_tokens)


def is_valid_subject(subject: str) -> bool:
    """A publishable subject: non-empty tokens, no spaces, no wildcards."""
    return _SUBJECT.fullmatch(subject) is not None


def is_valid_pattern(subject: str) -> bool:
    """A subscribable subject: like a subject, plus ``*`` tokens and a final ``>``."""
    return _PATTERN.fullmatch(subject) is not None

"""NATS subject syntax: validation and wildcard matching (``*`` one token, ``>`` the rest)."""

from __future__ import annotations

__all__ = ["is_valid_pattern", "is_valid_subject", "matches"]


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


def _tokens_ok(subject: str, *, wildcards: bool) -> bool:
    if not subject or subject.startswith(".") or subject.endswith("."):
        return False
    tokens = subject.split(".")
    for index, part in enumerate(tokens):
        if not part or any(ch.isspace() for ch in part):
            return False
        if part in ("*", ">"):
            if not wildcards or (part == ">" and index != len(tokens) - 1):
                return False
        elif "*" in part or ">" in part:
            return False
    return True


def is_valid_subject(subject: str) -> bool:
    """A publishable subject: non-empty tokens, no spaces, no wildcards."""
    return _tokens_ok(subject, wildcards=False)


def is_valid_pattern(subject: str) -> bool:
    """A subscribable subject: like a subject, plus ``*`` tokens and a final ``>``."""
    return _tokens_ok(subject, wildcards=True)

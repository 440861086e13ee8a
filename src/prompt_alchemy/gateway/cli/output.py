"""Printing: JSON replies for ``--json``, short human lines otherwise."""

from __future__ import annotations

import sys

from pydantic import BaseModel

__all__ = ["first_line", "indent", "note", "print_json", "say"]


def print_json(model: BaseModel) -> None:
    print(model.model_dump_json(indent=2), flush=True)


def say(text: str = "") -> None:
    print(text, flush=True)


def note(text: str) -> None:
    """Side remarks (warnings, progress, counts) go to stderr so stdout stays the result."""
    print(text, file=sys.stderr, flush=True)


def first_line(text: str, width: int = 72) -> str:
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return line if len(line) <= width else line[: width - 1] + "…"


def indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line if line else line for line in text.splitlines())

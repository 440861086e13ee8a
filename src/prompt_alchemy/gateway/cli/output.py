"""Printing: JSON replies for ``--json``, short human lines otherwise."""

from __future__ import annotations

import re
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


_NOT_GIST = re.compile(r"^(?:you are|act as|#|<[/\w][^>]*>$)|:$", re.IGNORECASE)
_LABEL = re.compile(r"^(?:<\w+>|(?:#+\s*)?(?:task|goal|here's the job)\s*:)\s*", re.IGNORECASE)


def first_line(text: str, width: int = 72) -> str:
    """The line that says what a prompt is about: the first one past its role line and headings."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    gist = next((_LABEL.sub("", line) for line in lines if not _NOT_GIST.search(line)), lines[0] if lines else "")
    return gist if len(gist) <= width else gist[: width - 1] + "…"


def indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line if line else line for line in text.splitlines())

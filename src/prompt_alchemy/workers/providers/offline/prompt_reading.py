"""Reading an existing prompt (a vendor's phase output, or one to optimise): its task and its requirements."""

from __future__ import annotations

import re

from prompt_alchemy.schemas.common import Persona
from prompt_alchemy.workers.providers.offline.analysis import IdeaBrief, analyse
from prompt_alchemy.workers.providers.offline.requirements import HEADING, LABEL, LIST_ITEM, requirements_in
from prompt_alchemy.workers.providers.offline.wording import clean_text, sentences

__all__ = ["brief_from_text", "looks_structured", "task_in_prompt"]

_I = re.IGNORECASE
_TASK_BLOCK = re.compile(r"<task>\s*(.+?)\s*</task>", re.S | _I)
_TASKHEADING = re.compile(
    r"^(?:#{1,6}\s*)?(?:task|goal|objective|the job|here's the job|instructions?)\s*:?\s*(.*)$", _I
)


def task_in_prompt(text: str) -> str | None:
    """The task sentence of a structured prompt (XML ``<task>``, a Task/Goal heading, or its first line)."""
    block = _TASK_BLOCK.search(text)
    if block:
        return sentences(block.group(1))[0] if sentences(block.group(1)) else None
    lines = [line.strip() for line in clean_text(text).splitlines()]
    for index, line in enumerate(lines):
        heading = _TASKHEADING.match(line)
        if heading and (heading.group(1) or "").strip(" -*"):
            return sentences(heading.group(1))[0]
        if heading:
            following = next((nxt for nxt in lines[index + 1 :] if nxt), None)
            if following and (found := sentences(re.sub(r"^[-*•\d.)\s]+", "", following))):
                return found[0]
    for line in lines:
        if line and not HEADING.search(line) and not line.lower().startswith(("you are ", "act as ")):
            found = sentences(re.sub(r"^[-*•\d.)\s]+", "", line))
            if found:  # a line of only list markers ("0") says nothing
                return found[0]
    return None


def looks_structured(text: str) -> bool:
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 3:
        return False
    marked = sum(1 for line in lines if HEADING.search(line) or LABEL.match(line.strip()) or LIST_ITEM.match(line))
    return marked >= 2


def brief_from_text(text: str, persona: Persona = Persona.GENERIC, *, decided: bool = False) -> IdeaBrief:
    """A brief from an idea, or from an existing (structured) prompt; ``decided``: keep ``persona`` as given."""
    if not looks_structured(text):
        return analyse(text, persona, decided=decided)
    task = task_in_prompt(text) or text.strip().splitlines()[0]
    return analyse(task, persona, scan_text=text, decided=decided).with_requirements(requirements_in(text))

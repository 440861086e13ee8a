"""Target-family conventions: the same prompt content, in the form each model family reads best.

claude: XML-tagged sections (<task>, <context>, <constraints>, <output_format>...);
gpt: markdown ``## `` sections; gemini: concise directive bullet lines; grok: direct, candid
voice; generic: plain headed sections.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from prompt_alchemy.schemas.common import TargetFamily

__all__ = ["PromptDocument", "Section", "render"]


@dataclass(frozen=True, slots=True)
class Section:
    key: str  # stable identifier, also the XML tag name for claude
    title: str
    body: str | tuple[str, ...]
    numbered: bool = False
    verbatim: bool = False  # a skeleton or example shown as-is


@dataclass(frozen=True, slots=True)
class PromptDocument:
    role: str | None
    sections: tuple[Section, ...]
    closing: str | None = None


def _body(section: Section, bullet: str = "-") -> str:
    if isinstance(section.body, str):
        return f"```\n{section.body}\n```" if section.verbatim else section.body
    if section.numbered:
        return "\n".join(f"{index}. {item}" for index, item in enumerate(section.body, 1))
    return "\n".join(f"{bullet} {item}" for item in section.body)


def _claude(document: PromptDocument) -> str:
    blocks = [document.role] if document.role else []
    blocks += [f"<{section.key}>\n{_body(section)}\n</{section.key}>" for section in document.sections]
    if document.closing:
        blocks.append(document.closing)
    return "\n\n".join(blocks)


def _gpt(document: PromptDocument) -> str:
    blocks = [document.role] if document.role else []
    blocks += [f"## {section.title}\n{_body(section)}" for section in document.sections]
    if document.closing:
        blocks.append(document.closing)
    return "\n\n".join(blocks)


_GEMINI_PREFIX = {
    "output_format": "Format: ",
    "quality_checks": "Check: ",
    "open_questions": "Open question: ",
    "assumptions": "Default: ",
    "persona_focus": "Focus: ",
    "steps": "Step: ",
    "missing_information": "If missing: ",
    "success_criteria": "Success: ",
}


def _gemini(document: PromptDocument) -> str:
    lines = [document.role] if document.role else []
    for section in document.sections:
        if section.key == "task" and isinstance(section.body, str):
            lines.append(section.body)
        elif section.verbatim and isinstance(section.body, str):
            lines.append(f"* {section.title}:\n```\n{section.body}\n```")
        elif isinstance(section.body, str):
            lines.append(f"* {section.title}: {section.body}")
        else:
            prefix = _GEMINI_PREFIX.get(section.key, "")
            lines += [f"* {prefix}{item}" for item in section.body]
    if document.closing:
        lines.append(document.closing)
    return "\n".join(lines)


_GROK_TITLES = {
    "task": "Here's the job",
    "context": "What you're working with",
    "audience": "Who it's for",
    "inputs": "What you get",
    "expected": "What it should produce",
    "constraints": "Hard requirements",
    "output_format": "What I want back",
    "open_questions": "Open questions (answer them or state your assumption)",
    "assumptions": "Where I haven't said, go with this",
    "quality_checks": "Before you hit send",
    "persona_focus": "Focus",
    "example": "Rough shape of the answer",
    "steps": "How to go about it",
    "missing_information": "If something's missing",
    "success_criteria": "What good looks like",
}
_GROK_CLOSING = (
    "Be direct. Skip the preamble and the filler, and if something here is wrong, ambiguous or "
    "impossible, say so plainly instead of papering over it."
)


def _grok(document: PromptDocument) -> str:
    blocks = [document.role] if document.role else []
    for section in document.sections:
        title = _GROK_TITLES.get(section.key, section.title)
        if isinstance(section.body, str) and not section.verbatim and "\n" not in section.body:
            blocks.append(f"{title}: {section.body}")
        else:
            blocks.append(f"{title}:\n{_body(section)}")
    if document.closing:
        blocks.append(document.closing)
    if document.role is not None:  # a prompt, not a brief: set the candid register
        blocks.append(_GROK_CLOSING)
    return "\n\n".join(blocks)


def _generic(document: PromptDocument) -> str:
    blocks = [document.role] if document.role else []
    blocks += [f"{section.title}:\n{_body(section)}" for section in document.sections]
    if document.closing:
        blocks.append(document.closing)
    return "\n\n".join(blocks)


_RENDERERS: dict[TargetFamily, Callable[[PromptDocument], str]] = {
    TargetFamily.CLAUDE: _claude,
    TargetFamily.GPT: _gpt,
    TargetFamily.GEMINI: _gemini,
    TargetFamily.GROK: _grok,
    TargetFamily.GENERIC: _generic,
}


def render(document: PromptDocument, family: TargetFamily) -> str:
    return _RENDERERS[family](document).strip() + "\n"

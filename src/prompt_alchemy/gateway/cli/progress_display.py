"""Live progress of a generation on a terminal: one line per engine event, on stderr."""

from __future__ import annotations

import sys
from typing import TextIO

from prompt_alchemy.schemas.events import GenerationProgress, ProgressKind

__all__ = ["ProgressDisplay"]

_MARKS = {
    ProgressKind.STARTED: "…",
    ProgressKind.PHASE_STARTED: "▸",
    ProgressKind.CANDIDATE: " ·",
    ProgressKind.PHASE_DONE: "✓",
    ProgressKind.RANKED: "≡",
    ProgressKind.SAVED: "↓",
    ProgressKind.COMPLETED: "✔",
    ProgressKind.FAILED: "✗",
}


class ProgressDisplay:
    """Shows events only when ``stream`` is a terminal; piped output stays clean."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.shown = 0

    async def __call__(self, event: GenerationProgress) -> None:
        if not self.enabled:
            return
        mark = _MARKS.get(event.kind, "-")
        phase = f" {event.phase.value}" if event.phase is not None else ""
        chain = f" #{event.chain + 1}" if event.chain is not None and event.kind is ProgressKind.CANDIDATE else ""
        text = event.message or event.kind.value.replace("_", " ")
        if event.phase is not None:  # "prima-materia: prima-materia chain 0 ..." says the phase once
            text = text.removeprefix(event.phase.value).lstrip(" :") or event.kind.value.replace("_", " ")
        print(f"{mark}{phase}{chain}: {text}", file=self.stream, flush=True)
        self.shown += 1

"""Live progress of a generation on a terminal: one line per engine event, on stderr.

The candidates' text shows as the vendors stream it: each run of deltas from one phase and
chain starts on its own line headed ``<phase> #<chain>>`` and continues as the text arrives;
the next event line starts on a fresh line.
"""

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
_TEXT_INDENT = "    "


class ProgressDisplay:
    """Shows events and streamed text only when ``stream`` is a terminal; piped output stays clean."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.shown = 0
        self.tokens_shown = 0
        self._writing: tuple[str, int] | None = None  # the (phase, chain) whose text is on the line

    async def __call__(self, event: GenerationProgress) -> None:
        if not self.enabled:
            return
        self._end_text()
        mark = _MARKS.get(event.kind, "-")
        phase = f" {event.phase.value}" if event.phase is not None else ""
        chain = f" #{event.chain + 1}" if event.chain is not None and event.kind is ProgressKind.CANDIDATE else ""
        text = event.message or event.kind.value.replace("_", " ")
        if event.phase is not None:  # "prima-materia: prima-materia chain 0 ..." says the phase once
            text = text.removeprefix(event.phase.value).lstrip(" :") or event.kind.value.replace("_", " ")
        print(f"{mark}{phase}{chain}: {text}", file=self.stream, flush=True)
        self.shown += 1

    async def token(self, event: GenerationProgress) -> None:
        """One streamed delta, written as it came (newlines keep the text indented)."""
        if not self.enabled or not event.delta:
            return
        source = (event.phase.value if event.phase is not None else "", event.chain or 0)
        if source != self._writing:
            self._end_text()
            self.stream.write(f"  {source[0]} #{source[1] + 1}> ")
            self._writing = source
        self.stream.write(event.delta.replace("\n", "\n" + _TEXT_INDENT))
        self.stream.flush()
        self.tokens_shown += 1

    def _end_text(self) -> None:
        if self._writing is not None:
            self.stream.write("\n")
            self._writing = None

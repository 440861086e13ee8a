"""The offline provider: the embedded default when no key is configured.

Deterministic, no network, instant. It receives the same ``CompletionRequest`` a vendor gets
and reads ``hints`` (phase, persona, target family, idea, task) plus the last user message
(the previous phase's output, or the candidates / prompt to judge or optimise). Without hints it
treats the last user message as an idea and writes a finished (coagulatio) prompt for it.

It follows the chain's "Approach: ..." in the system message with a different layout (a
step-by-step procedure, worked examples with few-shot slots, a constraint checklist with a
rubric, a minimal specification, a defensive prompt), and sentences that start with "Favour"/"Prioritise"/
"Focus on"/"Emphasis": directness (shortest complete prompt), completeness (edge cases and a
worked example), structure (numbered steps, strict output template), the reader's context
(audience and success criteria), robustness (what to do when information is missing). That is
how parallel chains of one generation come out different. The temperature adds a variant too:
``round(10 * t) % 3`` (t = 0 is the base form). Asked to stream, it hands its text over in
chunks of a few words, as a vendor would (all at once: it has nothing to wait for).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence

from prompt_alchemy.errors import NotFound
from prompt_alchemy.schemas.common import Phase
from prompt_alchemy.schemas.providers import CompletionRequest, GenerationHints, ProviderCapabilities
from prompt_alchemy.schemas.quoting import unquote
from prompt_alchemy.workers.providers.clients import ProviderCompletion, ProviderEmbeddings
from prompt_alchemy.workers.providers.http_client import DeltaSink
from prompt_alchemy.workers.providers.offline.analysis import IdeaBrief
from prompt_alchemy.workers.providers.offline.embeddings import WordLlamaEmbedder
from prompt_alchemy.workers.providers.offline.judge import judge_reply
from prompt_alchemy.workers.providers.offline.optimize import rewrite
from prompt_alchemy.workers.providers.offline.phases import Refinements, normalised, write_phase
from prompt_alchemy.workers.providers.offline.prompt_reading import brief_from_text
from prompt_alchemy.workers.providers.offline.requirements import requirements_in
from prompt_alchemy.workers.providers.settings import (
    OFFLINE_EMBEDDING_MODEL,
    OFFLINE_MODEL,
    ProviderSettings,
    offline_settings,
)
from prompt_alchemy.workers.providers.token_estimate import estimate_usage

__all__ = ["OfflinePromptEngineer", "OfflineProvider", "draft_in", "emphasis_in", "stream_chunks", "variant_for"]

_VARIANTS = 3
_EMPHASIS_SENTENCE = re.compile(r"(?im)^\s*(?:favou?r|prioriti[sz]e|focus on|emphasi[sz]e|emphasis:)\b[^\n]*")
_EMPHASES: tuple[tuple[str, Refinements], ...] = (
    (r"\bdirect(?:ness)?\b|\bshortest\b|\bbrevity\b|\bconcise\b", Refinements(compact=True)),
    (
        r"\bcomplete(?:ness)?\b|\bedge cases?\b|\bworked example\b|\bexamples?\b",
        Refinements(
            example=True,
            requirements=(
                "Anticipate the awkward cases (missing details, conflicting requirements, unusual input) "
                "and handle each explicitly.",
            ),
        ),
    ),
    (r"\bstructure\b|\bnumbered steps\b|\btemplate\b", Refinements(steps=True)),
    (r"\breader'?s? context\b|\baudience\b|\bsuccess criteria\b|\bbackground\b", Refinements(context=True)),
    (r"\brobust(?:ness)?\b|\bmissing\b|\bambigu", Refinements(robust=True)),
)
# Where the previous phase's prompt is, best first: a quoted block wins over a "Draft prompt ...:" header
# (the engine writes both, the header first; a hand-written message may have only the header).
_DRAFTS = (
    re.compile(r"(?is)<draft>(.*?)</draft>"),
    re.compile(r"(?is)<previous>(.*?)</previous>"),
    re.compile(r"(?is)\bdraft prompt\b[^\n]*:[ \t]*\n(.*)$"),
)


def variant_for(temperature: float) -> int:
    return round(temperature * 10) % _VARIANTS


_APPROACH = re.compile(r"(?im)^\s*approach:\s*([a-z -]+?)\.")
_APPROACHES = {
    "step-by-step procedure": Refinements(layout="procedure", steps=True),
    "worked examples": Refinements(layout="examples", example=True),
    "constraint checklist": Refinements(layout="rubric"),
    "minimal specification": Refinements(compact=True),
    "defensive": Refinements(robust=True),
}


def emphasis_in(system: str) -> Refinements:
    """What the system message's "Approach: ..." (the chain's) and "Favour ..." sentences ask for."""
    combined = Refinements()
    for name in _APPROACH.findall(system):
        combined = combined.merged(_APPROACHES.get(name.strip().lower(), Refinements()))
    for sentence in _EMPHASIS_SENTENCE.findall(system):
        for pattern, refinement in _EMPHASES:
            if re.search(pattern, sentence, re.IGNORECASE):
                combined = combined.merged(refinement)
    return combined


def draft_in(message: str) -> str:
    """The previous phase's prompt inside a user message ("Draft prompt ...:" or <draft>), else the message."""
    for pattern in _DRAFTS:
        if (match := pattern.search(message)) is not None:
            return unquote(match.group(1)).strip()
    return message


_CHUNK = re.compile(r"(?:\S+\s*){1,6}|\s+")


def stream_chunks(text: str) -> list[str]:
    """``text`` cut into pieces of up to six words (with their spacing); joined, they give it back."""
    return _CHUNK.findall(text)


class OfflinePromptEngineer:
    """Turns a completion request into prompt-engineering text, without any model."""

    def respond(self, request: CompletionRequest) -> str:
        hints = request.hints or GenerationHints()
        message = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
        system = "\n".join(m.content for m in request.messages if m.role == "system")
        if hints.task == "judge":
            return judge_reply(message, hints.idea, hints.persona)
        if hints.task == "optimize":
            return rewrite(message, hints.idea, hints.persona, hints.target_family)
        source = hints.idea or message or next((m.content for m in request.messages), "")
        brief = brief_from_text(source, hints.persona, decided=hints.persona_fixed)
        phase = hints.phase or Phase.COAGULATIO
        variant = variant_for(request.temperature)
        refinements = emphasis_in(system)
        previous = draft_in(message) if hints.idea else ""
        if previous and phase is not Phase.PRIMA_MATERIA and not self._wrote(previous, brief, hints, refinements):
            brief = brief.with_requirements(requirements_in(previous))  # a vendor wrote the previous phase
        return write_phase(phase, brief, hints.target_family, variant, refinements)

    @staticmethod
    def _wrote(text: str, brief: IdeaBrief, hints: GenerationHints, refinements: Refinements) -> bool:
        """Is ``text`` one of our own phase outputs for this brief (nothing new to pick up)?"""
        target = normalised(text)
        if target == normalised(brief.idea):
            return True
        return any(
            normalised(write_phase(phase, brief, hints.target_family, variant, refine)) == target
            for phase in Phase
            for variant in range(_VARIANTS)
            for refine in (None, refinements)
        )


class OfflineProvider:
    """Peer of the HTTP providers: same protocol, answers from ``OfflinePromptEngineer``."""

    def __init__(self, settings: ProviderSettings | None = None, embedder: WordLlamaEmbedder | None = None) -> None:
        self._settings = settings or offline_settings()
        self._engineer = OfflinePromptEngineer()
        self._embedder = embedder or WordLlamaEmbedder()

    @property
    def settings(self) -> ProviderSettings:
        return self._settings

    @property
    def capabilities(self) -> ProviderCapabilities:
        return ProviderCapabilities(generation=True, embeddings=True)

    def unavailable_reason(self) -> str | None:
        return None

    def _check_model(self, model: str, known: str) -> None:
        if model != known:
            raise NotFound(
                f"model {model!r} not found at provider {self._settings.name!r}; it offers {known!r}",
                details={"provider": self._settings.name, "model": model},
            )

    async def complete(
        self, request: CompletionRequest, model: str, timeout_s: float, on_delta: DeltaSink | None = None
    ) -> ProviderCompletion:
        self._check_model(model, OFFLINE_MODEL)
        content = self._engineer.respond(request)
        if on_delta is not None:
            for chunk in stream_chunks(content):
                await on_delta(chunk)
        usage = estimate_usage((message.content for message in request.messages), content)
        return ProviderCompletion(content, OFFLINE_MODEL, usage)

    async def embed(self, texts: Sequence[str], model: str, timeout_s: float) -> ProviderEmbeddings:
        self._check_model(model, OFFLINE_EMBEDDING_MODEL)
        vectors = await asyncio.to_thread(self._embedder.embed, texts)
        return ProviderEmbeddings(vectors, OFFLINE_EMBEDDING_MODEL, estimate_usage(texts))

"""The offline provider: the embedded default when no key is configured.

Deterministic, no network, instant. It receives the same ``CompletionRequest`` a vendor gets
and reads ``hints`` (phase, persona, target family, idea, task) plus the last user message
(the previous phase's output, or the candidates / prompt to judge or optimise). Without hints it
treats the last user message as an idea and writes a finished (coagulatio) prompt for it.
Variation between candidates comes from the temperature: ``round(10 * t) % 3`` picks one of
three variants, so candidates requested at 0.7, 0.8 and 0.9 differ, and t = 0 is the base form.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from prompt_alchemy.errors import NotFound
from prompt_alchemy.schemas.common import Phase
from prompt_alchemy.schemas.providers import CompletionRequest, GenerationHints, ProviderCapabilities
from prompt_alchemy.workers.providers.clients import ProviderCompletion, ProviderEmbeddings
from prompt_alchemy.workers.providers.offline.analysis import IdeaBrief
from prompt_alchemy.workers.providers.offline.embeddings import WordLlamaEmbedder
from prompt_alchemy.workers.providers.offline.judge import judge_reply
from prompt_alchemy.workers.providers.offline.optimize import rewrite
from prompt_alchemy.workers.providers.offline.phases import normalised, write_phase
from prompt_alchemy.workers.providers.offline.prompt_reading import brief_from_text
from prompt_alchemy.workers.providers.offline.requirements import requirements_in
from prompt_alchemy.workers.providers.settings import (
    OFFLINE_EMBEDDING_MODEL,
    OFFLINE_MODEL,
    ProviderSettings,
    offline_settings,
)
from prompt_alchemy.workers.providers.token_estimate import estimate_usage

__all__ = ["OfflinePromptEngineer", "OfflineProvider", "variant_for"]

_VARIANTS = 3


def variant_for(temperature: float) -> int:
    return round(temperature * 10) % _VARIANTS


class OfflinePromptEngineer:
    """Turns a completion request into prompt-engineering text, without any model."""

    def respond(self, request: CompletionRequest) -> str:
        hints = request.hints or GenerationHints()
        message = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
        if hints.task == "judge":
            return judge_reply(message, hints.idea, hints.persona)
        if hints.task == "optimize":
            return rewrite(message, hints.idea, hints.persona, hints.target_family)
        source = hints.idea or message or next((m.content for m in request.messages), "")
        brief = brief_from_text(source, hints.persona)
        phase = hints.phase or Phase.COAGULATIO
        variant = variant_for(request.temperature)
        if hints.idea and message and phase is not Phase.PRIMA_MATERIA and not self._wrote(message, brief, hints):
            brief = brief.with_requirements(requirements_in(message))  # a vendor wrote the previous phase
        return write_phase(phase, brief, hints.target_family, variant)

    @staticmethod
    def _wrote(text: str, brief: IdeaBrief, hints: GenerationHints) -> bool:
        """Is ``text`` one of our own phase outputs for this brief (nothing new to pick up)?"""
        target = normalised(text)
        return any(
            normalised(write_phase(phase, brief, hints.target_family, variant)) == target
            for phase in Phase
            for variant in range(_VARIANTS)
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

    async def complete(self, request: CompletionRequest, model: str, timeout_s: float) -> ProviderCompletion:
        self._check_model(model, OFFLINE_MODEL)
        content = self._engineer.respond(request)
        usage = estimate_usage((message.content for message in request.messages), content)
        return ProviderCompletion(content, OFFLINE_MODEL, usage)

    async def embed(self, texts: Sequence[str], model: str, timeout_s: float) -> ProviderEmbeddings:
        self._check_model(model, OFFLINE_EMBEDDING_MODEL)
        vectors = await asyncio.to_thread(self._embedder.embed, texts)
        return ProviderEmbeddings(vectors, OFFLINE_EMBEDDING_MODEL, estimate_usage(texts))

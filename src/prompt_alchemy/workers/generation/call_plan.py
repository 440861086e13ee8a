"""Which provider, model, temperature and token limit each phase uses.

Precedence, most specific first: the request's ``phase_settings[phase]``, then the request's own
``provider``/``temperature``/``max_tokens`` (None when the caller left them to the engine), then
the engine's per-phase defaults, then the engine's global default provider and model.
"""

from __future__ import annotations

from dataclasses import dataclass

from prompt_alchemy.schemas.common import Phase
from prompt_alchemy.schemas.engine import GenerateRequest
from prompt_alchemy.workers.generation.settings import EngineSettings

__all__ = ["PhaseCall", "chain_temperature", "resolve_phase_call"]

_MAX_TEMPERATURE = 2.0


@dataclass(frozen=True, slots=True)
class PhaseCall:
    """The resolved provider call of one phase; ``provider`` None means the providers' default."""

    phase: Phase
    provider: str | None
    model: str | None
    temperature: float
    max_tokens: int


def resolve_phase_call(request: GenerateRequest, phase: Phase, settings: EngineSettings) -> PhaseCall:
    override = request.phase_settings.get(phase)
    default = settings.phase_default(phase)
    provider = (override.provider if override else None) or request.provider or default.provider
    provider = provider or settings.default_provider
    if override is not None and override.model is not None:
        model: str | None = override.model
    elif (override is not None and override.provider is not None) or request.provider is not None:
        model = None  # a provider the caller chose answers with its own default model
    else:
        # the global default model belongs to the global default provider, not to a per-phase one
        model = default.model if default.provider else (default.model or settings.default_model)

    if override is not None and override.temperature is not None:
        temperature = override.temperature
    elif request.temperature is not None:
        temperature = request.temperature
    else:
        temperature = default.temperature

    if override is not None and override.max_tokens is not None:
        max_tokens = override.max_tokens
    elif request.max_tokens is not None:
        max_tokens = request.max_tokens
    else:
        max_tokens = default.max_tokens
    return PhaseCall(phase=phase, provider=provider, model=model, temperature=temperature, max_tokens=max_tokens)


def chain_temperature(base: float, chain: int, count: int, step: float) -> float:
    """The temperature of one of ``count`` parallel chains: ``base`` for the first, ``step`` more for each next.

    Spreading the chains samples different regions of the model's distribution (and picks the
    offline provider's variants); the spread shifts down when it would pass the maximum of 2.0.
    """
    if count <= 1 or step <= 0:
        return base
    start = max(0.0, min(base, _MAX_TEMPERATURE - step * (count - 1)))
    return round(min(_MAX_TEMPERATURE, start + step * chain), 4)

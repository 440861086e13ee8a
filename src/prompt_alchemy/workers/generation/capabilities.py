"""``engine.capabilities``: what this engine offers, with the providers that can answer right now."""

from __future__ import annotations

from prompt_alchemy import schemas
from prompt_alchemy.bus import Bus
from prompt_alchemy.errors import AlchemyError
from prompt_alchemy.schemas.common import (
    LEGACY_PHASE_NAMES,
    MAX_INPUT_CHARS,
    Persona,
    Phase,
    PhaseSelection,
    TargetFamily,
)
from prompt_alchemy.schemas.engine import CapabilitiesReply, CapabilitiesRequest
from prompt_alchemy.schemas.providers import ProvidersListRequest
from prompt_alchemy.workers.generation.settings import EngineSettings

__all__ = ["describe_capabilities"]


def _limits(settings: EngineSettings) -> dict[str, int]:
    # The request-side bounds come from the contracts; the concurrency bounds from this engine's settings.
    return {
        "max_phases": len(Phase),
        "max_count": 10,
        "max_input_chars": MAX_INPUT_CHARS,
        "max_judge_candidates": 30,
        "max_batch_items": 100,
        "max_batch_concurrency": 16,
        "max_optimize_iterations": 10,
        "concurrent_generations": settings.limits.generate,
        "concurrent_provider_calls": settings.limits.provider_calls,
    }


async def describe_capabilities(bus: Bus, settings: EngineSettings, _request: CapabilitiesRequest) -> CapabilitiesReply:
    providers: list[str] = []
    default: str | None = settings.default_provider
    warnings: list[str] = []
    try:
        listing = await bus.request(schemas.PROVIDERS_LIST, ProvidersListRequest(), timeout=settings.timeouts.lookup_s)
    except AlchemyError as error:
        warnings.append(f"providers unavailable ({type(error).__name__}: {error}); no provider can answer now")
    else:
        providers = [info.name for info in listing.providers if info.available and info.capabilities.generation]
        default = default or listing.default
    return CapabilitiesReply(
        phases=list(Phase),
        legacy_phase_names=dict(LEGACY_PHASE_NAMES),
        personas=list(Persona),
        target_families=[family.value for family in TargetFamily],
        phase_selections=[selection.value for selection in PhaseSelection],
        providers=providers,
        default_provider=default,
        judge_available=settings.judge_enabled and bool(providers),
        version=settings.version,
        limits=_limits(settings),
        warnings=warnings,
    )

"""Settings of the generation engine as value objects: per-phase defaults, judge, history, limits, timeouts.

Everything has a default that works with the offline provider, so ``EngineSettings()`` is a valid
engine; the composition root overrides what its configuration says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from prompt_alchemy import __version__
from prompt_alchemy.errors import ConfigError
from prompt_alchemy.schemas.common import Phase

__all__ = ["DEFAULT_PHASE_DEFAULTS", "EngineLimits", "EngineSettings", "EngineTimeouts", "PhaseDefaults"]


@dataclass(frozen=True, slots=True)
class PhaseDefaults:
    """How a phase calls its provider unless the request says otherwise.

    ``provider``/``model`` None mean the providers worker's default and fallback order.
    """

    temperature: float
    max_tokens: int
    provider: str | None = None
    model: str | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.temperature <= 2.0:
            raise ConfigError(f"phase temperature {self.temperature} is outside 0..2")
        if not 1 <= self.max_tokens <= 32_768:
            raise ConfigError(f"phase max_tokens {self.max_tokens} is outside 1..32768")


# Exploration first, precision last: the raw idea wants breadth, the final form wants a steady hand.
DEFAULT_PHASE_DEFAULTS: Mapping[Phase, PhaseDefaults] = MappingProxyType(
    {
        Phase.PRIMA_MATERIA: PhaseDefaults(temperature=0.9, max_tokens=2048),
        Phase.SOLUTIO: PhaseDefaults(temperature=0.7, max_tokens=2048),
        Phase.COAGULATIO: PhaseDefaults(temperature=0.3, max_tokens=2048),
    }
)


@dataclass(frozen=True, slots=True)
class EngineLimits:
    """Concurrency bounds: per endpoint (requests handled at once) and provider calls in flight."""

    generate: int = 16
    optimize: int = 8
    batch: int = 4
    select: int = 16
    capabilities: int = 16
    provider_calls: int = 16

    def __post_init__(self) -> None:
        for name in ("generate", "optimize", "batch", "select", "capabilities", "provider_calls"):
            if getattr(self, name) < 1:
                raise ConfigError(f"engine limit {name} must be >= 1")


@dataclass(frozen=True, slots=True)
class EngineTimeouts:
    """Per-call timeouts (the bus clips each to the caller's deadline; its ``Deadline`` layer stops
    the engine a margin before it, so the answer arrives while the caller still listens).

    ``analyze_s`` bounds the brief: an LLM writes it in seconds, and a generation whose brief does
    not come goes on without it (with a warning) rather than waiting a whole provider timeout.
    """

    provider_s: float = 120.0
    analyze_s: float = 30.0
    storage_s: float = 10.0
    learning_s: float = 3.0
    health_s: float = 2.0
    lookup_s: float = 5.0
    weights_retry_s: float = 30.0

    def __post_init__(self) -> None:
        for name in ("provider_s", "analyze_s", "storage_s", "learning_s", "health_s", "lookup_s", "weights_retry_s"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"engine timeout {name} must be positive")


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """Everything the engine worker is configured with.

    ``default_provider`` None lets the providers worker pick (its default, then its fallback order).
    ``history_min_similarity`` applies when a request does not set its own threshold.
    """

    default_provider: str | None = None
    default_model: str | None = None
    phase_defaults: Mapping[Phase, PhaseDefaults] = field(default_factory=lambda: dict(DEFAULT_PHASE_DEFAULTS))
    judge_enabled: bool = True
    judge_provider: str | None = None
    judge_model: str | None = None
    history_enabled: bool = True
    # Cosine of a short idea to a stored (much longer) prompt. Measured with WordLlama, the offline
    # embedder: prompts written for a related idea score 0.3-0.5, unrelated ones below 0.17.
    history_min_similarity: float = 0.3
    history_limit: int = 3
    history_chars: int = 1500
    chain_temperature_step: float = 0.1
    learning_enabled: bool = True
    # The semantic cache: answer a near-identical idea of the same shape from an earlier generation.
    # Measured with WordLlama: rewordings of one idea score 0.96-0.99, a changed detail ("monthly"
    # -> "yearly" sales) 0.95; the default is strict on purpose.
    cache_enabled: bool = True
    cache_min_similarity: float = 0.96
    cache_ttl_s: int = 7 * 24 * 3600
    limits: EngineLimits = field(default_factory=EngineLimits)
    timeouts: EngineTimeouts = field(default_factory=EngineTimeouts)
    version: str = __version__

    def __post_init__(self) -> None:
        if not 0.0 <= self.history_min_similarity <= 1.0:
            raise ConfigError("history_min_similarity must be within 0..1")
        if not 0 <= self.history_limit <= 20:
            raise ConfigError("history_limit must be within 0..20")
        if self.history_chars < 100:
            raise ConfigError("history_chars must be >= 100")
        if not 0.0 <= self.chain_temperature_step <= 0.5:
            raise ConfigError("chain_temperature_step must be within 0..0.5")
        if not 0.0 < self.cache_min_similarity <= 1.0:
            raise ConfigError("cache_min_similarity must be within (0, 1]")
        if not 1 <= self.cache_ttl_s <= 30 * 24 * 3600:
            raise ConfigError("cache_ttl_s must be within 1 s .. 30 days")

    def phase_default(self, phase: Phase) -> PhaseDefaults:
        return self.phase_defaults.get(phase) or DEFAULT_PHASE_DEFAULTS[phase]

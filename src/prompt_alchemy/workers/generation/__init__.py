"""The generation engine worker: phases, personas, history, ranking, judge, optimise, batch, progress."""

from prompt_alchemy.workers.generation.settings import (
    DEFAULT_PHASE_DEFAULTS,
    EngineLimits,
    EngineSettings,
    EngineTimeouts,
    PhaseDefaults,
)
from prompt_alchemy.workers.generation.worker import SERVICE_NAME, EngineWorker, build_engine_worker

__all__ = [
    "DEFAULT_PHASE_DEFAULTS",
    "SERVICE_NAME",
    "EngineLimits",
    "EngineSettings",
    "EngineTimeouts",
    "EngineWorker",
    "PhaseDefaults",
    "build_engine_worker",
]

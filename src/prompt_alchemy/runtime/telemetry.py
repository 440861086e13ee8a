"""What the composition root is told about each worker it starts: its service and its numbers."""

from __future__ import annotations

from dataclasses import dataclass

from prompt_alchemy.runtime.metrics import ProcessMetrics
from prompt_alchemy.runtime.service_registry import ServiceRegistry

__all__ = ["Telemetry"]


@dataclass(frozen=True, slots=True)
class Telemetry:
    """``services`` registers every ADR-32 service; ``metrics`` is None with ENABLE_METRICS off."""

    services: ServiceRegistry
    metrics: ProcessMetrics | None = None

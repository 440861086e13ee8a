"""What the composition root is told about each worker it starts: its service and its numbers."""

from __future__ import annotations

from dataclasses import dataclass

from prompt_alchemy.bus.middleware import Deadline, Middleware
from prompt_alchemy.runtime.logs import RequestLog
from prompt_alchemy.runtime.metrics import ProcessMetrics
from prompt_alchemy.runtime.service_registry import ServiceRegistry

__all__ = ["Telemetry", "bus_middleware"]


def bus_middleware(metrics: ProcessMetrics | None, *, deadline_margin_s: float) -> tuple[Middleware, ...]:
    """The chain around every request a process's bus serves, outermost first — composed here only.

    The request log (only when its DEBUG lines would be written: logging is configured before the
    bus is made, and a layer that only passes requests through would cost each one a coroutine),
    then the metrics (they time and count every outcome, a deadline answer included), then the
    caller's deadline around the handler, stopping it ``deadline_margin_s`` early (ENGINE_DEADLINE_MARGIN:
    the engine reads that bound to name the stage a generation stopped in).
    """
    request_log = RequestLog()
    logs = (request_log,) if request_log.enabled else ()
    return (*logs, *((metrics.bus,) if metrics is not None else ()), Deadline(deadline_margin_s))


@dataclass(frozen=True, slots=True)
class Telemetry:
    """``services`` registers every ADR-32 service; ``metrics`` is None with ENABLE_METRICS off."""

    services: ServiceRegistry
    metrics: ProcessMetrics | None = None

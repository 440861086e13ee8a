"""Health of one service instance, and the ADR-32 (NATS micro) discovery documents."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from prompt_alchemy.schemas.common import Reply, Request

__all__ = [
    "CheckResult",
    "EndpointInfo",
    "EndpointStats",
    "HealthReply",
    "HealthRequest",
    "ServiceInfo",
    "ServicePing",
    "ServiceStats",
]


class HealthRequest(Request):
    pass


class CheckResult(Reply):
    ok: bool
    message: str = ""


class HealthReply(Reply):
    service: str
    version: str
    instance_id: str
    status: Literal["ok", "degraded", "down"]
    checks: dict[str, CheckResult] = Field(default_factory=dict)
    uptime_s: float = 0.0


class ServicePing(Reply):
    type: str = "io.nats.micro.v1.ping_response"
    name: str
    id: str
    version: str
    metadata: dict[str, str] = Field(default_factory=dict)


class EndpointInfo(Reply):
    name: str
    subject: str
    queue_group: str
    metadata: dict[str, str] | None = None


class ServiceInfo(Reply):
    type: str = "io.nats.micro.v1.info_response"
    name: str
    id: str
    version: str
    description: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    endpoints: list[EndpointInfo] = Field(default_factory=list)


class EndpointStats(Reply):
    name: str
    subject: str
    queue_group: str
    num_requests: int = 0
    num_errors: int = 0
    last_error: str = ""
    processing_time: int = 0
    average_processing_time: int = 0
    data: Any = None


class ServiceStats(Reply):
    type: str = "io.nats.micro.v1.stats_response"
    name: str
    id: str
    version: str
    started: str
    metadata: dict[str, str] = Field(default_factory=dict)
    endpoints: list[EndpointStats] = Field(default_factory=list)

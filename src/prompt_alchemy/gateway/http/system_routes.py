"""Operations outside ``/api/v1``: aggregated health, Prometheus metrics, the OpenAPI document."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from prompt_alchemy.gateway.health import GatewayHealth, check_health
from prompt_alchemy.gateway.http.operations import Operation
from prompt_alchemy.gateway.http.responses import model_response
from prompt_alchemy.gateway.http.state import BUS, METRICS, OPENAPI, SETTINGS

__all__ = ["HEALTH", "METRICS_OPERATION", "OPENAPI_OPERATION"]


async def health(request: web.Request, _operation: Operation[Any, Any]) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    report = await check_health(request.app[BUS], settings.health_services, timeout=settings.health_timeout_s)
    return model_response(report, 200 if report.serving else 503)


async def metrics(request: web.Request, _operation: Operation[Any, Any]) -> web.StreamResponse:
    body, content_type = request.app[METRICS].exposition()
    response = web.Response(body=body, status=200)
    response.headers["Content-Type"] = content_type
    return response


async def openapi(request: web.Request, _operation: Operation[Any, Any]) -> web.StreamResponse:
    return web.Response(text=json.dumps(request.app[OPENAPI]), content_type="application/json")


HEALTH: Operation[BaseModel, GatewayHealth] = Operation(
    "GET", "/health", "getHealth", "system", health,
    summary="Whether every required service answers: 200 serving, 503 otherwise.",
    reply=GatewayHealth, reply_statuses=(503,), public=True,
    description="Aggregated from ADR-32 discovery ($SRV.PING) and each service's own health endpoint; "
    "a 503 names the missing services.",
)  # fmt: skip
METRICS_OPERATION: Operation[BaseModel, BaseModel] = Operation(
    "GET", "/metrics", "getMetrics", "system", metrics, summary="Prometheus metrics of this gateway.",
    media_type="text/plain",
)  # fmt: skip
OPENAPI_OPERATION: Operation[BaseModel, BaseModel] = Operation(
    "GET", "/openapi.json", "getOpenApi", "system", openapi, summary="This document.", public=True
)  # fmt: skip

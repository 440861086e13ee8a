"""``create_app``: the aiohttp application of the HTTP gateway, wired from the operation table."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CollectorRegistry

from prompt_alchemy.bus import Bus
from prompt_alchemy.gateway.feedback import FeedbackSink
from prompt_alchemy.gateway.http.cors import CorsPolicy
from prompt_alchemy.gateway.http.metrics import HttpMetrics
from prompt_alchemy.gateway.http.middleware import (
    body_size_middleware,
    error_middleware,
    security_middleware,
    trace_middleware,
)
from prompt_alchemy.gateway.http.openapi import openapi_document
from prompt_alchemy.gateway.http.operations import Operation
from prompt_alchemy.gateway.http.routes import operations
from prompt_alchemy.gateway.http.settings import HttpSettings
from prompt_alchemy.gateway.http.state import BUS, FEEDBACK, LABELS, METRICS, OPENAPI, PUBLIC_ROUTES, SETTINGS
from prompt_alchemy.gateway.label_cache import LabelCache

__all__ = ["create_app"]


def _bind(operation: Operation) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        return await operation.handler(request, operation)

    handle.__name__ = operation.operation_id
    return handle


def create_app(
    bus: Bus,
    feedback: FeedbackSink,
    settings: HttpSettings | None = None,
    *,
    metrics_registry: CollectorRegistry | None = None,
) -> web.Application:
    """The gateway on ``bus``; ``feedback`` persists feedback events durably (the runtime's publisher).

    Binding (host, port) is the caller's: ``settings.host``/``settings.port`` say where.
    ``/metrics`` exposes ``metrics_registry`` (the process's, holding the gateway's own metrics too),
    or a registry of its own.
    """
    settings = settings or HttpSettings()
    metrics = HttpMetrics(metrics_registry)
    cors = CorsPolicy(settings.cors_origins)
    middlewares = [
        trace_middleware(),
        *([metrics.middleware()] if settings.metrics else []),
        cors.preflight_middleware(),
        error_middleware(settings),
        security_middleware(settings),
        body_size_middleware(settings),
    ]
    app = web.Application(middlewares=middlewares, client_max_size=settings.max_body_bytes)
    ops = operations(settings)
    app[BUS] = bus
    app[FEEDBACK] = feedback
    app[SETTINGS] = settings
    app[METRICS] = metrics
    app[OPENAPI] = openapi_document(settings)
    app[PUBLIC_ROUTES] = frozenset(op.path for op in ops if op.public)
    app[LABELS] = labels = LabelCache(bus, timeout=settings.request_timeout_s)

    async def close_labels(_app: web.Application) -> None:
        await labels.close()

    app.on_cleanup.append(close_labels)
    for op in ops:
        app.router.add_route(op.method, op.path, _bind(op), name=op.operation_id)
    if settings.cors_origins:
        app.on_response_prepare.append(cors.on_prepare)
    return app

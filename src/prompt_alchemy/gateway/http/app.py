"""``create_app``: the aiohttp application of the HTTP gateway, wired from the operation table."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CollectorRegistry

from prompt_alchemy.bus import Bus
from prompt_alchemy.gateway.access import Gatekeeper
from prompt_alchemy.gateway.feedback import FeedbackGate, FeedbackSink
from prompt_alchemy.gateway.http.cors import CorsPolicy
from prompt_alchemy.gateway.http.metrics import HttpMetrics
from prompt_alchemy.gateway.http.middleware import gateway_middleware
from prompt_alchemy.gateway.http.openapi import openapi_document
from prompt_alchemy.gateway.http.operations import Operation
from prompt_alchemy.gateway.http.routes import operations
from prompt_alchemy.gateway.http.settings import HttpSettings
from prompt_alchemy.gateway.http.state import (
    BUS,
    FEEDBACK,
    FEEDBACK_GATE,
    KNOWN_PROMPTS,
    LABELS,
    METRICS,
    OPENAPI,
    PUBLIC_ROUTES,
    SETTINGS,
)
from prompt_alchemy.gateway.http.webapp import WEBAPP_PATHS, add_webapp_routes
from prompt_alchemy.gateway.known_prompts import KnownPrompts
from prompt_alchemy.gateway.label_cache import LabelCache

__all__ = ["create_app"]


def _bind(operation: Operation[Any, Any]) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        return await operation.handler(request, operation)

    handle.__name__ = operation.operation_id
    return handle


def _other_methods(allowed: tuple[str, ...]) -> Handler:
    """Every method a path does not serve: OPTIONS lists its own methods, others are a 405."""
    allow = ", ".join((*allowed, "OPTIONS"))

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.method == "OPTIONS":
            return web.Response(status=204, headers={"Allow": allow})
        raise web.HTTPMethodNotAllowed(request.method, allowed)

    return handle


def _add_routes(app: web.Application, ops: tuple[Operation[Any, Any], ...]) -> None:
    """One resource per path, literal paths first, so ``/prompts/generate`` never falls through
    to ``/prompts/{id}``: each path answers its own methods and its own ``Allow``."""
    by_path: dict[str, list[Operation[Any, Any]]] = {}
    for op in ops:
        by_path.setdefault(op.path, []).append(op)
    for path in sorted(by_path, key=lambda path: "{" in path):  # stable: table order otherwise
        resource = app.router.add_resource(path)
        for op in by_path[path]:
            resource.add_route(op.method, _bind(op))
        resource.add_route("*", _other_methods(tuple(op.method for op in by_path[path])))


def create_app(
    bus: Bus,
    feedback: FeedbackSink,
    settings: HttpSettings | None = None,
    *,
    metrics_registry: CollectorRegistry | None = None,
) -> web.Application:
    """The gateway on ``bus``; ``feedback`` persists feedback events durably (the runtime's publisher).

    The web app is served at ``/`` (its files under ``/app/``), outside the API.
    Binding (host, port) is the caller's: ``settings.host``/``settings.port`` say where.
    ``/metrics`` exposes ``metrics_registry`` (the process's, holding the gateway's own metrics too),
    or a registry of its own.
    """
    settings = settings or HttpSettings()
    metrics = HttpMetrics(metrics_registry)
    cors = CorsPolicy(settings.cors_origins)
    gatekeeper = Gatekeeper(settings.access)
    middleware = gateway_middleware(settings, gatekeeper, cors, metrics if settings.metrics else None)
    app = web.Application(middlewares=[middleware], client_max_size=settings.max_body_bytes)
    ops = operations(settings)
    app[BUS] = bus
    app[FEEDBACK] = feedback
    app[FEEDBACK_GATE] = FeedbackGate(settings.feedback_limits)
    app[KNOWN_PROMPTS] = known = KnownPrompts(bus)
    app[SETTINGS] = settings
    app[METRICS] = metrics
    app[OPENAPI] = openapi_document(settings)
    app[PUBLIC_ROUTES] = frozenset((*(op.path for op in ops if op.public), *WEBAPP_PATHS))
    app[LABELS] = labels = LabelCache(bus, timeout=settings.request_timeout_s)

    async def close_caches(_app: web.Application) -> None:
        await labels.close()
        await known.close()

    app.on_cleanup.append(close_caches)
    _add_routes(app, ops)
    add_webapp_routes(app)
    if settings.cors_origins:
        app.on_response_prepare.append(cors.on_prepare)
    return app

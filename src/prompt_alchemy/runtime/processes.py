"""Long-running processes: ``serve --all`` (monolithic), ``serve api|mcp`` and ``worker X`` (NATS),
and ``mcp`` on stdio. Each stops gracefully on SIGTERM/SIGINT: front doors stop taking requests,
workers drain their in-flight ones, durable events are acked, then the process exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager

import uvicorn
from prometheus_client import CollectorRegistry

from prompt_alchemy.bus import Bus, NatsBus
from prompt_alchemy.errors import ConfigError
from prompt_alchemy.gateway.http import HttpServer, HttpSettings, create_app
from prompt_alchemy.gateway.mcp import create_server
from prompt_alchemy.runtime import components
from prompt_alchemy.runtime.components import FeedbackPublisher, Running, open_feedback_stream
from prompt_alchemy.runtime.embedded import EmbeddedRuntime
from prompt_alchemy.runtime.metrics import BusMetrics, metrics_app
from prompt_alchemy.runtime.nats_options import nats_options
from prompt_alchemy.runtime.settings import DeploymentMode, ServiceType, Settings

__all__ = ["run_mcp", "run_serve", "run_worker"]

log = logging.getLogger(__name__)

WorkerStarter = Callable[[Bus, Settings], Awaitable[Running]]


def http_settings(settings: Settings) -> HttpSettings:
    return HttpSettings(
        host=settings.http_host,
        port=settings.http_port,
        max_body_bytes=settings.max_body_bytes,
        api_keys=tuple(key.get_secret_value() for key in settings.api_keys),
        rate_limit_per_minute=settings.rate_limit_per_minute,
        cors_origins=settings.cors_origins,
        metrics=settings.enable_metrics,
        request_timeout_s=settings.request_timeout,
    )


class _QuietUvicorn(uvicorn.Server):
    """uvicorn without its own signal handling: the process's shutdown sequence decides."""

    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[no-untyped-def]
        yield


@asynccontextmanager
async def _mcp_http(bus: Bus, feedback: FeedbackPublisher, settings: Settings) -> AsyncIterator[str]:
    server = create_server(bus, feedback, request_timeout_s=settings.request_timeout)
    app = server.streamable_http_app(host=settings.mcp_host)
    config = uvicorn.Config(app, host=settings.mcp_host, port=settings.mcp_port, log_level="warning", lifespan="on")
    web_server = _QuietUvicorn(config)
    task = asyncio.create_task(web_server.serve())
    while not web_server.started:
        if task.done():
            await task
            raise ConfigError(f"the MCP server could not listen on {settings.mcp_host}:{settings.mcp_port}")
        await asyncio.sleep(0.01)
    port = web_server.servers[0].sockets[0].getsockname()[1] if web_server.servers else settings.mcp_port
    try:
        yield f"http://{settings.mcp_host}:{port}/mcp"
    finally:
        web_server.should_exit = True
        await task


@asynccontextmanager
async def _http(bus: Bus, feedback: FeedbackPublisher, settings: Settings) -> AsyncIterator[str]:
    async with HttpServer(
        create_app(bus, feedback, http_settings(settings)), settings.http_host, settings.http_port
    ) as server:
        yield server.url


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


def _announce(what: str) -> None:
    print(what, flush=True)


async def _serve_monolithic(settings: Settings) -> None:
    async with AsyncExitStack() as stack:
        runtime = await stack.enter_async_context(EmbeddedRuntime(settings))
        if settings.enable_metrics:
            BusMetrics(CollectorRegistry()).attach(runtime.bus)
        if settings.enable_api:
            url = await stack.enter_async_context(_http(runtime.bus, runtime.feedback, settings))
            _announce(f"HTTP API on {url}/api/v1 (health {url}/health)")
        if settings.enable_mcp:
            url = await stack.enter_async_context(_mcp_http(runtime.bus, runtime.feedback, settings))
            _announce(f"MCP (streamable HTTP) on {url}")
        _announce(f"prompt-alchemy serving (monolithic: {', '.join(runtime.workers)}); Ctrl-C stops it")
        await _until_signalled()
        _announce("shutting down: draining in-flight requests")


@asynccontextmanager
async def _cluster_bus(settings: Settings, name: str) -> AsyncIterator[NatsBus]:
    if not settings.nats_url:
        raise ConfigError("microservice mode needs NATS: pass --nats URL or set NATS_URL")
    bus = await NatsBus.connect(
        settings.nats_url,
        nats_options(settings, name=f"prompt-alchemy-{name}"),
        default_timeout=settings.request_timeout,
    )
    try:
        yield bus
    finally:
        await bus.drain()


async def _serve_front_door(settings: Settings, role: str) -> None:
    async with AsyncExitStack() as stack:
        bus = await stack.enter_async_context(_cluster_bus(settings, role))
        stream, feedback = await open_feedback_stream(bus, settings)
        stack.push_async_callback(stream.close)
        if role == ServiceType.API.value:
            url = await stack.enter_async_context(_http(bus, feedback, settings))
            _announce(f"HTTP API on {url}/api/v1 (NATS {settings.nats_url})")
        else:
            url = await stack.enter_async_context(_mcp_http(bus, feedback, settings))
            _announce(f"MCP (streamable HTTP) on {url} (NATS {settings.nats_url})")
        await _until_signalled()


def _starter(kind: ServiceType) -> WorkerStarter:
    if kind is ServiceType.PROVIDERS:
        return components.start_providers
    if kind is ServiceType.STORAGE:
        return components.start_storage
    if kind is ServiceType.GENERATION:
        return components.start_engine
    return _start_learning_on_cluster


async def _start_learning_on_cluster(bus: Bus, settings: Settings) -> Running:
    stream, _ = await open_feedback_stream(bus, settings)
    learning = await components.start_learning(bus, settings, stream)

    async def stop() -> None:
        await learning.stop()
        await stream.close()

    return Running("learning", stop)


async def _serve_worker(settings: Settings, kind: ServiceType) -> None:
    async with AsyncExitStack() as stack:
        bus = await stack.enter_async_context(_cluster_bus(settings, kind.value))
        if settings.enable_metrics:
            registry = CollectorRegistry()
            BusMetrics(registry).attach(bus)
            if settings.metrics_port:
                server = await stack.enter_async_context(
                    HttpServer(metrics_app(registry), settings.http_host, settings.metrics_port)
                )
                _announce(f"metrics on {server.url}/metrics")
        running = await _starter(kind)(bus, settings)
        stack.push_async_callback(running.stop)
        _announce(f"worker {kind.value} serving on {settings.nats_url}")
        await _until_signalled()
        _announce(f"worker {kind.value}: draining in-flight requests")


def run_serve(args: argparse.Namespace, settings: Settings) -> int:
    role = args.role or (
        settings.service_type.value if settings.service_type in (ServiceType.API, ServiceType.MCP) else None
    )
    if args.all or (role is None and settings.deployment_mode is DeploymentMode.MONOLITHIC):
        asyncio.run(_serve_monolithic(settings))
        return 0
    if role is None:
        raise ConfigError("serve needs --all (monolithic) or a role: api or mcp")
    asyncio.run(_serve_front_door(settings, role))
    return 0


def run_worker(args: argparse.Namespace, settings: Settings) -> int:
    asyncio.run(_serve_worker(settings, ServiceType(args.kind)))
    return 0


async def _stdio_mcp(settings: Settings) -> None:
    from prompt_alchemy.runtime.client import open_client

    async with open_client(settings) as client:
        await create_server(client.bus, client.feedback, request_timeout_s=settings.request_timeout).run_stdio_async()


def run_mcp(args: argparse.Namespace, settings: Settings) -> int:
    if args.http:
        if settings.nats_url:
            asyncio.run(_serve_front_door(settings, ServiceType.MCP.value))
        else:
            asyncio.run(_serve_monolithic(settings.model_copy(update={"enable_api": False})))
        return 0
    asyncio.run(_stdio_mcp(settings))
    return 0

"""Long-running processes: ``serve --all`` (monolithic), ``serve api|mcp`` and ``worker X`` (NATS),
and ``mcp`` on stdio.

Each prints one line per thing it opened (``HTTP API on http://HOST:PORT/api/v1``, ``metrics on
...``, ``worker X serving ...``) on stdout once it is reachable, so a supervisor or a test can
read the bound ports. Each stops gracefully on SIGTERM/SIGINT (``shutdown``): front doors leave
discovery and stop taking requests, in-flight requests drain, workers ack what they processed.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager

from prometheus_client import CollectorRegistry

from prompt_alchemy.bus import Bus, NatsBus
from prompt_alchemy.errors import ConfigError
from prompt_alchemy.gateway.access import AccessPolicy, default_allowed_hosts, require_keys
from prompt_alchemy.gateway.feedback import FeedbackLimits
from prompt_alchemy.gateway.http import HttpServer, HttpSettings, create_app
from prompt_alchemy.gateway.mcp import McpHttpServer, create_server
from prompt_alchemy.gateway.timeouts import ConnectionTimeouts
from prompt_alchemy.redaction import mask_url
from prompt_alchemy.runtime import components
from prompt_alchemy.runtime.components import FeedbackPublisher, open_feedback_stream
from prompt_alchemy.runtime.embedded import EmbeddedRuntime
from prompt_alchemy.runtime.listeners import listen
from prompt_alchemy.runtime.metrics import ProcessMetrics
from prompt_alchemy.runtime.nats_options import nats_options
from prompt_alchemy.runtime.service_registry import ServiceRegistry
from prompt_alchemy.runtime.settings import DeploymentMode, ServiceType, Settings
from prompt_alchemy.runtime.shutdown import serve_until_signalled
from prompt_alchemy.runtime.telemetry import Telemetry, bus_middleware

__all__ = ["run_mcp", "run_serve", "run_worker"]


def _announce(what: str) -> None:
    print(what, flush=True)


def feedback_limits(settings: Settings) -> FeedbackLimits:
    return FeedbackLimits(per_origin=settings.feedback_per_minute, per_session=settings.feedback_per_session_per_minute)


def _api_keys(settings: Settings) -> tuple[str, ...]:
    return tuple(key.get_secret_value() for key in settings.api_keys)


def _timeouts(settings: Settings) -> ConnectionTimeouts:
    return ConnectionTimeouts(idle_s=settings.idle_timeout, body_s=settings.body_timeout)


def http_settings(settings: Settings) -> HttpSettings:
    return HttpSettings(
        host=settings.http_host,
        port=settings.http_port,
        max_body_bytes=settings.max_body_bytes,
        api_keys=_api_keys(settings),
        rate_limit_per_minute=settings.rate_limit_per_minute,
        feedback_limits=feedback_limits(settings),
        cors_origins=settings.cors_origins,
        allowed_hosts=settings.allowed_hosts or default_allowed_hosts(settings.http_host),
        allowed_origins=settings.allowed_origins,
        timeouts=_timeouts(settings),
        metrics=settings.enable_metrics,
        request_timeout_s=settings.request_timeout,
    )


def mcp_access(settings: Settings) -> AccessPolicy:
    """The MCP HTTP door admits what the API does: the same keys, rate limit and allow-lists."""
    return AccessPolicy(
        api_keys=_api_keys(settings),
        rate_limit_per_minute=settings.rate_limit_per_minute,
        allowed_hosts=settings.allowed_hosts or default_allowed_hosts(settings.mcp_host),
        allowed_origins=settings.allowed_origins,
    )


def check_exposure(settings: Settings, *, api: bool, mcp: bool) -> None:
    """Refuse, before anything starts, to open a door beyond loopback with no keys (exit 2)."""
    keys, insecure = _api_keys(settings), settings.insecure_no_auth
    if api:
        require_keys("the HTTP API", settings.http_host, keys, insecure_no_auth=insecure)
    if mcp:
        require_keys("the MCP server", settings.mcp_host, keys, insecure_no_auth=insecure)


def _telemetry(settings: Settings, role: str, mode: DeploymentMode) -> Telemetry:
    metrics = ProcessMetrics(role, mode.value) if settings.enable_metrics else None
    return Telemetry(ServiceRegistry(mode), metrics)


@asynccontextmanager
async def _http(
    bus: Bus, feedback: FeedbackPublisher, settings: Settings, metrics: ProcessMetrics | None
) -> AsyncIterator[str]:
    """The HTTP gateway; its ``/metrics`` shows this process's metrics beside its own."""
    registry = CollectorRegistry()
    if metrics is not None:
        metrics.show_in(registry)
    app = create_app(bus, feedback, http_settings(settings), metrics_registry=registry)
    server = HttpServer(app, settings.http_host, settings.http_port)
    await listen("the HTTP API", server, settings.http_host, settings.http_port)
    try:
        yield server.url
    finally:
        await server.stop()


@asynccontextmanager
async def _mcp_http(bus: Bus, feedback: FeedbackPublisher, settings: Settings) -> AsyncIterator[str]:
    server = create_server(
        bus, feedback, request_timeout_s=settings.request_timeout, feedback_limits=feedback_limits(settings)
    )
    http = McpHttpServer(
        server, settings.mcp_host, settings.mcp_port, access=mcp_access(settings), timeouts=_timeouts(settings)
    )
    await listen("the MCP server", http, settings.mcp_host, settings.mcp_port)
    try:
        yield http.url
    finally:
        await http.stop()


async def _open_metrics(stack: AsyncExitStack, telemetry: Telemetry, settings: Settings, *, listener: bool) -> None:
    """Keep the stores' numbers fresh; with ``listener``, serve ``/metrics`` on the metrics port.

    Opened after the workers start, so it closes before they stop (never reads a closed store).
    """
    metrics = telemetry.metrics
    if metrics is None:
        return
    if listener:
        url = await stack.enter_async_context(metrics.listener(settings.metrics_host, settings.metrics_port))
        telemetry.services.tag("metrics", url)
        _announce(f"metrics on {url}")
    await stack.enter_async_context(metrics.refreshing())


async def _open_doors(
    stack: AsyncExitStack, bus: Bus, feedback: FeedbackPublisher, settings: Settings, telemetry: Telemetry, note: str
) -> None:
    """HTTP and/or MCP as enabled, each announced once it listens and registered for discovery.

    On shutdown the doors leave discovery, then all stop listening at once and drain together:
    no door keeps taking requests while another drains.
    """
    services = telemetry.services
    doors: list[AsyncExitStack] = []
    stack.push_async_callback(lambda: _close_all(doors))
    if settings.enable_api:
        door = AsyncExitStack()
        doors.append(door)
        url = await door.enter_async_context(_http(bus, feedback, settings, telemetry.metrics))
        services.tag("http", url)
        await services.open_front_door(bus, ServiceType.API.value, f"{url}/api/v1")
        _announce(f"HTTP API on {url}/api/v1 (health {url}/health){note}")
    if settings.enable_mcp:
        door = AsyncExitStack()
        doors.append(door)
        url = await door.enter_async_context(_mcp_http(bus, feedback, settings))
        await services.open_front_door(bus, ServiceType.MCP.value, url)
        _announce(f"MCP (streamable HTTP) on {url}{note}")
    stack.push_async_callback(services.close_front_doors)  # pushed last: runs first


async def _close_all(stacks: list[AsyncExitStack]) -> None:
    results = await asyncio.gather(*(stack.aclose() for stack in stacks), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result


async def _start_monolithic(stack: AsyncExitStack, settings: Settings) -> None:
    telemetry = _telemetry(settings, "monolithic", DeploymentMode.MONOLITHIC)
    runtime = EmbeddedRuntime(settings, telemetry=telemetry)  # its bus gets the process's middleware chain
    await stack.enter_async_context(runtime)
    await _open_metrics(stack, telemetry, settings, listener=not settings.enable_api)
    await _open_doors(stack, runtime.bus, runtime.feedback, settings, telemetry, "")
    _announce(f"prompt-alchemy serving (monolithic: {', '.join(runtime.workers)}); Ctrl-C stops it")


@asynccontextmanager
async def _cluster_bus(settings: Settings, name: str) -> AsyncIterator[NatsBus]:
    if not settings.nats_url:
        raise ConfigError("microservice mode needs NATS: pass --nats URL or set NATS_URL")
    bus = await NatsBus.connect(
        settings.nats_servers,
        nats_options(settings, name=f"prompt-alchemy-{name}"),
        default_timeout=settings.request_timeout,
        liveness=settings.liveness,
    )
    try:
        yield bus
    finally:
        await bus.drain()


async def _start_front_door(stack: AsyncExitStack, settings: Settings, role: ServiceType) -> None:
    telemetry = _telemetry(settings, role.value, DeploymentMode.MICROSERVICE)
    only = settings.model_copy(update={"enable_api": role is ServiceType.API, "enable_mcp": role is ServiceType.MCP})
    bus = await stack.enter_async_context(_cluster_bus(settings, role.value))
    stream, feedback = await open_feedback_stream(bus, settings)
    stack.push_async_callback(stream.close)
    await _open_metrics(stack, telemetry, settings, listener=role is not ServiceType.API)
    await _open_doors(stack, bus, feedback, only, telemetry, f" (NATS {mask_url(settings.nats_url or '')})")


def _worker_scope(kind: ServiceType, bus: Bus, settings: Settings, telemetry: Telemetry) -> components.WorkerScope:
    if kind is ServiceType.PROVIDERS:
        return components.providers_worker(bus, settings, telemetry=telemetry)
    if kind is ServiceType.STORAGE:
        return components.storage_worker(bus, settings, telemetry=telemetry)
    if kind is ServiceType.GENERATION:
        return components.engine_worker(bus, settings)
    if kind is ServiceType.LEARNING:
        return components.learning_worker(bus, settings, telemetry=telemetry)  # opens the feedback stream
    raise ConfigError(f"{kind.value} is a front door, not a worker: use `serve {kind.value}`")


async def _start_worker(stack: AsyncExitStack, settings: Settings, kind: ServiceType) -> None:
    telemetry = _telemetry(settings, kind.value, DeploymentMode.MICROSERVICE)
    bus = await stack.enter_async_context(_cluster_bus(settings, kind.value))
    bus.use(*bus_middleware(telemetry.metrics, deadline_margin_s=settings.engine_deadline_margin))
    await components.enter_worker(stack, _worker_scope(kind, bus, settings, telemetry), telemetry)
    await _open_metrics(stack, telemetry, settings, listener=True)
    await telemetry.services.confirm(bus)
    instances = ", ".join(f"{service.name} instance {service.id}" for service in telemetry.services.services)
    _announce(f"worker {kind.value} serving on {mask_url(settings.nats_url or '')} ({instances})")


def _serve(start: Callable[[AsyncExitStack], Awaitable[None]], settings: Settings) -> int:
    return asyncio.run(serve_until_signalled(start, shutdown_timeout=settings.shutdown_timeout, announce=_announce))


def _monolithic(settings: Settings) -> Settings:
    """Monolithic means the in-memory bus: a NATS_URL in the environment is not used."""
    return settings.model_copy(update={"nats_url": None, "deployment_mode": DeploymentMode.MONOLITHIC})


def run_serve(args: argparse.Namespace, settings: Settings) -> int:
    role = args.role or (
        settings.service_type.value if settings.service_type in (ServiceType.API, ServiceType.MCP) else None
    )
    if args.all or (role is None and settings.deployment_mode is DeploymentMode.MONOLITHIC):
        monolithic = _monolithic(settings)
        check_exposure(monolithic, api=monolithic.enable_api, mcp=monolithic.enable_mcp)
        return _serve(lambda stack: _start_monolithic(stack, monolithic), monolithic)
    if role is None:
        raise ConfigError("serve needs --all (monolithic) or a role: api or mcp")
    check_exposure(settings, api=role == ServiceType.API.value, mcp=role == ServiceType.MCP.value)
    return _serve(lambda stack: _start_front_door(stack, settings, ServiceType(role)), settings)


def run_worker(args: argparse.Namespace, settings: Settings) -> int:
    kind = ServiceType(args.kind)
    return _serve(lambda stack: _start_worker(stack, settings, kind), settings)


async def _stdio_mcp(settings: Settings) -> None:
    from prompt_alchemy.runtime.client import open_client

    async with open_client(settings) as client:
        await create_server(client.bus, client.feedback, request_timeout_s=settings.request_timeout).run_stdio_async()


def run_mcp(args: argparse.Namespace, settings: Settings) -> int:
    if args.http:
        check_exposure(settings, api=False, mcp=True)
        if settings.nats_url:
            return _serve(lambda stack: _start_front_door(stack, settings, ServiceType.MCP), settings)
        monolithic = _monolithic(settings).model_copy(update={"enable_api": False, "enable_mcp": True})
        return _serve(lambda stack: _start_monolithic(stack, monolithic), monolithic)
    asyncio.run(_stdio_mcp(settings))
    return 0

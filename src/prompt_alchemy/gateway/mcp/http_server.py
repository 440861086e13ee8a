"""Serve an MCP server over streamable HTTP (``/mcp``) inside an already running event loop.

``MCPServer.run_streamable_http_async`` owns the process (uvicorn's signal handlers, logging
setup); ``McpHttpServer`` runs the same Starlette app next to other servers (``serve --all``)
and on port 0 in tests: it binds and listens before uvicorn starts, so the port is known at
once and early connections wait in the backlog instead of being refused. Signals and logging
stay the caller's.

The app sits behind ``McpDoor`` (the API's Host/Origin/key/rate-limit gatekeeper), and each
connection hangs up after ``ConnectionTimeouts.idle_s`` without a complete request head — fresh,
slow-drip or idle keep-alive alike (uvicorn alone only times out idle keep-alive connections).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
from collections.abc import Iterator
from types import TracebackType
from typing import Any, Self

import h11
import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import DEFAULT_MAX_REQUEST_BODY_SIZE, TransportSecuritySettings
from uvicorn.protocols.http.h11_impl import H11Protocol

from prompt_alchemy.gateway.access import AccessPolicy, Gatekeeper
from prompt_alchemy.gateway.mcp.door import McpDoor
from prompt_alchemy.gateway.timeouts import ConnectionTimeouts

__all__ = ["DEFAULT_MCP_PORT", "McpHttpServer"]

DEFAULT_MCP_PORT = 3333


class _EmbeddedUvicorn(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the embedding process handles signals and stops us with stop()


class _HeadDeadlineProtocol(H11Protocol):
    """h11 with a deadline for each request head, armed on connect and after every response."""

    _head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]  # uvicorn narrows to Transport
        self._arm_head_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
        super().connection_lost(exc)

    def _arm_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
        self._head_deadline = self.loop.call_later(self.timeout_keep_alive, self._head_deadline_passed)

    def _head_deadline_passed(self) -> None:
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()  # no request head in time: an idler or a slow-drip sender


class McpHttpServer:
    """``async with McpHttpServer(server, host, port) as http: http.url`` -> ``http://host:port/mcp``."""

    def __init__(
        self,
        server: MCPServer[Any],
        host: str = "127.0.0.1",
        port: int = DEFAULT_MCP_PORT,
        *,
        path: str = "/mcp",
        access: AccessPolicy | None = None,
        timeouts: ConnectionTimeouts | None = None,
    ) -> None:
        self.server = server
        self.access = access or AccessPolicy()
        self.timeouts = timeouts or ConnectionTimeouts()
        self.host = host
        self.port = port
        self.path = path
        self._uvicorn: _EmbeddedUvicorn | None = None
        self._task: asyncio.Task[None] | None = None
        self._socket: socket.socket | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{self.path}"

    async def start(self) -> None:
        # The SDK's Host/Origin check is off on purpose: McpDoor applies the one policy of both doors.
        app = McpDoor(
            self.server.streamable_http_app(
                streamable_http_path=self.path,
                host=self.host,
                transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
            ),
            Gatekeeper(self.access),
            body_s=self.timeouts.body_s,
            max_body_bytes=DEFAULT_MAX_REQUEST_BODY_SIZE,
        )
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self._socket = socket.create_server((self.host, self.port), family=family)
        self.port = int(self._socket.getsockname()[1])
        config = uvicorn.Config(
            app,
            http=_HeadDeadlineProtocol,
            log_config=None,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=5,
            timeout_keep_alive=max(1, math.ceil(self.timeouts.idle_s)),
        )
        self._uvicorn = _EmbeddedUvicorn(config)
        self._task = asyncio.get_running_loop().create_task(self._uvicorn.serve(sockets=[self._socket]))

    async def stop(self) -> None:
        if self._uvicorn is not None and self._task is not None:
            self._uvicorn.should_exit = True
            await self._task
        if self._socket is not None:
            self._socket.close()
        self._uvicorn = self._task = self._socket = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

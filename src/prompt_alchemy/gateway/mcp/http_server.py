"""Serve an MCP server over streamable HTTP (``/mcp``) inside an already running event loop.

``MCPServer.run_streamable_http_async`` owns the process (uvicorn's signal handlers, logging
setup); ``McpHttpServer`` runs the same Starlette app next to other servers (``serve --all``)
and on port 0 in tests: it binds and listens before uvicorn starts, so the port is known at
once and early connections wait in the backlog instead of being refused. Signals and logging
stay the caller's.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from types import TracebackType
from typing import Any, Self

import uvicorn
from mcp.server.mcpserver import MCPServer

__all__ = ["DEFAULT_MCP_PORT", "McpHttpServer"]

DEFAULT_MCP_PORT = 3333


class _EmbeddedUvicorn(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the embedding process handles signals and stops us with stop()


class McpHttpServer:
    """``async with McpHttpServer(server, host, port) as http: http.url`` -> ``http://host:port/mcp``."""

    def __init__(
        self, server: MCPServer[Any], host: str = "127.0.0.1", port: int = DEFAULT_MCP_PORT, *, path: str = "/mcp"
    ) -> None:
        self.server = server
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
        app = self.server.streamable_http_app(streamable_http_path=self.path, host=self.host)
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self._socket = socket.create_server((self.host, self.port), family=family)
        self.port = int(self._socket.getsockname()[1])
        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on", timeout_graceful_shutdown=5)
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

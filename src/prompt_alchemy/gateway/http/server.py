"""Serve an app on a host and port (0: any free port) and say where; used by the runtime and tests.

Connections hang up after the app's ``ConnectionTimeouts.idle_s`` without a request head, and
protocol errors answer JSON (``protocol``).

Only aiohttp's public API: ``AppRunner`` runs the app (startup, shutdown, cleanup) and its
``server`` handles requests; the listening socket is asyncio's, whose connections are
``JsonErrorRequestHandler``s of that server (aiohttp's sites only make its own handler class),
and whose ``sockets`` say which port was bound.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from prompt_alchemy.gateway.http.protocol import (
    MAX_FIELD_BYTES,
    MAX_HEADERS,
    MAX_LINE_BYTES,
    JsonErrorRequestHandler,
)
from prompt_alchemy.gateway.http.state import SETTINGS
from prompt_alchemy.gateway.timeouts import ConnectionTimeouts

__all__ = ["HttpServer"]

BACKLOG = 128  # aiohttp's sites' default


class HttpServer:
    """``async with HttpServer(app, host, port) as server: server.url`` — stops cleanly on exit."""

    def __init__(self, app: web.Application, host: str = "127.0.0.1", port: int = 8080) -> None:
        self.app = app
        self.host = host
        self.requested_port = port
        self.port = port
        timeouts = app[SETTINGS].timeouts if SETTINGS in app else ConnectionTimeouts()
        self._runner = web.AppRunner(app)
        self._connection_options: dict[str, Any] = {
            "access_log": None,
            "keepalive_timeout": timeouts.idle_s,
            "max_line_size": MAX_LINE_BYTES,
            "max_field_size": MAX_FIELD_BYTES,
            "max_headers": MAX_HEADERS,
        }
        self._listener: asyncio.Server | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        await self._runner.setup()
        server = self._runner.server
        if server is None:
            raise RuntimeError("the app runner set up no server")
        loop = asyncio.get_running_loop()
        options = self._connection_options

        def connection() -> JsonErrorRequestHandler:
            return JsonErrorRequestHandler(server, loop=loop, **options)

        try:
            self._listener = await loop.create_server(connection, self.host, self.requested_port, backlog=BACKLOG)
        except BaseException:
            await self._runner.cleanup()
            raise
        self.port = int(self._listener.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()  # no new connections; the runner closes the open ones
            self._listener = None
        await self._runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

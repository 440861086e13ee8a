"""Serve an app on a host and port (0: any free port) and say where; used by the runtime and tests.

Connections hang up after the app's ``ConnectionTimeouts.idle_s`` without a request head, and
protocol errors answer JSON (``protocol``).
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

from aiohttp import web

from prompt_alchemy.gateway.http.protocol import MAX_FIELD_BYTES, MAX_HEADERS, MAX_LINE_BYTES, JsonErrorAppRunner
from prompt_alchemy.gateway.http.state import SETTINGS
from prompt_alchemy.gateway.timeouts import ConnectionTimeouts

__all__ = ["HttpServer"]


class HttpServer:
    """``async with HttpServer(app, host, port) as server: server.url`` — stops cleanly on exit."""

    def __init__(self, app: web.Application, host: str = "127.0.0.1", port: int = 8080) -> None:
        self.app = app
        self.host = host
        self.requested_port = port
        self.port = port
        timeouts = app[SETTINGS].timeouts if SETTINGS in app else ConnectionTimeouts()
        self._runner = JsonErrorAppRunner(
            app,
            access_log=None,
            keepalive_timeout=timeouts.idle_s,
            max_line_size=MAX_LINE_BYTES,
            max_field_size=MAX_FIELD_BYTES,
            max_headers=MAX_HEADERS,
        )

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.requested_port)
        await site.start()
        server = site._server  # aiohttp does not expose the bound port otherwise
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = int(sockets[0].getsockname()[1])

    async def stop(self) -> None:
        await self._runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

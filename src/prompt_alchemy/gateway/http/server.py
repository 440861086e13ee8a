"""Serve an app on a host and port (0: any free port) and say where; used by the runtime and tests."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from aiohttp import web

__all__ = ["HttpServer"]


class HttpServer:
    """``async with HttpServer(app, host, port) as server: server.url`` — stops cleanly on exit."""

    def __init__(self, app: web.Application, host: str = "127.0.0.1", port: int = 8080) -> None:
        self.app = app
        self.host = host
        self.requested_port = port
        self.port = port
        self._runner = web.AppRunner(app, access_log=None)

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

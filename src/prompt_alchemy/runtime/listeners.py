"""Starting a server on a host and port: a port in use is a configuration error, not a traceback."""

from __future__ import annotations

from typing import Protocol

from prompt_alchemy.errors import ConfigError

__all__ = ["Listener", "listen"]


class Listener(Protocol):
    """The HTTP API, the MCP server and the metrics listener all start and stop this way."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


async def listen(what: str, server: Listener, host: str, port: int) -> None:
    """Start ``server``; if it cannot bind, release what it set up and say which one and where."""
    try:
        await server.start()
    except OSError as error:
        await server.stop()
        raise ConfigError(f"{what} cannot listen on {host}:{port}: {error.strerror or error}") from error

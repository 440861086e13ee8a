"""The MCP server over streamable HTTP on a random port, the SDK's ``Client`` on its URL, every worker real."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from mcp import Client

from prompt_alchemy.gateway.mcp import McpHttpServer, create_server
from prompt_alchemy.runtime.embedded import EmbeddedRuntime


async def test_every_tool_over_streamable_http(
    runtime: EmbeddedRuntime, every_tool: Callable[[Client], Awaitable[None]]
) -> None:
    server = create_server(runtime.bus, runtime.feedback)
    async with McpHttpServer(server, "127.0.0.1", 0) as http:
        assert http.port != 0
        assert http.url == f"http://127.0.0.1:{http.port}/mcp"
        async with Client(http.url, read_timeout_seconds=60) as client:
            await every_tool(client)


async def test_every_tool_in_process(runtime: EmbeddedRuntime, every_tool: Callable[[Client], Awaitable[None]]) -> None:
    async with Client(create_server(runtime.bus, runtime.feedback)) as client:
        await every_tool(client)

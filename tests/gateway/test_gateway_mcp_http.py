"""The MCP server over streamable HTTP on a random port, with the SDK's ``Client`` on its URL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from mcp import Client
from mcp.types import TextContent

from prompt_alchemy.bus import Bus
from prompt_alchemy.gateway.feedback import FeedbackSink
from prompt_alchemy.gateway.mcp import TOOL_NAMES, McpHttpServer, create_server
from prompt_alchemy.schemas.registry import STORAGE_STORE
from prompt_alchemy.schemas.storage import GetReply, StoreRequest


@pytest.fixture
async def mcp_url(gateway_bus: Bus, feedback_sink: FeedbackSink) -> AsyncIterator[str]:
    async with McpHttpServer(create_server(gateway_bus, feedback_sink), "127.0.0.1", 0) as server:
        assert server.port != 0
        yield server.url


@pytest.mark.usefixtures("storage_service")
async def test_tools_over_streamable_http(mcp_url: str, gateway_bus: Bus) -> None:
    assert mcp_url.endswith("/mcp")
    stored = await gateway_bus.request(STORAGE_STORE, StoreRequest(content="a prompt served over HTTP"), timeout=30)
    async with Client(mcp_url) as client:
        tools = (await client.list_tools()).tools
        got = await client.call_tool("get_prompt", {"id": stored.id})
        invalid = await client.call_tool("get_prompt", {"id": "has spaces"})
        missing = await client.call_tool("get_learning_stats", {})
    assert tuple(tool.name for tool in tools) == TOOL_NAMES
    assert not got.is_error
    assert GetReply.model_validate(got.structured_content).record.id == stored.id
    assert invalid.is_error
    assert missing.is_error
    texts: list[Any] = [block.text for block in missing.content if isinstance(block, TextContent)]
    assert "learning service is not running" in " ".join(texts)

"""The MCP HTTP door admits what the API admits: the same keys, rate limit, Host and Origin
rules, JSON refusals, and it hangs up on idle or slow clients. Real servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import aiohttp
import pytest
from mcp import Client

from prompt_alchemy.bus import Bus
from prompt_alchemy.errors import ConfigError
from prompt_alchemy.gateway.access import AccessPolicy, default_allowed_hosts, require_keys
from prompt_alchemy.gateway.feedback import FeedbackSink
from prompt_alchemy.gateway.mcp import McpHttpServer, create_server
from prompt_alchemy.gateway.timeouts import ConnectionTimeouts

KEY = "mcp-door-key"
EVERY_INTERFACE = ".".join("0" * 4)  # what the image binds; spelt so, as no test here binds it
BOUND_S = 30.0
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}},
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}

DoorFactory = Callable[..., AbstractAsyncContextManager[McpHttpServer]]


@pytest.fixture
def door(gateway_bus: Bus, feedback_sink: FeedbackSink) -> DoorFactory:
    def make(access: AccessPolicy | None = None, timeouts: ConnectionTimeouts | None = None) -> McpHttpServer:
        server = create_server(gateway_bus, feedback_sink)
        return McpHttpServer(server, "127.0.0.1", 0, access=access, timeouts=timeouts)

    return make


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def _initialize(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    async with session.post(url, json=INITIALIZE, headers={**MCP_HEADERS, **(headers or {})}) as response:
        text = await response.text()
        body = json.loads(text) if response.content_type == "application/json" else text
        return response.status, dict(response.headers), body


async def test_with_keys_the_mcp_door_demands_a_bearer_token(door: DoorFactory, session: aiohttp.ClientSession) -> None:
    async with door(AccessPolicy(api_keys=(KEY,))) as http:
        status, headers, body = await _initialize(session, http.url)
        assert status == 401
        assert headers["WWW-Authenticate"].startswith("Bearer")
        assert body["kind"] == "unauthorized"
        assert "missing bearer token" in body["message"]
        status, _, body = await _initialize(session, http.url, {"Authorization": "Bearer wrong"})
        assert status == 401
        assert "invalid API key" in body["message"]
        status, _, _ = await _initialize(session, http.url, {"Authorization": f"Bearer {KEY}"})
        assert status == 200


async def test_without_keys_on_loopback_the_sdk_client_works(door: DoorFactory) -> None:
    async with door() as http, Client(http.url) as client:
        tools = (await client.list_tools()).tools
    assert {tool.name for tool in tools} >= {"generate_prompts", "list_providers"}


async def test_the_rate_limit_applies_to_mcp_too(door: DoorFactory, session: aiohttp.ClientSession) -> None:
    async with door(AccessPolicy(api_keys=(KEY,), rate_limit_per_minute=1)) as http:
        auth = {"Authorization": f"Bearer {KEY}"}
        assert (await _initialize(session, http.url, auth))[0] == 200
        status, headers, body = await _initialize(session, http.url, auth)
    assert status == 429
    assert int(headers["Retry-After"]) >= 1
    assert body["kind"] == "rate_limited"


async def test_host_and_origin_are_checked_with_json_refusals(
    door: DoorFactory, session: aiohttp.ClientSession
) -> None:
    async with door() as http:
        status, _, body = await _initialize(session, http.url, {"Host": "evil.example"})
        assert status == 421
        assert body["kind"] == "misdirected_request"
        status, _, body = await _initialize(session, http.url, {"Origin": "https://evil.example"})
        assert status == 403
        assert body["kind"] == "forbidden"
        own = {"Origin": f"http://127.0.0.1:{http.port}"}
        assert (await _initialize(session, http.url, own))[0] == 200


def test_a_wildcard_bind_still_checks_hosts_and_needs_keys() -> None:
    """The SDK drops its rebinding check on 0.0.0.0; the doors keep the loopback names."""
    assert default_allowed_hosts(EVERY_INTERFACE) == ("localhost", "127.0.0.1", "::1")
    assert default_allowed_hosts("::") == ("localhost", "127.0.0.1", "::1")
    assert default_allowed_hosts("10.1.2.3") == ("localhost", "127.0.0.1", "::1", "10.1.2.3")
    with pytest.raises(ConfigError, match="--insecure-no-auth"):
        require_keys("the MCP server", EVERY_INTERFACE, (), insecure_no_auth=False)
    require_keys("the MCP server", EVERY_INTERFACE, (KEY,), insecure_no_auth=False)
    require_keys("the MCP server", EVERY_INTERFACE, (), insecure_no_auth=True)
    require_keys("the MCP server", "127.0.0.1", (), insecure_no_auth=False)
    require_keys("the MCP server", "::1", (), insecure_no_auth=False)


async def _raw(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(BOUND_S):
            return await reader.read()
    finally:
        writer.close()


async def test_idle_and_slow_header_connections_are_closed(door: DoorFactory) -> None:
    async with door(timeouts=ConnectionTimeouts(idle_s=0.3, body_s=30)) as http:
        assert await _raw(http.port, b"") == b""
        assert await _raw(http.port, b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ") == b""


async def test_a_slow_body_is_408(door: DoorFactory) -> None:
    async with door(timeouts=ConnectionTimeouts(idle_s=30, body_s=0.3)) as http:
        request = (
            b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b'Accept: application/json, text/event-stream\r\nContent-Length: 100\r\n\r\n{"jsonrpc": '
        )
        answer = await _raw(http.port, request)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408")
    assert json.loads(body)["kind"] == "request_timeout"


async def test_tool_argument_errors_read_as_the_http_errors(door: DoorFactory) -> None:
    async with door() as http, Client(http.url) as client:
        result = await client.call_tool("generate_prompts", {"input": "an idea", "count": 99})
    assert result.is_error
    text = result.content[0].text  # type: ignore[union-attr]
    body = json.loads(text)
    assert body["code"] == 422
    assert body["kind"] == "unprocessable"
    # the tool's own arguments model (a generate request plus `detail`), in the HTTP wording
    assert body["message"] == "invalid GenerateArguments: count: Input should be less than or equal to 10"
    assert "pydantic.dev" not in text
    assert "99" not in text  # the rejected input is not echoed


async def test_a_body_that_is_not_json_is_415(door: DoorFactory, session: aiohttp.ClientSession) -> None:
    async with door() as http:
        headers = {"Accept": "application/json, text/event-stream", "Content-Type": "text/plain"}
        async with session.post(http.url, data=json.dumps(INITIALIZE), headers=headers) as response:
            assert response.status == 415
            assert (await response.json())["kind"] == "unsupported_media_type"

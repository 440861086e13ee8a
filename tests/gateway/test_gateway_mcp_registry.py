"""MCP tools for named prompts, in-process on a real bus and storage worker."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client
from mcp.types import CallToolResult, TextContent

from prompt_alchemy.bus import Bus, ServiceRunner
from prompt_alchemy.gateway.feedback import FeedbackSink
from prompt_alchemy.gateway.mcp import create_server
from prompt_alchemy.schemas.labels import (
    LabelHistoryRequest,
    LabelSetReply,
    LabelVariant,
    NameGetRequest,
    ServedPrompt,
    choose_variant,
)
from prompt_alchemy.schemas.registry import STORAGE_LABEL_HISTORY, STORAGE_NAME_GET, STORAGE_STORE
from prompt_alchemy.schemas.storage import StoreRequest

T = 30.0


def tool_text(result: CallToolResult) -> str:
    return " ".join(block.text for block in result.content if isinstance(block, TextContent))


@pytest.fixture
def mcp_server(gateway_bus: Bus, feedback_sink: FeedbackSink) -> Any:
    return create_server(gateway_bus, feedback_sink, request_timeout_s=T)


async def test_set_label_then_get_prompt_by_label(
    mcp_server: Any, gateway_bus: Bus, storage_service: ServiceRunner
) -> None:
    ids = [
        (
            await gateway_bus.request(
                STORAGE_STORE, StoreRequest(content=f"Reply to a review, tone {index}"), timeout=T
            )
        ).id
        for index in range(2)
    ]
    async with Client(mcp_server) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert {"get_prompt_by_label", "set_label"} <= set(tools)
        assert not {"actor", "automatic"} & set(tools["set_label"].input_schema["properties"])
        for prompt_id in ids:
            moved = await client.call_tool(
                "set_label", {"name": "reviews", "label": "prod", "prompt_id": prompt_id, "reason": "agent says so"}
            )
            assert not moved.is_error, tool_text(moved)
        reply = LabelSetReply.model_validate(moved.structured_content)
        assert reply.move is not None
        assert (reply.move.actor, reply.move.reason) == ("mcp", "agent says so")
        served = await client.call_tool("get_prompt_by_label", {"name": "reviews"})
        assert not served.is_error, tool_text(served)
        assert ServedPrompt.model_validate(served.structured_content).prompt_id == ids[1]
        split = {
            "name": "reviews",
            "label": "prod",
            "variants": [{"version": 1, "weight": 1}, {"version": 2, "weight": 1}],
        }
        assert not (await client.call_tool("set_label", split)).is_error
        arms = [LabelVariant(version=1, weight=1), LabelVariant(version=2, weight=1)]
        for key in ("alice", "bob", "carol", "dave"):
            result = await client.call_tool("get_prompt_by_label", {"name": "reviews", "key": key})
            assert ServedPrompt.model_validate(result.structured_content).version == (
                choose_variant(arms, name="reviews", label="prod", key=key).version
            )
        refused = await client.call_tool("set_label", {"name": "reviews", "label": "prod", "version": 1, "actor": "x"})
        assert refused.is_error
        assert "actor" in tool_text(refused)
        missing = await client.call_tool("get_prompt_by_label", {"name": "reviews", "label": "canary"})
        assert missing.is_error
        assert "canary" in tool_text(missing)
    named = await gateway_bus.request(STORAGE_NAME_GET, NameGetRequest(name="reviews"), timeout=T)
    assert sum(named.labels["prod"].served.values()) == 5
    history = await gateway_bus.request(STORAGE_LABEL_HISTORY, LabelHistoryRequest(name="reviews"), timeout=T)
    assert {move.actor for move in history.moves} == {"mcp"}

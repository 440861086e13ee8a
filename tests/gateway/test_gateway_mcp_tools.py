"""The MCP server in-process (the SDK's ``Client`` on the server object), on a real bus and storage."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client
from mcp.types import CallToolResult, TextContent

from prompt_alchemy.bus import Bus, ServiceRunner
from prompt_alchemy.bus.streams import DurableStream, decode_delivery
from prompt_alchemy.gateway.feedback import FeedbackSink
from prompt_alchemy.gateway.mcp import TOOL_NAMES, create_server
from prompt_alchemy.schemas.engine import GenerateRequest
from prompt_alchemy.schemas.registry import LEARNING_FEEDBACK, STORAGE_STORE
from prompt_alchemy.schemas.storage import GetReply, SearchReply, StoreRequest


@pytest.fixture
def mcp_server(gateway_bus: Bus, feedback_sink: FeedbackSink) -> Any:
    return create_server(gateway_bus, feedback_sink, request_timeout_s=30)


def _text(result: CallToolResult) -> str:
    return " ".join(block.text for block in result.content if isinstance(block, TextContent))


async def test_ten_tools_with_the_contract_schemas(mcp_server: Any) -> None:
    async with Client(mcp_server) as client:
        listed = (await client.list_tools()).tools
    tools = {tool.name: tool for tool in listed}
    assert tuple(tools) == TOOL_NAMES
    generate = tools["generate_prompts"]
    assert set(generate.input_schema["properties"]) == {*GenerateRequest.model_fields, "detail"}
    assert generate.input_schema["required"] == ["input"]
    assert generate.input_schema["additionalProperties"] is False
    assert generate.input_schema["properties"]["count"]["maximum"] == 10
    assert generate.output_schema is not None
    assert {"best", "others", "warnings", "reply"} <= set(generate.output_schema["properties"])
    assert tools["analyze_idea"].input_schema["required"] == ["input"]
    feedback = tools["record_feedback"].input_schema["properties"]
    assert not {"source", "origin", "created_at"} & set(feedback)  # the server's to stamp
    assert {"prompt_id", "rating", "effectiveness", "helpful", "chosen_over", "comment", "session_id"} <= set(feedback)
    search = tools["search_prompts"]
    assert search.annotations is not None
    assert search.annotations.read_only_hint is True
    assert all(tool.description for tool in listed)


@pytest.mark.usefixtures("storage_service")
async def test_search_and_get_answer_structured_replies(mcp_server: Any, gateway_bus: Bus) -> None:
    stored = await gateway_bus.request(STORAGE_STORE, StoreRequest(content="Write a haiku about volcanoes"), timeout=30)
    async with Client(mcp_server) as client:
        found = await client.call_tool("search_prompts", {"query": "volcano poem", "limit": 3})
        got = await client.call_tool("get_prompt", {"id": stored.id})
    assert not found.is_error, _text(found)
    assert SearchReply.model_validate(found.structured_content).hits[0].record.id == stored.id
    assert not got.is_error, _text(got)
    assert GetReply.model_validate(got.structured_content).record.content == "Write a haiku about volcanoes"


@pytest.mark.parametrize(
    ("tool", "arguments", "needle"),
    [
        ("generate_prompts", {"input": "an idea", "count": 99}, "count"),
        ("generate_prompts", {"input": "an idea", "colour": "blue"}, "colour"),
        ("generate_prompts", {}, "input"),
        ("search_prompts", {"limit": 0}, "limit"),
        ("record_feedback", {"prompt_id": "p1"}, "at least one of"),
        ("record_feedback", {"prompt_id": "p1", "rating": 4, "source": "http"}, "source"),
        ("record_feedback", {"prompt_id": "p1", "rating": 1, "created_at": "9999-12-31T00:00:00Z"}, "created_at"),
        ("record_feedback", {"prompt_id": "p1", "rating": 5, "origin": "key:someone"}, "origin"),
    ],
)
async def test_invalid_arguments_are_error_results(
    mcp_server: Any, tool: str, arguments: dict[str, Any], needle: str
) -> None:
    async with Client(mcp_server) as client:
        result = await client.call_tool(tool, arguments)
    assert result.is_error
    assert needle in _text(result)
    assert "Traceback" not in _text(result)


async def test_a_missing_service_is_an_error_result_saying_so(mcp_server: Any) -> None:
    async with Client(mcp_server) as client:
        result = await client.call_tool("get_learning_stats", {})
    assert result.is_error
    assert "learning service is not running" in _text(result)
    assert "503" in _text(result)


@pytest.mark.usefixtures("storage_service")
async def test_unknown_id_is_an_error_result(mcp_server: Any) -> None:
    async with Client(mcp_server) as client:
        result = await client.call_tool("get_prompt", {"id": "no-such-prompt"})
    assert result.is_error
    assert "no-such-prompt" in _text(result)
    assert "404" in _text(result)


async def test_record_feedback_is_durable_and_marked_mcp(
    mcp_server: Any, gateway_bus: Bus, storage_service: ServiceRunner, feedback_stream: DurableStream
) -> None:
    stored = await gateway_bus.request(STORAGE_STORE, StoreRequest(content="a prompt worth rating"), timeout=30)
    async with Client(mcp_server) as client:
        result = await client.call_tool(
            "record_feedback", {"prompt_id": stored.id, "rating": 5, "event_id": "mcp-evt-1"}
        )
    assert not result.is_error, _text(result)
    assert result.structured_content == {"event_id": "mcp-evt-1", "sequence": 1, "duplicate": False}
    consumer = await feedback_stream.consumer("mcp-test", ack_wait=30, max_deliver=3)
    deliveries = await consumer.fetch(5, timeout=5)
    await consumer.close()
    events = [decode_delivery(LEARNING_FEEDBACK, delivery) for delivery in deliveries]
    assert [(event.prompt_id, event.rating, event.source, event.origin) for event in events] == [
        (stored.id, 5, "mcp", "mcp")
    ]


@pytest.mark.usefixtures("engine_worker")
async def test_generation_reports_progress_before_its_failure(mcp_server: Any) -> None:
    notes: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        notes.append((progress, total, message))

    async with Client(mcp_server) as client:
        result = await client.call_tool("generate_prompts", {"input": "an idea"}, progress_callback=on_progress)
    assert result.is_error
    assert "503" in _text(result)
    assert [progress for progress, _, _ in notes] == list(range(1, len(notes) + 1))
    assert notes[0][2] is not None
    assert notes[0][2].startswith("started")
    assert notes[-1][2] is not None
    assert notes[-1][2].startswith("failed")

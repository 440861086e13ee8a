"""``POST /prompts/generate`` as JSON and as a server-sent event stream, with the real engine."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from prompt_alchemy.schemas.errors import ErrorBody
from prompt_alchemy.schemas.events import GenerationProgress

OpenApiCheck = Callable[[aiohttp.ClientResponse, Any], Awaitable[None]]
SseReader = Callable[[aiohttp.ClientResponse], Awaitable[list[dict[str, str]]]]
SSE = {"Accept": "text/event-stream"}


@pytest.mark.usefixtures("engine_worker")
async def test_without_providers_the_stream_shows_progress_then_the_error(
    http: aiohttp.ClientSession, read_sse: SseReader
) -> None:
    body = {"input": "an idea", "request_id": "sse-no-providers"}
    async with http.post("/api/v1/prompts/generate", json=body, headers=SSE) as response:
        assert response.status == 200
        assert response.content_type == "text/event-stream"
        events = await read_sse(response)
    names = [event["event"] for event in events]
    assert names[-1] == "error"
    assert set(names[:-1]) == {"progress"}
    progress = [GenerationProgress.model_validate_json(event["data"]) for event in events[:-1]]
    assert [event.seq for event in progress] == list(range(len(progress)))
    assert [event["id"] for event in events[:-1]] == [str(event.seq) for event in progress]
    assert {event.request_id for event in progress} == {"sse-no-providers"}
    assert progress[0].kind == "started"
    assert progress[-1].kind == "failed"
    error = ErrorBody.model_validate_json(events[-1]["data"])
    assert error.code == 503


@pytest.mark.usefixtures("engine_worker")
async def test_without_providers_json_is_a_503(http: aiohttp.ClientSession, openapi_check: OpenApiCheck) -> None:
    async with http.post("/api/v1/prompts/generate", json={"input": "an idea"}) as response:
        body = await response.json()
        assert response.status == 503
        await openapi_check(response, body)


async def test_invalid_input_is_a_json_error_even_when_streaming_is_asked(http: aiohttp.ClientSession) -> None:
    async with http.post("/api/v1/prompts/generate", json={"input": ""}, headers=SSE) as response:
        assert response.status == 422
        assert response.content_type == "application/json"


async def test_stream_without_engine_is_one_error_event(http: aiohttp.ClientSession, read_sse: SseReader) -> None:
    async with http.post("/api/v1/prompts/generate", json={"input": "an idea"}, headers=SSE) as response:
        events = await read_sse(response)
    assert [event["event"] for event in events] == ["error"]
    assert json.loads(events[0]["data"])["details"]["service"] == "engine"

"""The HTTP gateway's own behaviour through a real server: input errors, bus failures, limits.

Every error answer is a JSON ``ErrorBody`` with the right status and matches the schema the
served OpenAPI document gives for that status.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from prompt_alchemy.bus import Bus, RequestContext
from prompt_alchemy.errors import NotFound
from prompt_alchemy.gateway.http import HttpSettings
from prompt_alchemy.schemas.registry import STORAGE_GET
from prompt_alchemy.schemas.storage import GetReply, GetRequest

GatewayFactory = Callable[..., Awaitable[aiohttp.ClientSession]]
OpenApiCheck = Callable[[aiohttp.ClientResponse, Any], Awaitable[None]]


async def _error(response: aiohttp.ClientResponse, openapi_check: OpenApiCheck) -> dict[str, object]:
    assert response.content_type == "application/json"
    body = await response.json()
    await openapi_check(response, body)
    assert body["code"] == response.status
    assert "Traceback" not in str(body)
    return dict(body)


async def test_malformed_json_is_a_400(http: aiohttp.ClientSession, openapi_check: OpenApiCheck) -> None:
    async with http.post(
        "/api/v1/prompts/generate", data=b'{"input": "x",', headers={"Content-Type": "application/json"}
    ) as response:
        assert response.status == 400
        body = await _error(response, openapi_check)
    assert body["kind"] == "bad_request"
    assert "malformed JSON" in str(body["message"])


async def test_a_body_that_is_not_an_object_is_a_400(http: aiohttp.ClientSession, openapi_check: OpenApiCheck) -> None:
    async with http.post("/api/v1/prompts/generate", json=["an idea"]) as response:
        assert response.status == 400
        body = await _error(response, openapi_check)
    assert "JSON object" in str(body["message"])


async def test_unknown_field_is_a_422_naming_it(http: aiohttp.ClientSession, openapi_check: OpenApiCheck) -> None:
    async with http.post("/api/v1/prompts/generate", json={"input": "an idea", "colour": "blue"}) as response:
        assert response.status == 422
        body = await _error(response, openapi_check)
    assert body["kind"] == "unprocessable"
    errors = body["details"]["errors"]  # type: ignore[index]
    assert [error["field"] for error in errors] == ["colour"]


@pytest.mark.parametrize("count", [0, 11, "many"])
async def test_out_of_range_count_is_a_422_naming_count(
    http: aiohttp.ClientSession, openapi_check: OpenApiCheck, count: object
) -> None:
    async with http.post("/api/v1/prompts/generate", json={"input": "an idea", "count": count}) as response:
        assert response.status == 422
        body = await _error(response, openapi_check)
    assert "count" in str(body["message"])


async def test_missing_input_is_a_422(http: aiohttp.ClientSession, openapi_check: OpenApiCheck) -> None:
    async with http.post("/api/v1/prompts/generate", json={}) as response:
        assert response.status == 422
        body = await _error(response, openapi_check)
    assert [error["field"] for error in body["details"]["errors"]] == ["input"]  # type: ignore[index]


async def test_unknown_query_parameter_is_a_422(http: aiohttp.ClientSession, openapi_check: OpenApiCheck) -> None:
    async with http.get("/api/v1/prompts/search", params={"q": "x", "sort": "asc"}) as response:
        assert response.status == 422
        body = await _error(response, openapi_check)
    assert "sort" in str(body["message"])


async def test_path_owned_field_in_the_body_is_a_422(http: aiohttp.ClientSession, openapi_check: OpenApiCheck) -> None:
    async with http.patch("/api/v1/prompts/abc", json={"id": "other", "tags": ["x"]}) as response:
        assert response.status == 422
        body = await _error(response, openapi_check)
    assert body["details"]["errors"][0]["field"] == "id"  # type: ignore[index]


async def test_oversized_body_is_a_413_declared_or_chunked(
    start_gateway: GatewayFactory, openapi_check: OpenApiCheck
) -> None:
    http = await start_gateway(HttpSettings(port=0, max_body_bytes=2048))
    big = {"input": "x" * 5000}
    async with http.post("/api/v1/prompts/generate", json=big) as response:
        assert response.status == 413
        body = await _error(response, openapi_check)
    assert body["kind"] == "payload_too_large"

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"input": "'
        for _ in range(10):
            yield b"y" * 1000
        yield b'"}'

    async with http.post(
        "/api/v1/prompts/generate", data=chunks(), headers={"Content-Type": "application/json"}
    ) as response:
        assert response.status == 413
        await _error(response, openapi_check)


async def test_unknown_route_and_method_are_json_errors(http: aiohttp.ClientSession) -> None:
    async with http.get("/api/v1/nothing-here") as response:
        assert response.status == 404
        body = await response.json()
        assert body["kind"] == "not_found"
    async with http.put("/api/v1/prompts/generate", json={}) as response:
        assert response.status == 405
        assert "POST" in response.headers["Allow"]
        assert (await response.json())["code"] == 405


async def test_no_responders_is_a_503_naming_the_service(
    http: aiohttp.ClientSession, openapi_check: OpenApiCheck
) -> None:
    async with http.post("/api/v1/prompts/generate", json={"input": "an idea"}) as response:
        assert response.status == 503
        body = await _error(response, openapi_check)
    assert body["kind"] == "unavailable"
    assert body["details"]["service"] == "engine"  # type: ignore[index]
    assert body["retriable"] is True


async def test_a_slow_service_is_a_504(
    gateway_bus: Bus, start_gateway: GatewayFactory, openapi_check: OpenApiCheck
) -> None:
    release = asyncio.Event()

    async def slow_get(_request: GetRequest, _context: RequestContext) -> GetReply:
        await release.wait()
        raise AssertionError("answered after the gateway gave up")

    subscription = await gateway_bus.serve(STORAGE_GET, slow_get)
    http = await start_gateway(HttpSettings(port=0, request_timeout_s=0.2))
    try:
        async with http.get("/api/v1/prompts/abc") as response:
            assert response.status == 504
            body = await _error(response, openapi_check)
        assert body["kind"] == "deadline_exceeded"
        assert body["details"]["service"] == "storage"  # type: ignore[index]
    finally:
        release.set()
        await subscription.unsubscribe()


async def test_invalid_path_id_is_a_422(http: aiohttp.ClientSession, openapi_check: OpenApiCheck) -> None:
    async with http.get("/api/v1/prompts/not%20an%20id") as response:
        assert response.status == 422
        body = await _error(response, openapi_check)
    assert body["details"]["errors"][0]["field"] == "id"  # type: ignore[index]


async def test_the_callers_trace_reaches_the_service(gateway_bus: Bus, http: aiohttp.ClientSession) -> None:
    seen: list[str] = []

    async def recording_get(request: GetRequest, context: RequestContext) -> GetReply:
        seen.append(context.trace_id)
        raise NotFound(f"no prompt with id {request.id!r}")

    subscription = await gateway_bus.serve(STORAGE_GET, recording_get)
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    try:
        async with http.get("/api/v1/prompts/abc", headers={"traceparent": f"00-{trace}-00f067aa0ba902b7-01"}):
            pass
        async with http.get("/api/v1/prompts/abc", headers={"traceparent": "garbage"}) as response:
            assert response.status == 404
    finally:
        await subscription.unsubscribe()
    assert seen[0] == trace
    assert len(seen[1]) == 32
    assert seen[1] != trace


@pytest.mark.parametrize("deadline", ["yesterday", "1" * 26, "-5", "1.5e12"])
async def test_an_invalid_deadline_header_is_a_400_naming_it(
    http: aiohttp.ClientSession, openapi_check: OpenApiCheck, deadline: str
) -> None:
    async with http.post(
        "/api/v1/prompts/generate", json={"input": "an idea"}, headers={"Alchemy-Deadline": deadline}
    ) as response:
        assert response.status == 400
        body = await _error(response, openapi_check)
    assert "Alchemy-Deadline" in str(body["message"])

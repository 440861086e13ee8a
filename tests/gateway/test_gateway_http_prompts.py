"""Prompt routes and feedback through the gateway, served by the real storage worker.

Every answer, success or error, is validated against the schema the served OpenAPI document
gives for its status.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from prompt_alchemy.bus import Bus, ServiceRunner
from prompt_alchemy.bus.streams import DurableStream, decode_delivery
from prompt_alchemy.gateway.feedback import FeedbackLimits
from prompt_alchemy.gateway.http import HttpSettings
from prompt_alchemy.schemas.common import utc_now
from prompt_alchemy.schemas.registry import LEARNING_FEEDBACK, STORAGE_STORE
from prompt_alchemy.schemas.storage import Lineage, StoreRequest

OpenApiCheck = Callable[[aiohttp.ClientResponse, Any], Awaitable[None]]
GatewayFactory = Callable[..., Awaitable[aiohttp.ClientSession]]

pytestmark = pytest.mark.usefixtures("storage_service")


async def _store(bus: Bus, content: str, **lineage: Any) -> str:
    reply = await bus.request(
        STORAGE_STORE, StoreRequest(content=content, tags=["demo"], lineage=Lineage(**lineage)), timeout=30
    )
    return reply.id


async def _json(response: aiohttp.ClientResponse, check: OpenApiCheck, status: int) -> Any:
    body = await response.json()
    assert response.status == status, body
    await check(response, body)
    return body


async def test_get_patch_history_delete(
    http: aiohttp.ClientSession, gateway_bus: Bus, openapi_check: OpenApiCheck
) -> None:
    prompt_id = await _store(gateway_bus, "Write a haiku about volcanoes")
    async with http.get(f"/api/v1/prompts/{prompt_id}") as response:
        got = await _json(response, openapi_check, 200)
    assert got["record"]["content"] == "Write a haiku about volcanoes"

    patch = {"content": "Write a haiku about active volcanoes", "tags": ["demo", "poem"]}
    async with http.patch(f"/api/v1/prompts/{prompt_id}", json=patch) as response:
        updated = await _json(response, openapi_check, 200)
    assert updated["record"]["version"] == 2
    assert updated["record"]["tags"] == ["demo", "poem"]

    async with http.get(f"/api/v1/prompts/{prompt_id}", params={"include_history": "true"}) as response:
        history = await _json(response, openapi_check, 200)
    assert [version["content"] for version in history["history"]] == ["Write a haiku about volcanoes"]

    async with http.delete(f"/api/v1/prompts/{prompt_id}") as response:
        deleted = await _json(response, openapi_check, 200)
    assert deleted == {"id": prompt_id, "deleted": True}
    async with http.get(f"/api/v1/prompts/{prompt_id}") as response:
        gone = await _json(response, openapi_check, 404)
    assert gone["kind"] == "not_found"


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [("GET", "", None), ("PATCH", "", {"tags": ["x"]}), ("DELETE", "", None), ("GET", "/lineage", None)],
)
async def test_unknown_id_is_a_404(
    http: aiohttp.ClientSession, openapi_check: OpenApiCheck, method: str, suffix: str, body: Any
) -> None:
    async with http.request(method, f"/api/v1/prompts/no-such-prompt{suffix}", json=body) as response:
        error = await _json(response, openapi_check, 404)
    assert "no-such-prompt" in error["message"]


async def test_lineage(http: aiohttp.ClientSession, gateway_bus: Bus, openapi_check: OpenApiCheck) -> None:
    root = await _store(gateway_bus, "root idea about gardens")
    child = await _store(gateway_bus, "child idea about rose gardens", parent_id=root)
    async with http.get(f"/api/v1/prompts/{child}/lineage", params={"direction": "ancestors"}) as response:
        tree = await _json(response, openapi_check, 200)
    assert [record["id"] for record in tree["ancestors"]] == [root]
    assert tree["descendants"] == []
    async with http.get(f"/api/v1/prompts/{child}/lineage", params={"direction": "sideways"}) as response:
        await _json(response, openapi_check, 422)


async def test_search_semantic_filtered_and_paged(
    http: aiohttp.ClientSession, gateway_bus: Bus, openapi_check: OpenApiCheck
) -> None:
    contents = [
        "Write a haiku about volcanoes",
        "Create a SQL query for monthly sales",
        "Plan a workout routine for beginners",
        "Compose a birthday song for a dolphin",
    ]
    ids = {content: await _store(gateway_bus, content) for content in contents}
    async with http.get("/api/v1/prompts/search", params={"q": "SQL query for sales", "limit": "2"}) as response:
        found = await _json(response, openapi_check, 200)
    assert found["hits"][0]["record"]["id"] == ids["Create a SQL query for monthly sales"]
    assert len(found["hits"]) <= 2

    async with http.get("/api/v1/prompts/search", params={"tags": "demo", "limit": "3"}) as response:
        first_page = await _json(response, openapi_check, 200)
    assert len(first_page["hits"]) == 3
    assert first_page["next_cursor"]
    params = {"tags": "demo", "limit": "3", "cursor": first_page["next_cursor"]}
    async with http.get("/api/v1/prompts/search", params=params) as response:
        second_page = await _json(response, openapi_check, 200)
    seen = [hit["record"]["id"] for hit in first_page["hits"] + second_page["hits"]]
    assert sorted(seen) == sorted(ids.values())

    async with http.get("/api/v1/prompts/search", params={"tags": "nothing-tagged-so"}) as response:
        assert (await _json(response, openapi_check, 200))["hits"] == []
    async with http.get("/api/v1/prompts/search", params={"limit": "1000"}) as response:
        await _json(response, openapi_check, 422)


async def test_feedback_is_accepted_durably_once(
    http: aiohttp.ClientSession, gateway_bus: Bus, openapi_check: OpenApiCheck, feedback_stream: DurableStream
) -> None:
    chosen = await _store(gateway_bus, "Summarise a research paper in five bullets")
    other = await _store(gateway_bus, "Summarise a paper")
    body = {"event_id": "evt-1", "rating": 5, "helpful": True, "chosen_over": other, "comment": "crisp"}
    async with http.post(f"/api/v1/prompts/{chosen}/feedback", json=body) as response:
        accepted = await _json(response, openapi_check, 202)
    assert accepted["event_id"] == "evt-1"
    assert accepted["duplicate"] is False
    async with http.post(f"/api/v1/prompts/{chosen}/feedback", json=body) as response:
        again = await _json(response, openapi_check, 202)
    assert again == {**accepted, "duplicate": True}

    consumer = await feedback_stream.consumer("gateway-test", ack_wait=30, max_deliver=3)
    deliveries = await consumer.fetch(10, timeout=5)
    events = [decode_delivery(LEARNING_FEEDBACK, delivery) for delivery in deliveries]
    await consumer.close()
    assert [(event.event_id, event.prompt_id, event.source, event.chosen_over) for event in events] == [
        ("evt-1", chosen, "http", other)
    ]
    # the server says who sent it and when
    assert events[0].origin == "address:127.0.0.1"
    assert events[0].created_at <= utc_now()


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"rating": 5}, 404, "no-such-prompt"),
        ({"comment": "no signal at all"}, 422, "at least one of"),
        ({"rating": 9}, 422, "rating"),
        ({"rating": 4, "source": "mcp"}, 422, "source"),
        ({"rating": 4, "prompt_id": "x"}, 422, "prompt_id"),
        # the attack of issue 13: one event dated 9999-12-31 pinned a prompt's relevance
        ({"rating": 1, "created_at": "9999-12-31T00:00:00Z"}, 422, "created_at"),
        ({"rating": 5, "origin": "key:someone-else"}, 422, "origin"),
        ({"rating": 5, "session_id": "tab\u0003"}, 422, "session_id"),
    ],
)
async def test_feedback_refusals(
    http: aiohttp.ClientSession,
    openapi_check: OpenApiCheck,
    gateway_bus: Bus,
    body: dict[str, Any],
    status: int,
    needle: str,
) -> None:
    target = "no-such-prompt" if status == 404 else await _store(gateway_bus, "a stored prompt")
    async with http.post(f"/api/v1/prompts/{target}/feedback", json=body) as response:
        error = await _json(response, openapi_check, status)
    assert needle in error["message"]


async def test_feedback_volume_is_limited_per_session_and_per_origin(
    start_gateway: GatewayFactory, gateway_bus: Bus, openapi_check: OpenApiCheck
) -> None:
    http = await start_gateway(HttpSettings(port=0, feedback_limits=FeedbackLimits(per_origin=4, per_session=2)))
    prompt_id = await _store(gateway_bus, "a stored prompt")
    url = f"/api/v1/prompts/{prompt_id}/feedback"
    for _ in range(2):
        async with http.post(url, json={"rating": 5, "session_id": "s1"}) as response:
            await _json(response, openapi_check, 202)
    async with http.post(url, json={"rating": 5, "session_id": "s1"}) as response:
        error = await _json(response, openapi_check, 429)
    assert error["details"]["limit"] == "session"
    # every attempt counts against the origin (4 a minute): another session gets the last one
    async with http.post(url, json={"rating": 5, "session_id": "s2"}) as response:
        await _json(response, openapi_check, 202)
    async with http.post(url, json={"rating": 5, "session_id": "s3"}) as response:
        error = await _json(response, openapi_check, 429)
    assert error["details"]["limit"] == "origin"
    assert "per origin" in error["message"]


@pytest.mark.parametrize(
    "field_value",
    [("usage_count", 2**63), ("usage_count", 7), ("rating_count", 3), ("mean_rating", 5.0), ("relevance_score", 1.0)],
)
async def test_patch_cannot_write_the_aggregates_only_learning_writes(
    http: aiohttp.ClientSession, gateway_bus: Bus, openapi_check: OpenApiCheck, field_value: tuple[str, Any]
) -> None:
    """Issue 13: PATCH set rating_count, mean_rating, usage_count and relevance_score directly
    (and usage_count >= 2**63 was a 500 on SQLite)."""
    name, value = field_value
    prompt_id = await _store(gateway_bus, "a stored prompt")
    async with http.patch(f"/api/v1/prompts/{prompt_id}", json={name: value}) as response:
        error = await _json(response, openapi_check, 422)
    assert name in error["message"]
    async with http.get(f"/api/v1/prompts/{prompt_id}") as response:
        record = (await _json(response, openapi_check, 200))["record"]
    assert (record["usage_count"], record["rating_count"], record["mean_rating"], record["relevance_score"]) == (
        0,
        0,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"tags": "\x03"}, "tags"),
        ({"provider": "open\x03ai"}, "provider"),
        ({"target_model": "\x03"}, "target_model"),
        ({"target_model": "gpt-4o'; ignore"}, "target_model"),
    ],
)
async def test_search_filters_with_control_characters_are_a_422(
    http: aiohttp.ClientSession, openapi_check: OpenApiCheck, query: dict[str, str], field: str
) -> None:
    """Issue 13: on Redis, ``?tags=%03`` was a RediSearch syntax error (500)."""
    async with http.get("/api/v1/prompts/search", params=query) as response:
        error = await _json(response, openapi_check, 422)
    assert field in error["message"]


async def test_a_forged_cursor_is_a_400_naming_the_cursor(
    http: aiohttp.ClientSession, gateway_bus: Bus, openapi_check: OpenApiCheck
) -> None:
    for text in ("first stored prompt", "second stored prompt"):
        await _store(gateway_bus, text)
    async with http.get("/api/v1/prompts/search", params={"limit": "1"}) as response:
        cursor = (await _json(response, openapi_check, 200))["next_cursor"]
    payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    forged = base64.urlsafe_b64encode(json.dumps({**payload, "k": 2**63}).encode()).decode().rstrip("=")
    async with http.get("/api/v1/prompts/search", params={"limit": "1", "cursor": forged}) as response:
        error = await _json(response, openapi_check, 400)
    assert error["details"]["field"] == "cursor"


async def test_feedback_to_an_unknown_alternative_is_a_404(
    http: aiohttp.ClientSession, gateway_bus: Bus, openapi_check: OpenApiCheck
) -> None:
    prompt_id = await _store(gateway_bus, "a stored prompt")
    body = {"rating": 4, "chosen_over": "missing-one"}
    async with http.post(f"/api/v1/prompts/{prompt_id}/feedback", json=body) as response:
        error = await _json(response, openapi_check, 404)
    assert error["details"]["field"] == "chosen_over"


async def test_feedback_is_accepted_while_storage_is_down(
    http: aiohttp.ClientSession, storage_service: ServiceRunner, openapi_check: OpenApiCheck
) -> None:
    await storage_service.stop()
    async with http.post("/api/v1/prompts/any-prompt/feedback", json={"rating": 3}) as response:
        accepted = await _json(response, openapi_check, 202)
    assert accepted["duplicate"] is False


async def test_health_names_the_missing_services(http: aiohttp.ClientSession, openapi_check: OpenApiCheck) -> None:
    async with http.get("/health") as response:
        report = await _json(response, openapi_check, 503)
    assert report["serving"] is False
    assert report["missing"] == ["engine", "providers", "learning"]
    storage = next(service for service in report["services"] if service["name"] == "storage")
    assert storage["status"] == "ok"
    assert len(storage["instances"]) == 1

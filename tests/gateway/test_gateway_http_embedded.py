"""Every HTTP operation against every real worker: the embedded runtime (in-memory bus, SQLite,
offline provider) behind the gateway on a random port. Each answer is validated against the
schema the served OpenAPI document gives for its status, and every documented operation is hit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import jsonschema
import pytest

from prompt_alchemy.gateway.http import HttpServer, HttpSettings, create_app
from prompt_alchemy.runtime.embedded import EmbeddedRuntime
from prompt_alchemy.schemas.common import Phase
from prompt_alchemy.schemas.engine import GenerateReply
from prompt_alchemy.schemas.events import GenerationProgress

SseReader = Callable[[aiohttp.ClientResponse], Awaitable[list[dict[str, str]]]]
Check = Callable[[aiohttp.ClientResponse, int], Awaitable[Any]]


@pytest.fixture
async def api(runtime: EmbeddedRuntime) -> AsyncIterator[aiohttp.ClientSession]:
    app = create_app(runtime.bus, runtime.feedback, HttpSettings(port=0))
    async with HttpServer(app, "127.0.0.1", 0) as server, aiohttp.ClientSession(base_url=server.url) as session:
        yield session


@pytest.fixture
async def document(api: aiohttp.ClientSession) -> dict[str, Any]:
    async with api.get("/openapi.json") as response:
        result: dict[str, Any] = await response.json()
    return result


@pytest.fixture
def called() -> set[tuple[str, str]]:
    return set()


@pytest.fixture
def check(document: dict[str, Any], called: set[tuple[str, str]]) -> Check:
    """Assert the status, validate the JSON body against the documented schema, note the operation."""

    def template_of(path: str) -> str:
        if path in document["paths"]:
            return path
        parts = path.split("/")
        for template in document["paths"]:
            pieces = template.split("/")
            if len(pieces) == len(parts) and all(
                a == b or a.startswith("{") for a, b in zip(pieces, parts, strict=True)
            ):
                return str(template)
        raise AssertionError(path)

    async def verify(response: aiohttp.ClientResponse, status: int) -> Any:
        body = await response.json()
        assert response.status == status, body
        template = template_of(response.url.path)
        called.add((response.method.lower(), template))
        responses = document["paths"][template][response.method.lower()]["responses"]
        schema = (responses.get(str(status)) or responses["default"])["content"]["application/json"]["schema"]
        jsonschema.Draft202012Validator({**schema, "components": document["components"]}).validate(body)
        return body

    return verify


async def test_every_operation_answers_as_documented(
    api: aiohttp.ClientSession, document: dict[str, Any], check: Check, called: set[tuple[str, str]]
) -> None:
    async with api.get("/health") as response:
        health = await check(response, 200)
    assert health["serving"] is True
    assert {service["name"] for service in health["services"]} == {"engine", "providers", "storage", "learning"}

    body = {"input": "a haiku about volcanoes", "count": 2, "tags": ["demo"]}
    async with api.post("/api/v1/prompts/generate", json=body) as response:
        generated = GenerateReply.model_validate(await check(response, 200))
    assert {prompt.phase for prompt in generated.prompts} == set(Phase)
    assert generated.best is not None
    assert generated.best.id is not None
    assert generated.offline
    best = generated.best.id
    first = next(prompt.id for prompt in generated.prompts if prompt.phase is Phase.PRIMA_MATERIA and prompt.id)

    async with api.get("/api/v1/prompts/search", params={"q": "volcano haiku", "tags": "demo"}) as response:
        found = await check(response, 200)
    assert best in [hit["record"]["id"] for hit in found["hits"]]
    async with api.get(f"/api/v1/prompts/{best}") as response:
        assert (await check(response, 200))["record"]["content"] == generated.best.content
    async with api.get(f"/api/v1/prompts/{best[:12]}") as response:  # a unique id prefix
        assert (await check(response, 200))["record"]["id"] == best
    async with api.post(
        "/api/v1/prompts/analyze", json={"input": "sql for the top 10 customers, postgres"}
    ) as response:
        brief = await check(response, 200)
    assert brief["persona"] == "code"
    assert brief["audience"] is None
    async with api.post("/api/v1/prompts/analyze", json={"input": ""}) as response:
        assert "input" in (await check(response, 422))["message"]
    async with api.get(f"/api/v1/prompts/{best}/lineage", params={"direction": "ancestors"}) as response:
        ancestors = (await check(response, 200))["ancestors"]
    assert ancestors
    async with api.patch(f"/api/v1/prompts/{best}", json={"tags": ["demo", "kept"]}) as response:
        assert (await check(response, 200))["record"]["tags"] == ["demo", "kept"]

    async with api.post(f"/api/v1/prompts/{best}/feedback", json={"rating": 5, "chosen_over": first}) as response:
        assert (await check(response, 202))["duplicate"] is False
    async with api.get("/api/v1/learning/stats") as response:
        await check(response, 200)
    async with api.get("/api/v1/learning/recommendations", params={"input": "a poem about volcanoes"}) as response:
        recommended = await check(response, 200)
    assert recommended["items"]

    async with api.post("/api/v1/prompts/optimize", json={"prompt_id": best, "max_iterations": 1}) as response:
        optimized = await check(response, 200)
    assert optimized["iterations"]
    items = [{"input": "a limerick about cats"}, {"input": "a sonnet about rain", "phases": ["coagulatio"]}]
    async with api.post("/api/v1/prompts/batch", json={"items": items, "concurrency": 2}) as response:
        batch = await check(response, 200)
    assert batch["succeeded"] == 2

    async with api.get("/api/v1/providers") as response:
        providers = await check(response, 200)
    offline = next(provider["name"] for provider in providers["providers"] if provider["offline"])
    async with api.post(f"/api/v1/providers/{offline}/test") as response:
        assert (await check(response, 200))["ok"] is True
    async with api.post("/api/v1/providers/no-such-provider/test", json={}) as response:
        await check(response, 404)

    # named prompts (issue 18): name, label, serve, history, stats
    async with api.post("/api/v1/registry/haiku/versions", json={"prompt_id": first}) as response:
        assert (await check(response, 200))["version"] == 1
    async with api.put("/api/v1/registry/haiku/labels/prod", json={"prompt_id": best, "reason": "rated 5"}) as response:
        assert (await check(response, 200))["moved"] is True
    async with api.get("/api/v1/registry/haiku", params={"label": "prod", "key": "user-1"}) as response:
        assert (await check(response, 200))["prompt_id"] == best
    async with api.get("/api/v1/registry/haiku/versions") as response:
        assert [version["prompt_id"] for version in (await check(response, 200))["versions"]] == [first, best]
    async with api.get("/api/v1/registry/haiku/history") as response:
        assert (await check(response, 200))["moves"][0]["reason"] == "rated 5"
    async with api.get("/api/v1/registry/haiku/stats", params={"label": "prod"}) as response:
        stats = await check(response, 200)
    assert [variant["weight"] for variant in stats["variants"]] == [0, 100]
    async with api.get("/api/v1/registry/haiku/stats", params={"label": "beta"}) as response:
        await check(response, 404)

    async with api.delete(f"/api/v1/prompts/{first}") as response:
        assert (await check(response, 200))["deleted"] is True
    async with api.get("/metrics") as response:
        assert response.status == 200
        assert "alchemy_http_requests_total" in await response.text()
    called.update({("get", "/metrics"), ("get", "/openapi.json")})  # not JSON models; fetched above

    documented = {(method, template) for template, item in document["paths"].items() for method in item}
    assert called == documented


async def test_generation_streams_every_phase_then_the_result(api: aiohttp.ClientSession, read_sse: SseReader) -> None:
    body = {"input": "a SQL query for monthly sales", "count": 2, "request_id": "sse-full-1"}
    async with api.post("/api/v1/prompts/generate", json=body, headers={"Accept": "text/event-stream"}) as response:
        assert response.status == 200
        events = await read_sse(response)
    assert [event["event"] for event in events[-1:]] == ["result"]
    assert {event["event"] for event in events[:-1]} == {"progress", "token"}  # the offline provider streams too
    progress = [GenerationProgress.model_validate_json(e["data"]) for e in events[:-1] if e["event"] == "progress"]
    assert [event.seq for event in progress] == list(range(len(progress)))
    kinds = [event.kind.value for event in progress]
    assert kinds[0] == "started"
    assert kinds[-1] == "completed"
    assert [event.phase for event in progress if event.kind == "phase_started"] == list(Phase)
    reply = GenerateReply.model_validate_json(events[-1]["data"])
    assert reply.request_id == "sse-full-1"
    assert reply.best is not None
    assert progress[-1].prompt_id == reply.best.id


async def test_a_reply_too_big_for_one_message_keeps_the_selected_prompts(api: aiohttp.ClientSession) -> None:
    """Schema-valid, near the limits: 10 chains x 3 phases of a 20,000-character idea (was a 413)."""
    body = {"input": "\u00fc" * 20_000, "count": 10, "save": False}
    async with api.post("/api/v1/prompts/generate", json=body) as response:
        assert response.status == 200, await response.text()
        reply = GenerateReply.model_validate(await response.json())
    assert reply.prompts == reply.selected
    assert reply.best is not None
    assert any("left out of prompts" in warning for warning in reply.warnings)
    # every phase's candidates of a 20,000-character idea: since the analyser carries the idea's
    # clauses into each prompt, 5 chains x 3 phases is what still fits one message once trimmed
    every = {**body, "input": "0" * 20_000, "count": 5, "phase_selection": "all"}
    async with api.post("/api/v1/prompts/generate", json=every) as response:
        assert response.status == 200, await response.text()
        reply = GenerateReply.model_validate(await response.json())
    assert reply.prompts == []
    assert len(reply.selected) == 15
    assert any("they are all in selected" in warning for warning in reply.warnings)


async def test_a_cached_generation_streams_started_completed_then_the_result(
    api: aiohttp.ClientSession, read_sse: SseReader
) -> None:
    body = {"input": "a limerick about a cat who codes", "count": 1}
    async with api.post("/api/v1/prompts/generate", json=body) as response:
        first = GenerateReply.model_validate(await response.json())
    assert not first.cached
    reworded = {**body, "input": "a limerick about the cat who codes"}
    async with api.post("/api/v1/prompts/generate", json=reworded, headers={"Accept": "text/event-stream"}) as response:
        assert response.status == 200
        events = await read_sse(response)
    assert [event["event"] for event in events] == ["progress", "progress", "result"]
    kinds = [GenerationProgress.model_validate_json(event["data"]).kind.value for event in events[:-1]]
    assert kinds == ["started", "completed"]
    reply = GenerateReply.model_validate_json(events[-1]["data"])
    assert (reply.cached, reply.cached_from) == (True, first.request_id)
    assert [prompt.id for prompt in reply.prompts] == [prompt.id for prompt in first.prompts]

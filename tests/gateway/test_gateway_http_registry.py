"""Named prompts over HTTP: serving by label from the gateway's cache, moves, splits, audit.

The workers run on one bus connection and each gateway on its own (on NATS: separate client
connections, as separate processes would have), on both buses.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from prompt_alchemy import schemas
from prompt_alchemy.bus import Bus
from prompt_alchemy.gateway.feedback import key_origin
from prompt_alchemy.gateway.http import HttpServer, HttpSettings, create_app
from prompt_alchemy.gateway.http.state import LABELS
from prompt_alchemy.gateway.label_cache import LabelCache
from prompt_alchemy.schemas.labels import LabelVariant, choose_variant
from prompt_alchemy.schemas.learning import FeedbackAccepted, FeedbackEvent
from prompt_alchemy.schemas.storage import StoreRequest
from prompt_alchemy.testing.waiting import eventually
from prompt_alchemy.workers.storage import SqlitePromptStore, WordLlamaEmbedder, build_storage_service

BusFactory = Callable[[], Awaitable[Bus]]
T = 10.0


async def _no_feedback(_event: FeedbackEvent) -> FeedbackAccepted:
    raise AssertionError("this test records no feedback")


@dataclass
class Gateway:
    session: aiohttp.ClientSession
    labels: LabelCache


@dataclass
class Registry:
    workers: Bus
    start_gateway: Callable[..., Awaitable[Gateway]]
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def store(self, content: str) -> str:
        return (await self.workers.request(schemas.STORAGE_STORE, StoreRequest(content=content), timeout=T)).id


@pytest.fixture
async def registry(bus_factory: BusFactory, tmp_path: Path) -> AsyncIterator[Registry]:
    workers = await bus_factory()
    store = SqlitePromptStore(tmp_path / "storage")
    storage = build_storage_service(workers, store, WordLlamaEmbedder())
    await storage.start()
    servers: list[HttpServer] = []
    sessions: list[aiohttp.ClientSession] = []

    async def start_gateway(settings: HttpSettings | None = None, headers: dict[str, str] | None = None) -> Gateway:
        app = create_app(await bus_factory(), _no_feedback, settings or HttpSettings(port=0))
        server = HttpServer(app, "127.0.0.1", 0)
        await server.start()
        servers.append(server)
        session = aiohttp.ClientSession(base_url=server.url, headers=headers)
        sessions.append(session)
        return Gateway(session, app[LABELS])

    yield Registry(workers, start_gateway)
    for session in sessions:
        await session.close()
    for server in servers:
        await server.stop()
    await storage.stop()
    await store.close()


async def call(session: aiohttp.ClientSession, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    async with session.request(method, path, **kwargs) as response:
        assert response.content_type == "application/json"
        return response.status, await response.json()


async def test_serving_by_label_and_moving_it(registry: Registry) -> None:
    gateway = await registry.start_gateway()
    first, second = await registry.store("Triage a support ticket"), await registry.store("Triage it, kindly")
    status, body = await call(
        gateway.session, "PUT", "/api/v1/registry/triage/labels/prod", json={"prompt_id": first, "reason": "launch"}
    )
    assert status == 200, body
    assert body["moved"] is True
    assert body["move"]["actor"] == "http"
    status, served = await call(gateway.session, "GET", "/api/v1/registry/triage", params={"label": "prod"})
    assert status == 200, served
    assert (served["version"], served["prompt_id"], served["content"]) == (1, first, "Triage a support ticket")
    status, named = await call(gateway.session, "POST", "/api/v1/registry/triage/versions", json={"prompt_id": second})
    assert (status, named["version"], named["created"]) == (200, 2, True)
    status, moved = await call(gateway.session, "PUT", "/api/v1/registry/triage/labels/prod", json={"version": 2})
    assert (status, moved["moved"]) == (200, True)
    # the default label is prod, and the move reached this gateway's cache through the event
    await eventually(  # the cache holds entries for 30 s otherwise
        lambda: call(gateway.session, "GET", "/api/v1/registry/triage"),
        lambda answer: answer[1]["version"] == 2,
        what="the move in this gateway's cache",
    )
    status, history = await call(gateway.session, "GET", "/api/v1/registry/triage/history", params={"label": "prod"})
    assert status == 200
    assert [(m["actor"], m["reason"], [v["version"] for v in m["to_variants"]]) for m in history["moves"]] == [
        ("http", None, [2]),
        ("http", "launch", [1]),
    ]


async def test_a_move_reaches_every_gateway_through_the_event(registry: Registry) -> None:
    one, two = await registry.start_gateway(), await registry.start_gateway()
    ids = [await registry.store(f"Summarise a meeting, take {index}") for index in range(2)]
    for prompt_id in ids:
        await call(one.session, "POST", "/api/v1/registry/summary/versions", json={"prompt_id": prompt_id})
    await call(one.session, "PUT", "/api/v1/registry/summary/labels/prod", json={"version": 1})
    for _ in range(3):
        assert (await call(two.session, "GET", "/api/v1/registry/summary"))[1]["version"] == 1
    assert (two.labels.stats.misses, two.labels.stats.hits) == (1, 2)
    await call(one.session, "PUT", "/api/v1/registry/summary/labels/prod", json={"version": 2})
    await eventually(  # entries would otherwise live 30 s
        lambda: call(two.session, "GET", "/api/v1/registry/summary"),
        lambda answer: answer[1]["version"] == 2,
        what="the move in the other gateway's cache",
    )
    assert two.labels.stats.invalidations >= 1


async def test_a_split_is_sticky_per_key_and_what_was_served_is_counted(registry: Registry) -> None:
    gateway = await registry.start_gateway()
    ids = [await registry.store(f"Welcome a new user, style {index}") for index in range(2)]
    for prompt_id in ids:
        await call(gateway.session, "POST", "/api/v1/registry/welcome/versions", json={"prompt_id": prompt_id})
    split = [LabelVariant(version=1, weight=90), LabelVariant(version=2, weight=10)]
    status, _ = await call(
        gateway.session,
        "PUT",
        "/api/v1/registry/welcome/labels/prod",
        json={"variants": [variant.model_dump() for variant in split]},
    )
    assert status == 200
    served: Counter[int] = Counter()
    for index in range(200):
        key = f"user-{index}"
        expected = choose_variant(split, name="welcome", label="prod", key=key).version
        for _ in range(2):
            status, body = await call(gateway.session, "GET", "/api/v1/registry/welcome", params={"key": key})
            assert status == 200
            assert (body["version"], body["prompt_id"], body["split"], body["key"]) == (
                expected,
                ids[expected - 1],
                True,
                key,
            )
            served[expected] += 1
    assert set(served) == {1, 2}
    await gateway.labels.report()
    status, named = await call(gateway.session, "GET", "/api/v1/registry/welcome/versions")
    assert status == 200
    assert named["labels"]["prod"]["served"] == {str(version): count for version, count in served.items()}


async def test_bad_requests_are_json_4xx_naming_the_problem(registry: Registry) -> None:
    gateway = await registry.start_gateway()
    prompt_id = await registry.store("Plan a sprint")
    await call(gateway.session, "PUT", "/api/v1/registry/sprint/labels/prod", json={"prompt_id": prompt_id})
    cases: list[tuple[str, str, dict[str, Any], int, str]] = [
        ("GET", "/api/v1/registry/nobody", {}, 404, "nobody"),
        ("GET", "/api/v1/registry/sprint", {"params": {"label": "canary"}}, 404, "canary"),
        ("GET", "/api/v1/registry/Not%20A%20Slug", {}, 422, "name"),
        ("GET", "/api/v1/registry/sprint", {"params": {"colour": "red"}}, 422, "colour"),
        (
            "PUT",
            "/api/v1/registry/sprint/labels/prod",
            {"json": {"version": 1, "prompt_id": prompt_id}},
            422,
            "exactly one",
        ),
        ("PUT", "/api/v1/registry/sprint/labels/prod", {"json": {"version": 1, "actor": "someone"}}, 422, "actor"),
        ("PUT", "/api/v1/registry/sprint/labels/prod", {"json": {"version": 1, "automatic": True}}, 422, "automatic"),
        ("PUT", "/api/v1/registry/sprint/labels/prod", {"json": {"version": 5}}, 404, "no version 5"),
        (
            "PUT",
            "/api/v1/registry/sprint/labels/prod",
            {"json": {"version": 1, "expected_revision": 0}},
            409,
            "revision",
        ),
        ("POST", "/api/v1/registry/sprint/versions", {"json": {"prompt_id": "missing"}}, 404, "missing"),
        ("GET", "/api/v1/registry/nobody/history", {}, 404, "nobody"),
    ]
    for method, path, kwargs, expected, needle in cases:
        status, body = await call(gateway.session, method, path, **kwargs)
        assert status == expected, (method, path, kwargs, body)
        assert needle in str(body), (needle, body)


async def test_the_actor_is_the_api_key_that_moved_the_label(registry: Registry) -> None:
    settings = HttpSettings(port=0, api_keys=("first-key-000000", "second-key-00000"))
    gateway = await registry.start_gateway(settings, headers={"Authorization": "Bearer second-key-00000"})
    prompt_id = await registry.store("Draft a changelog")
    status, body = await call(gateway.session, "PUT", "/api/v1/registry/log/labels/prod", json={"prompt_id": prompt_id})
    assert status == 200, body
    status, named = await call(gateway.session, "GET", "/api/v1/registry/log/versions")
    actor = key_origin("second-key-00000")  # the key's fingerprint, as feedback origins: never the key
    assert named["versions"][0]["added_by"] == actor
    status, history = await call(gateway.session, "GET", "/api/v1/registry/log/history")
    assert [move["actor"] for move in history["moves"]] == [actor]
    assert "second-key-00000" not in str(history)
    async with aiohttp.ClientSession(base_url=str(gateway.session._base_url)) as anonymous:
        status, _ = await call(anonymous, "GET", "/api/v1/registry/log")
        assert status == 401

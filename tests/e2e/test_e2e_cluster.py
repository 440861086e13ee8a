"""Microservice mode end to end: every worker its own OS process on a real nats-server and Redis.

Two generation replicas, providers, storage, learning and the HTTP gateway, each a
``prompt-alchemy`` process; the vendor is the fake OpenAI server. One scenario, in order:
generate / search / feedback over HTTP with one trace id visible in every hop's log; restart
the learning worker between two feedback bursts (the second sent while it is down) and lose
nothing; SIGKILL one generation replica while 100 generate requests are in flight — every one
is answered before its deadline (success, or a retriable 503/504), and then the survivor
answers everything; finally SIGTERM stops every process with exit code 0.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from prompt_alchemy.bus import NatsBus
from prompt_alchemy.bus.discovery import discover_pings
from prompt_alchemy.runtime.child_process import ChildProcess
from prompt_alchemy.runtime.local_cluster import ClusterLayout, LocalCluster
from prompt_alchemy.runtime.settings import ServiceType
from prompt_alchemy.schemas.engine import GeneratedPrompt, GenerateReply
from prompt_alchemy.schemas.learning import FeedbackAccepted, LearningStats
from prompt_alchemy.schemas.storage import GetReply, SearchReply
from prompt_alchemy.testing.servers import NatsServer, RedisServer
from prompt_alchemy.testing.vendors import FakeResponse, FakeVendorServer, Route

pytestmark = pytest.mark.slow

REQUEST_TIMEOUT_S = 15.0  # the gateway's deadline for each bus request
CLIENT_DEADLINE_S = REQUEST_TIMEOUT_S + 15.0  # an HTTP caller's patience: an answer must come before it
IN_FLIGHT = 100
VENDOR_DELAY_S = 0.5
BURST = 10
WAIT_S = 60.0


@pytest.fixture
async def cluster(
    tmp_path: Path,
    private_nats_server: NatsServer,
    private_redis_server: RedisServer,
    child_env: Callable[..., dict[str, str]],
    vendor_env: dict[str, str],
) -> AsyncIterator[LocalCluster]:
    env = child_env(REQUEST_TIMEOUT=str(REQUEST_TIMEOUT_S), LOG_LEVEL="DEBUG", **vendor_env)
    cluster = LocalCluster(
        nats_url=private_nats_server.url,
        redis_url=private_redis_server.url,
        data_dir=tmp_path / "cluster",
        env=env,
        layout=ClusterLayout(generation_replicas=2, mcp=False),
    )
    await cluster.start()
    try:
        yield cluster
    finally:
        await cluster.stop()


@pytest.fixture
async def observer(private_nats_server: NatsServer) -> AsyncIterator[NatsBus]:
    """The test's own NATS connection, for ADR-32 discovery."""
    bus = await NatsBus.connect(private_nats_server.url)
    yield bus
    await bus.drain()


def traceparent(trace_id: str) -> str:
    return f"00-{trace_id}-{secrets.token_hex(8)}-01"


async def post_generate(
    http: aiohttp.ClientSession, api: str, idea: str, *, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    body = {"input": idea, "count": 1, "phases": ["coagulatio"]}
    timeout = aiohttp.ClientTimeout(total=CLIENT_DEADLINE_S)
    async with http.post(f"{api}/prompts/generate", json=body, headers=headers, timeout=timeout) as response:
        return response.status, await response.json()


async def status_of(http: aiohttp.ClientSession, url: str) -> int:
    async with http.get(url) as response:
        return response.status


async def get_json(http: aiohttp.ClientSession, url: str, **params: str) -> Any:
    async with http.get(url, params=params) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def send_feedback(
    http: aiohttp.ClientSession, api: str, prompt_id: str, body: dict[str, Any]
) -> FeedbackAccepted:
    async with http.post(f"{api}/prompts/{prompt_id}/feedback", json=body) as response:
        assert response.status == 202, await response.text()
        return FeedbackAccepted.model_validate(await response.json())


async def learning_stats(http: aiohttp.ClientSession, api: str) -> LearningStats:
    return LearningStats.model_validate(await get_json(http, f"{api}/learning/stats"))


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(http: aiohttp.ClientSession, url: str) -> Samples:
    async with http.get(url) as response:
        text = await response.text()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def metric(samples: Samples, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples that carry ``labels``."""
    wanted = set(labels.items())
    return sum(
        value for (sample, sample_labels), value in samples.items() if sample == name and wanted <= sample_labels
    )


def traced(process: ChildProcess, trace_id: str) -> bool:
    """Whether ``process`` wrote a log line carrying ``trace_id`` (RequestLog writes one per request)."""
    try:
        lines = process.stderr_path.read_text().splitlines()
    except OSError:
        return False
    return any(json.loads(line).get("trace_id") == trace_id for line in lines if line.startswith("{"))


async def instance_id(process: ChildProcess) -> str:
    return (await process.wait_for(r"engine instance (?P<id>\w+)", timeout=WAIT_S))["id"]


async def test_cluster_serves_survives_a_killed_replica_and_loses_no_feedback(
    cluster: LocalCluster,
    vendor: FakeVendorServer,
    http: aiohttp.ClientSession,
    observer: NatsBus,
    eventually: Callable[..., Awaitable[Any]],
) -> None:
    assert cluster.http_url is not None
    api = f"{cluster.http_url}/api/v1"
    replicas = cluster.workers[ServiceType.GENERATION]
    await eventually(
        lambda: discover_pings(observer, "engine", expected=2, wait=1.0),
        lambda pings: len(pings) == 2,
        timeout=WAIT_S,
        what="both generation replicas in discovery",
    )
    await eventually(
        lambda: status_of(http, f"{cluster.http_url}/health"), lambda code: code == 200, timeout=WAIT_S, what="/health"
    )

    # -- one request across every hop, one trace ------------------------------------------------
    trace_id = secrets.token_hex(16)
    vendor.script(Route.OPENAI_CHAT, FakeResponse.ok("You are a sommelier. Write a tasting note for a volcanic white."))
    status, body = await post_generate(
        http, api, "a tasting note for a volcanic white wine", headers={"traceparent": traceparent(trace_id)}
    )
    assert status == 200, body
    best = GenerateReply.model_validate(body).best
    assert isinstance(best, GeneratedPrompt)
    assert best.id is not None
    assert best.saved
    assert best.provider == "openai"
    found = SearchReply.model_validate(await get_json(http, f"{api}/prompts/search", q="volcanic white wine"))
    assert best.id in [hit.record.id for hit in found.hits]
    hops = [*replicas, cluster.workers[ServiceType.PROVIDERS][0], cluster.workers[ServiceType.STORAGE][0]]

    async def traced_hops() -> list[str]:
        return [process.name for process in hops if traced(process, trace_id)]

    await eventually(
        traced_hops,
        lambda names: len(names) == 3,  # one engine replica, providers, storage
        timeout=WAIT_S,
        what=f"trace {trace_id} in the engine, providers and storage logs",
    )

    # -- feedback: burst, restart learning, burst while it is down: nothing lost ---------------
    for rating in range(BURST):
        assert not (await send_feedback(http, api, best.id, {"rating": rating % 5 + 1})).duplicate
    await eventually(
        lambda: learning_stats(http, api), lambda s: s.events_processed == BURST, timeout=WAIT_S, what="burst 1"
    )
    learning = cluster.workers[ServiceType.LEARNING][0]
    assert await learning.terminate() == 0
    accepted = [await send_feedback(http, api, best.id, {"rating": 5, "helpful": True}) for _ in range(BURST)]
    resent = await send_feedback(http, api, best.id, {"rating": 5, "event_id": accepted[0].event_id})
    assert resent.duplicate
    await cluster.start_worker(ServiceType.LEARNING)
    stats = await eventually(
        lambda: learning_stats(http, api),
        lambda s: s.events_processed == 2 * BURST,
        timeout=WAIT_S,
        what="every feedback event applied after the restart",
    )
    assert stats.duplicates == 0  # acked before the restart: nothing came back twice
    assert stats.rating_distribution["5"] == 2 + BURST
    record = await eventually(
        lambda: get_json(http, f"{api}/prompts/{best.id}"),
        lambda reply: GetReply.model_validate(reply).record.rating_count == 2 * BURST,
        timeout=WAIT_S,
        what="the prompt's aggregates in storage",
    )
    assert GetReply.model_validate(record).record.mean_rating is not None

    # -- SIGKILL one replica with 100 generate requests in flight -------------------------------
    victim, survivor = replicas
    survivor_id = await instance_id(survivor)
    victim_metrics = await cluster.metrics_url(victim)
    vendor.script(Route.OPENAI_CHAT, *[FakeResponse.ok().delayed(VENDOR_DELAY_S)] * (2 * IN_FLIGHT))
    requests = [
        asyncio.create_task(post_generate(http, api, f"idea number {n} for a slow vendor")) for n in range(IN_FLIGHT)
    ]
    await eventually(
        lambda: scrape(http, victim_metrics),
        lambda samples: metric(samples, "alchemy_bus_requests_in_flight", subject="alchemy.v1.engine.generate") >= 5,
        timeout=WAIT_S,
        what="the victim replica handling generate requests",
    )
    assert await victim.kill() == -9
    outcomes = await asyncio.gather(*requests, return_exceptions=True)

    hung = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    assert not hung, f"{len(hung)} requests got no answer before their deadline: {hung[:3]}"
    answers = [outcome for outcome in outcomes if not isinstance(outcome, BaseException)]
    succeeded = [body for status, body in answers if status == 200]
    failed = [(status, body) for status, body in answers if status != 200]
    for status, body in failed:
        assert status in (503, 504), body
        assert body["retriable"] is True, body
    assert succeeded, "the surviving replica answered nothing"
    assert failed, "the killed replica had requests in flight: they must fail clearly, not vanish"
    print(f"\n{IN_FLIGHT} in flight at the kill: {len(succeeded)} succeeded, {len(failed)} retriable errors")

    pings = await discover_pings(observer, "engine", expected=2, wait=1.0)
    assert [ping.id for ping in pings] == [survivor_id]
    after = await asyncio.gather(*(post_generate(http, api, f"after the crash {n}") for n in range(10)))
    assert [status for status, _ in after] == [200] * 10

    # -- metrics of each worker, on its own port -------------------------------------------------
    providers = await scrape(http, await cluster.metrics_url(cluster.workers[ServiceType.PROVIDERS][0]))
    assert metric(providers, "alchemy_provider_tokens_total", provider="openai", direction="output") > 0
    assert metric(providers, "alchemy_provider_completions_total", provider="openai") >= len(succeeded) + 11
    assert metric(providers, "alchemy_provider_circuit_state", provider="openai", state="closed") == 1
    storage = await scrape(http, await cluster.metrics_url(cluster.workers[ServiceType.STORAGE][0]))
    assert metric(storage, "alchemy_storage_prompts") >= 1
    assert metric(storage, "alchemy_bus_requests_total", subject="alchemy.v1.storage.store") >= len(succeeded) + 11
    restarted = cluster.workers[ServiceType.LEARNING][-1]
    learned = await scrape(http, await cluster.metrics_url(restarted))
    assert metric(learned, "alchemy_learning_feedback_processed") == 2 * BURST

    # -- SIGTERM: every remaining process drains and exits 0 -------------------------------------
    codes = await cluster.stop()
    assert codes.pop(victim.name) == -9
    assert codes == {process.name: 0 for process in cluster.processes if process is not victim}

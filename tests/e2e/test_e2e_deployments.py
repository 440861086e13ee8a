"""Both deployment modes end to end, as OS processes of ``prompt-alchemy``; the vendor is the fake OpenAI server.

Microservice mode: two generation replicas, providers, storage, learning and the HTTP gateway,
each its own process on a real nats-server and Redis. One scenario, in order: generate / search
/ feedback over HTTP with one trace id visible in every hop's log; restart the learning worker
between two feedback bursts (the second sent while it is down) and lose nothing; SIGKILL one
generation replica while 100 generate requests are in flight — what it held is resent to the
survivor (responder liveness), so all but at most one succeed, none waits out its deadline;
finally SIGTERM stops every process with exit code 0.

Monolithic mode: the same functional checks on one ``serve --all`` process (HTTP and MCP),
a SIGTERM with requests in flight (it stops listening at once, answers them, exits 0), and a
restart on the same data dir between feedback bursts.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from mcp import Client
from prometheus_client.parser import text_string_to_metric_families

from prompt_alchemy.bus import NatsBus
from prompt_alchemy.bus.discovery import discover_pings
from prompt_alchemy.runtime.child_process import ChildProcess
from prompt_alchemy.runtime.local_cluster import LocalCluster
from prompt_alchemy.runtime.settings import ServiceType
from prompt_alchemy.schemas.engine import GeneratedPrompt, GenerateReply
from prompt_alchemy.schemas.learning import FeedbackAccepted, LearningStats
from prompt_alchemy.schemas.storage import GetReply, SearchReply
from prompt_alchemy.testing.vendors import FakeResponse, FakeVendorServer, Route

pytestmark = pytest.mark.slow

REQUEST_TIMEOUT_S = 15.0  # the gateway's deadline for each bus request
CLIENT_DEADLINE_S = REQUEST_TIMEOUT_S + 15.0  # an HTTP caller's patience: an answer must come before it
IN_FLIGHT = 100
VENDOR_DELAY_S = 0.5
BURST = 10
VOTES_PER_ORIGIN = 3  # LEARNING_VOTES_PER_ORIGIN's default
WAIT_S = 60.0


@pytest.fixture
async def cluster(
    two_replica_cluster: Callable[[dict[str, str]], Awaitable[LocalCluster]],
    child_env: Callable[..., dict[str, str]],
    vendor_env: dict[str, str],
) -> LocalCluster:
    env = child_env(REQUEST_TIMEOUT=str(REQUEST_TIMEOUT_S), LOG_LEVEL="DEBUG", **vendor_env)
    return await two_replica_cluster(env)


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


async def generate_saved_and_found(
    http: aiohttp.ClientSession, api: str, idea: str, *, query: str, trace_id: str
) -> GeneratedPrompt:
    """Generate over HTTP (vendor: the fake OpenAI), check the best prompt was saved, find it again."""
    status, body = await post_generate(http, api, idea, headers={"traceparent": traceparent(trace_id)})
    assert status == 200, body
    best = GenerateReply.model_validate(body).best
    assert isinstance(best, GeneratedPrompt)
    assert best.id is not None
    assert best.saved
    assert best.provider == "openai"
    found = SearchReply.model_validate(await get_json(http, f"{api}/prompts/search", q=query))
    assert best.id in [hit.record.id for hit in found.hits]
    return best


STREAMED = "You are a lighthouse keeper. Log every ship that passes, with its flag, its heading and the hour."


async def streamed_generation(http: aiohttp.ClientSession, api: str, idea: str) -> tuple[list[str], GenerateReply]:
    """Generate over SSE; the ``token`` deltas in arrival order and the result (the vendor streams STREAMED)."""
    body = {"input": idea, "count": 1, "phases": ["coagulatio"], "save": False}
    headers = {"Accept": "text/event-stream"}
    deltas: list[str] = []
    event, result = "", None
    timeout = aiohttp.ClientTimeout(total=CLIENT_DEADLINE_S)
    async with http.post(f"{api}/prompts/generate", json=body, headers=headers, timeout=timeout) as response:
        async for raw in response.content:
            line = raw.decode().rstrip("\r\n")
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event == "token":
                data = json.loads(line.removeprefix("data: "))
                assert (data["phase"], data["chain"]) == ("coagulatio", 0)
                deltas.append(data["delta"])
            elif line.startswith("data: ") and event == "result":
                result = GenerateReply.model_validate_json(line.removeprefix("data: "))
    assert result is not None, f"no result event (last event: {event})"
    return deltas, result


async def assert_tokens_stream_across_processes(
    http: aiohttp.ClientSession, api: str, vendor: FakeVendorServer
) -> None:
    vendor.script(Route.OPENAI_CHAT, FakeResponse.ok(STREAMED).streamed(0.01))
    deltas, reply = await streamed_generation(http, api, "a logbook for a lighthouse")
    assert len(deltas) >= 2  # the text came in pieces, as the vendor wrote it
    assert "".join(deltas) == STREAMED == reply.prompts[0].content


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
        what="both generation replicas in discovery",
    )
    await eventually(lambda: status_of(http, f"{cluster.http_url}/health"), lambda code: code == 200, what="/health")

    # -- one request across every hop, one trace ------------------------------------------------
    trace_id = secrets.token_hex(16)
    vendor.script(Route.OPENAI_CHAT, FakeResponse.ok("You are a sommelier. Write a tasting note for a volcanic white."))
    best = await generate_saved_and_found(
        http, api, "a tasting note for a volcanic white wine", query="volcanic white wine", trace_id=trace_id
    )
    hops = [*replicas, cluster.workers[ServiceType.PROVIDERS][0], cluster.workers[ServiceType.STORAGE][0]]
    await assert_tokens_stream_across_processes(http, api, vendor)  # providers -> NATS -> serve api -> SSE

    async def traced_hops() -> list[str]:
        return [process.name for process in hops if traced(process, trace_id)]

    await eventually(
        traced_hops,
        lambda names: len(names) == 3,  # one engine replica, providers, storage
        what=f"trace {trace_id} in the engine, providers and storage logs",
    )

    # -- feedback: burst, restart learning, burst while it is down: nothing lost ---------------
    # one client, each event from its own session: all durable, at most VOTES_PER_ORIGIN of them count
    for rating in range(BURST):
        body = {"rating": rating % 5 + 1, "session_id": f"first-{rating}"}
        assert not (await send_feedback(http, api, best.id, body)).duplicate
    await eventually(lambda: learning_stats(http, api), lambda s: s.events_processed == BURST, what="burst 1")
    learning = cluster.workers[ServiceType.LEARNING][0]
    assert await learning.terminate() == 0
    accepted = [
        await send_feedback(http, api, best.id, {"rating": 5, "helpful": True, "session_id": f"second-{index}"})
        for index in range(BURST)
    ]
    resent = await send_feedback(http, api, best.id, {"rating": 5, "event_id": accepted[0].event_id})
    assert resent.duplicate
    await cluster.start_worker(ServiceType.LEARNING)
    stats = await eventually(
        lambda: learning_stats(http, api),
        lambda s: s.events_processed == 2 * BURST,
        what="every feedback event applied after the restart",
    )
    assert stats.duplicates == 0  # acked before the restart: nothing came back twice
    # one origin's influence on a prompt is bounded: the first VOTES_PER_ORIGIN sessions count
    assert stats.rating_distribution == {"1": 1, "2": 1, "3": 1}
    assert stats.ignored_votes == 2 * BURST - VOTES_PER_ORIGIN
    record = await eventually(
        lambda: get_json(http, f"{api}/prompts/{best.id}"),
        lambda reply: GetReply.model_validate(reply).record.rating_count == VOTES_PER_ORIGIN,
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
    assert len(succeeded) >= IN_FLIGHT - 1, "what the killed replica held is resent to the survivor"
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
    batches = metric(storage, "alchemy_bus_requests_total", subject="alchemy.v1.storage.store_batch")
    assert batches >= len(succeeded) + 11  # one per generation: its candidates in one request
    restarted = cluster.workers[ServiceType.LEARNING][-1]
    learned = await scrape(http, await cluster.metrics_url(restarted))
    assert metric(learned, "alchemy_learning_feedback_processed") == 2 * BURST

    # -- SIGTERM: every remaining process drains and exits 0 -------------------------------------
    codes = await cluster.stop()
    assert codes.pop(victim.name) == -9
    assert codes == {process.name: 0 for process in cluster.processes if process is not victim}


# -- monolithic mode -------------------------------------------------------------------------------

HTTP_LINE = r"^HTTP API on (?P<url>http://\S+)/api/v1"
MCP_LINE = r"^MCP \(streamable HTTP\) on (?P<url>http://\S+)"
SERVING_LINE = r"^prompt-alchemy serving \(monolithic: providers, storage, learning, engine\)"
SLOW_VENDOR_S = 5.0  # long enough that a SIGTERM surely lands while these requests are in flight


@pytest.fixture
async def monoliths() -> AsyncIterator[list[ChildProcess]]:
    """Every ``serve --all`` process a test starts; teardown stops the ones still running."""
    started: list[ChildProcess] = []
    yield started
    for process in started:
        if process.started:
            await process.terminate()


async def start_monolith(
    started: list[ChildProcess], env: dict[str, str], data_dir: Path, log_dir: Path
) -> tuple[ChildProcess, str, str]:
    args = ["serve", "--all", "--http-port", "0", "--mcp-port", "0", "--data-dir", str(data_dir)]
    process = ChildProcess(f"monolith-{len(started) + 1}", args, env=env, log_dir=log_dir)
    started.append(process)
    await process.start()
    http_url = (await process.wait_for(HTTP_LINE, timeout=WAIT_S))["url"]
    mcp_url = (await process.wait_for(MCP_LINE, timeout=WAIT_S))["url"]
    await process.wait_for(SERVING_LINE, timeout=WAIT_S)
    return process, http_url, mcp_url


def traced_subjects(process: ChildProcess, trace_id: str) -> set[str]:
    lines = [json.loads(line) for line in process.stderr_path.read_text().splitlines() if line.startswith("{")]
    return {line["subject"] for line in lines if line.get("trace_id") == trace_id and "subject" in line}


async def refused(port: int) -> bool:
    """Whether a new TCP connection to ``port`` is refused (the listener is closed)."""
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except ConnectionRefusedError:
        return True
    writer.close()
    await writer.wait_closed()
    return False


async def test_monolith_serves_drains_on_sigterm_and_keeps_feedback_across_a_restart(
    tmp_path: Path,
    monoliths: list[ChildProcess],
    child_env: Callable[..., dict[str, str]],
    vendor_env: dict[str, str],
    vendor: FakeVendorServer,
    http: aiohttp.ClientSession,
    eventually: Callable[..., Awaitable[Any]],
) -> None:
    env = child_env(LOG_LEVEL="DEBUG", **vendor_env)
    data_dir, log_dir = tmp_path / "data", tmp_path / "logs"
    process, http_url, mcp_url = await start_monolith(monoliths, env, data_dir, log_dir)
    api = f"{http_url}/api/v1"
    health = await get_json(http, f"{http_url}/health")
    assert {service["name"]: service["status"] for service in health["services"]} == {
        "engine": "ok", "providers": "ok", "storage": "ok", "learning": "ok",
    }  # fmt: skip

    # -- generate, search, feedback; one trace across the in-process hops ------------------------
    trace_id = secrets.token_hex(16)
    vendor.script(Route.OPENAI_CHAT, FakeResponse.ok("You are a cartographer. Draw a map of a tidal island."))
    best = await generate_saved_and_found(
        http, api, "a map of a tidal island for a fantasy novel", query="tidal island map", trace_id=trace_id
    )
    assert {"alchemy.v1.engine.generate", "alchemy.v1.providers.complete_batch", "alchemy.v1.storage.store_batch"} <= (
        traced_subjects(process, trace_id)
    )
    for rating in (3, 4, 5, 4, 5):
        await send_feedback(http, api, best.id, {"rating": rating})
    await eventually(lambda: learning_stats(http, api), lambda s: s.events_processed == 5, what="feedback applied")

    # -- the MCP door of the same process --------------------------------------------------------
    async with Client(mcp_url, read_timeout_seconds=60) as client:
        result = await client.call_tool("get_learning_stats", {})
        assert not result.is_error
        assert LearningStats.model_validate(result.structured_content).events_processed == 5
        result = await client.call_tool("search_prompts", {"query": "tidal island map"})
        assert not result.is_error
        assert best.id in [hit.record.id for hit in SearchReply.model_validate(result.structured_content).hits]

    # -- one /metrics for the whole process: HTTP, bus, providers, stores --------------------------
    samples = await eventually(
        lambda: scrape(http, f"{http_url}/metrics"),
        lambda found: metric(found, "alchemy_learning_feedback_processed") == 5,
        what="the learning numbers in /metrics",
    )
    assert metric(samples, "alchemy_http_requests_total", route="/api/v1/prompts/generate", status="200") == 1
    assert metric(samples, "alchemy_bus_requests_total", subject="alchemy.v1.engine.generate", code="200") == 1
    assert metric(samples, "alchemy_provider_tokens_total", provider="openai", direction="input") > 0
    assert metric(samples, "alchemy_storage_prompts") >= 1
    await assert_tokens_stream_across_processes(http, api, vendor)  # after the counts above

    # -- SIGTERM with requests in flight: stop listening at once, answer them, exit 0 --------------
    vendor.script(Route.OPENAI_CHAT, *[FakeResponse.ok().delayed(SLOW_VENDOR_S)] * 5)
    before = len(vendor.requests)
    in_flight = [asyncio.create_task(post_generate(http, api, f"a slow idea {n}")) for n in range(5)]
    await vendor.wait_for_requests(before + 5, timeout=WAIT_S)
    process.send_signal(signal.SIGTERM)
    port = int(http_url.rsplit(":", 1)[1])
    await eventually(lambda: refused(port), bool, what="the HTTP listener closed")
    assert not any(task.done() for task in in_flight), "the listener must close before the drain, not after"
    assert [status for status, _ in await asyncio.gather(*in_flight)] == [200] * 5
    assert await process.wait() == 0
    assert process.lines[-2:] == ["shutting down: draining in-flight requests", "stopped"]

    # -- restart on the same data dir: the prompt and the feedback are still there ---------------
    _, http_url, _ = await start_monolith(monoliths, env, data_dir, log_dir)
    api = f"{http_url}/api/v1"
    for rating in (1, 2, 3, 4, 5):
        await send_feedback(http, api, best.id, {"rating": rating})
    await eventually(lambda: learning_stats(http, api), lambda s: s.events_processed == 10, what="both bursts")
    record = await get_json(http, f"{api}/prompts/{best.id}")
    assert GetReply.model_validate(record).record.content == best.content

"""Losing any one server of the HA topology loses nothing: the multi-process proof.

The topology of ``prompt-alchemy cluster --ha`` as OS processes: three clustered nats-servers
(feedback streams at R3), a Redis primary + replica watched by three Sentinels (writes confirmed on
the replica), two engine replicas, providers, storage, learning and the HTTP API, with the fake
OpenAI vendor. During a burst of 3,000 HTTP feedback events and continuous generates:

- NATS: the node the API is connected to is SIGKILLed, restarted, then the feedback stream's
  leader is SIGKILLed (one node lost at a time: a majority always remains);
- Redis: the primary is SIGKILLed; Sentinel promotes the replica, the old primary comes back as
  its replica.

Every accepted feedback event is applied exactly once (learning's stats), every generate is
answered (200, or a retriable error and then 200 on a resend), every prompt whose store was
acknowledged (``saved: true``) is found by get and by search afterwards, and no worker or door
was restarted: each reconnected by itself.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import nats
import pytest

from prompt_alchemy.runtime.child_process import ChildProcess
from prompt_alchemy.runtime.local_cluster import ClusterLayout, LocalCluster
from prompt_alchemy.schemas.engine import GenerateReply
from prompt_alchemy.schemas.learning import FeedbackAccepted, LearningStats
from prompt_alchemy.schemas.storage import GetReply, SearchReply
from prompt_alchemy.testing.nats_cluster import NatsCluster
from prompt_alchemy.testing.redis_sentinel import RedisSentinelGroup
from prompt_alchemy.testing.waiting import eventually

pytestmark = pytest.mark.slow

EVENTS = 3000
FEEDBACK_CLIENTS = 24
GENERATE_CLIENTS = 3
SEED_PROMPTS = 8
WAIT_S = 90.0
RETRY_PAUSE_S = 0.05
TAG = "ha-run"


@pytest.fixture
async def ha_cluster(
    tmp_path: Path,
    nats_cluster: NatsCluster,
    redis_sentinel_group: RedisSentinelGroup,
    child_env: Callable[..., dict[str, str]],
    vendor_env: dict[str, str],
) -> AsyncIterator[LocalCluster]:
    env = child_env(
        REQUEST_TIMEOUT="20",
        SHUTDOWN_TIMEOUT="20",
        STREAM_REPLICAS="3",
        REDIS_SENTINELS=",".join(redis_sentinel_group.sentinels),
        REDIS_SENTINEL_SERVICE=redis_sentinel_group.service,
        REDIS_WAIT_REPLICAS="1",
        # 3,000 events from one origin in seconds: the per-origin limits are not what this test is about
        FEEDBACK_PER_MINUTE="0",
        FEEDBACK_PER_SESSION_PER_MINUTE="0",
        **vendor_env,
    )
    cluster = LocalCluster(
        nats_url=nats_cluster.url,
        redis_url=None,
        data_dir=tmp_path / "cluster",
        env=env,
        layout=ClusterLayout(generation_replicas=2, mcp=False),
    )
    await cluster.start()
    try:
        yield cluster
    finally:
        await cluster.stop()


def retriable(status: int, body: Any) -> bool:
    return status in (502, 503, 504) and isinstance(body, dict) and body.get("retriable") is True


@dataclass
class Traffic:
    """Feedback and generate clients that resend what failed retriably until it is answered."""

    http: aiohttp.ClientSession
    api: str
    prompt_ids: list[str]
    accepted: set[str] = field(default_factory=set)
    retried_feedback: int = 0
    generated: list[GenerateReply] = field(default_factory=list)
    retried_generates: int = 0
    stop_generating: asyncio.Event = field(default_factory=asyncio.Event)
    progress: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def _progressed(self) -> None:
        async with self.progress:
            self.progress.notify_all()

    async def until(self, condition: Callable[[], bool]) -> None:
        """Until ``condition`` holds, re-checked whenever a client gets an answer."""
        async with asyncio.timeout(WAIT_S), self.progress:
            await self.progress.wait_for(condition)

    async def until_accepted(self, count: int) -> None:
        await self.until(lambda: len(self.accepted) >= count)

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        try:
            async with self.http.post(
                f"{self.api}{path}", json=body, timeout=aiohttp.ClientTimeout(total=60)
            ) as response:
                return response.status, await response.json()
        except (aiohttp.ClientError, TimeoutError) as error:  # the API process itself is never killed here
            pytest.fail(f"POST {path}: {error!r}")

    async def feedback(self, index: int) -> None:
        event_id = f"ha-{index}-{uuid.uuid4().hex[:8]}"
        body = {"rating": index % 5 + 1, "event_id": event_id, "session_id": f"session-{index % 50}"}
        prompt_id = self.prompt_ids[index % len(self.prompt_ids)]
        while True:
            status, reply = await self.post(f"/prompts/{prompt_id}/feedback", body)
            if status == 202:
                assert FeedbackAccepted.model_validate(reply).event_id == event_id
                self.accepted.add(event_id)
                await self._progressed()
                return
            assert retriable(status, reply), (status, reply)
            self.retried_feedback += 1
            await asyncio.sleep(RETRY_PAUSE_S)  # not synchronisation: the pause before a resend

    async def burst(self, count: int) -> None:
        queue = iter(range(count))

        async def client() -> None:
            for index in queue:
                await self.feedback(index)

        await asyncio.gather(*(client() for _ in range(FEEDBACK_CLIENTS)))

    async def generate(self, idea: str) -> GenerateReply:
        body = {"input": idea, "count": 1, "phases": ["coagulatio"], "tags": [TAG]}
        while True:
            status, reply = await self.post("/prompts/generate", body)
            if status == 200:
                return GenerateReply.model_validate(reply)
            assert retriable(status, reply), (status, reply)
            self.retried_generates += 1
            await asyncio.sleep(RETRY_PAUSE_S)  # not synchronisation: the pause before a resend

    async def keep_generating(self, client: int) -> None:
        n = 0
        while not self.stop_generating.is_set():
            self.generated.append(await self.generate(f"client {client} idea {n} about resilient systems"))
            await self._progressed()
            n += 1


async def get_json(http: aiohttp.ClientSession, url: str, **params: str) -> Any:
    async with http.get(url, params=params) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def applied(http: aiohttp.ClientSession, api: str, count: int) -> LearningStats:
    """Learning's stats once ``count`` events are applied (then a few more polls: nothing beyond it)."""

    async def stats() -> LearningStats:
        found = LearningStats.model_validate(await get_json(http, f"{api}/learning/stats"))
        assert found.events_processed <= count, "an event was applied twice"
        return found

    return await eventually(stats, lambda found: found.events_processed == count, what=f"{count} events applied")


async def seed_prompts(traffic: Traffic) -> None:
    for n in range(SEED_PROMPTS):
        while True:  # a seed the store did not acknowledge (saved: false, e.g. WAIT timed out) is generated again
            best = (await traffic.generate(f"seed idea {n} for the feedback burst")).best
            assert best is not None
            if best.saved and best.id is not None:
                break
        traffic.prompt_ids.append(best.id)


async def stream_leader(cluster: NatsCluster, *, other_than: str | None = None) -> str:
    """The FEEDBACK stream's leader once the cluster names one (other than ``other_than``).

    Asked again until then: right after a node is killed the cluster elects, and JetStream's API
    may time out or answer "temporarily unavailable" meanwhile (a CI run failed on one such timeout).
    """

    async def leader() -> str | None:
        client = await nats.connect(servers=[node.url for node in cluster.nodes if node.running])
        try:
            info = await client.jetstream(timeout=2.0).stream_info("FEEDBACK")
        finally:
            await client.close()
        assert info.cluster is not None
        assert info.config.num_replicas == 3
        return info.cluster.leader

    found: str | None = await eventually(
        leader,
        lambda name: name is not None and name != other_than,
        what="a FEEDBACK stream leader" + (f" other than {other_than}" if other_than else ""),
        ignoring=(nats.errors.Error,),
    )
    assert found is not None
    return found


def assert_no_process_restarted(cluster: LocalCluster, pids: dict[str, int]) -> None:
    assert {process.name: process.pid for process in cluster.processes if process.running} == pids


async def test_losing_the_apis_nats_node_then_the_stream_leader_loses_no_event_and_no_generate(
    ha_cluster: LocalCluster, nats_cluster: NatsCluster, http: aiohttp.ClientSession
) -> None:
    api = f"{ha_cluster.http_url}/api/v1"
    pids = {process.name: process.pid for process in ha_cluster.processes}
    traffic = Traffic(http, api, [])
    await seed_prompts(traffic)

    generating = [asyncio.create_task(traffic.keep_generating(client)) for client in range(GENERATE_CLIENTS)]
    burst = asyncio.create_task(traffic.burst(EVENTS))

    await traffic.until_accepted(EVENTS // 5)
    (apis_node,) = nats_cluster.nodes_serving("prompt-alchemy-api")
    apis_node.kill()
    await traffic.until_accepted(2 * EVENTS // 5)
    assert nats_cluster.nodes_serving("prompt-alchemy-api") != []  # the API moved to another node
    await asyncio.to_thread(apis_node.restart)  # one node lost at a time: it rejoins and catches up

    leader = nats_cluster.node(await stream_leader(nats_cluster))
    await traffic.until_accepted(3 * EVENTS // 5)
    leader.kill()
    await traffic.until_accepted(4 * EVENTS // 5)
    await stream_leader(nats_cluster, other_than=leader.server_name)  # a new leader was elected
    await burst
    traffic.stop_generating.set()
    await asyncio.gather(*generating)

    stats = await applied(http, api, EVENTS)
    assert len(traffic.accepted) == EVENTS
    # each event through the vote ledger once: counted (one origin: at most 3 votes per prompt) or ignored
    assert sum(stats.rating_distribution.values()) + stats.ignored_votes == EVENTS
    assert all(reply.best is not None for reply in traffic.generated)
    assert_no_process_restarted(ha_cluster, pids)
    print(
        f"\nNATS node loss: {EVENTS} feedback events accepted ({traffic.retried_feedback} resends), "
        f"applied once each ({stats.duplicates} redeliveries recognised); {len(traffic.generated)} generates "
        f"answered ({traffic.retried_generates} after a retriable error)"
    )


async def test_losing_the_redis_primary_loses_no_acknowledged_prompt_and_applies_no_event_twice(
    ha_cluster: LocalCluster, redis_sentinel_group: RedisSentinelGroup, http: aiohttp.ClientSession
) -> None:
    api = f"{ha_cluster.http_url}/api/v1"
    pids = {process.name: process.pid for process in ha_cluster.processes}
    traffic = Traffic(http, api, [])
    await seed_prompts(traffic)
    generating = [asyncio.create_task(traffic.keep_generating(client)) for client in range(GENERATE_CLIENTS)]
    burst = asyncio.create_task(traffic.burst(EVENTS))

    await traffic.until_accepted(EVENTS // 4)
    old_primary = redis_sentinel_group.current_primary()
    generated_before = len(traffic.generated)
    killed_at = time.monotonic()
    old_primary.kill()
    promoted = await asyncio.to_thread(redis_sentinel_group.wait_for_failover, old_primary.port)
    promoted_in = time.monotonic() - killed_at
    await asyncio.to_thread(redis_sentinel_group.restart, old_primary)  # back, as the new primary's replica

    await traffic.until(  # storage writes resume: a generate saves its prompt again
        lambda: any(reply.best is not None and reply.best.saved for reply in traffic.generated[generated_before + 1 :])
    )
    stored_again_in = time.monotonic() - killed_at
    await burst
    traffic.stop_generating.set()
    await asyncio.gather(*generating)
    stats = await applied(http, api, EVENTS)
    learned_in = time.monotonic() - killed_at

    assert promoted is not old_primary
    # each event through the vote ledger once: counted (one origin: at most 3 votes per prompt) or ignored
    assert sum(stats.rating_distribution.values()) + stats.ignored_votes == EVENTS
    acknowledged = {
        reply.best.id for reply in traffic.generated if reply.best is not None and reply.best.saved and reply.best.id
    }
    unsaved = sum(1 for reply in traffic.generated if reply.best is not None and not reply.best.saved)
    for prompt_id in acknowledged:
        GetReply.model_validate(await get_json(http, f"{api}/prompts/{prompt_id}"))
    found: set[str] = set()
    cursor: str | None = None
    while True:
        # every similarity (the fake vendor's prompts need not resemble the query): the whole index is read
        params = {"q": "idea about resilient systems", "tags": TAG, "limit": "100", "min_similarity": "-1"} | (
            {"cursor": cursor} if cursor else {}
        )
        page = SearchReply.model_validate(await get_json(http, f"{api}/prompts/search", **params))
        found |= {hit.record.id for hit in page.hits}
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert acknowledged <= found
    assert_no_process_restarted(ha_cluster, pids)
    print(
        f"\nRedis primary SIGKILLed: replica promoted after {promoted_in:.1f}s, prompts saved again after "
        f"{stored_again_in:.1f}s, all {EVENTS} events applied once after {learned_in:.1f}s "
        f"({stats.duplicates} redeliveries recognised); {len(acknowledged)} acknowledged prompts all found by "
        f"get and search ({unsaved} generates answered 'saved: false' during the failover)"
    )


async def test_cluster_ha_runs_the_topology_as_local_processes_and_stops_cleanly(
    tmp_path: Path, child_env: Callable[..., dict[str, str]], http: aiohttp.ClientSession
) -> None:
    command = ChildProcess(
        "cluster-ha",
        ["--data-dir", str(tmp_path / "data"), "cluster", "--ha", "--http-port", "0", "--mcp-port", "0"],
        env=child_env(),
        log_dir=tmp_path / "logs",
    )
    await command.start()
    try:
        servers = await command.wait_for(r"^NATS (?P<nats>\S+), Redis Sentinels (?P<sentinels>\S+);", timeout=WAIT_S)
        api = (await command.wait_for(r"^HTTP API on (?P<url>http://\S+/api/v1)", timeout=WAIT_S))["url"]
        await command.wait_for(r"^cluster serving \(", timeout=WAIT_S)
        nats_urls = servers["nats"].split(",")
        assert len(nats_urls) == 3
        assert len(servers["sentinels"].split(",")) == 3

        traffic = Traffic(http, api, [])
        await seed_prompts(traffic)
        accepted = await traffic.post(f"/prompts/{traffic.prompt_ids[0]}/feedback", {"rating": 5})
        assert accepted[0] == 202
        client = await nats.connect(servers=nats_urls)
        try:
            for stream in ("FEEDBACK", "FEEDBACK_DLQ"):
                info = await client.jetstream().stream_info(stream)
                assert info.config.num_replicas == 3, stream
        finally:
            await client.close()
        assert await applied(http, api, 1)
    finally:
        command.send_signal(signal.SIGTERM)
        assert await command.wait(timeout=WAIT_S) == 0

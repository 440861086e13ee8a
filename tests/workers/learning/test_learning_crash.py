"""Embedded mode: the learning worker's process is SIGKILLed mid-batch, restarted, and applies all 10,000 once.

The worker runs as a real subprocess (``learning_worker_process.py``) over the SQLite stream log,
SQLite learning state and SQLite storage in one data dir; this process publishes and inspects.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from prompt_alchemy import schemas
from prompt_alchemy.bus import Bus, InMemoryBus
from prompt_alchemy.bus.streams import StreamInfo, open_stream, publish_event
from prompt_alchemy.schemas.learning import FeedbackEvent
from prompt_alchemy.schemas.storage import GetRequest
from prompt_alchemy.testing.waiting import eventually
from prompt_alchemy.workers.learning import SqliteLearningState
from prompt_alchemy.workers.learning.stream import FEEDBACK_STREAM

EVENTS = 10_000
PROMPTS = 100
BATCH = 256  # LearningSettings().batch_size
EVENTUALLY = 120.0
SCRIPT = Path(__file__).with_name("learning_worker_process.py")

RunningStorage = Any  # conftest.RunningStorage
StorageStarter = Callable[[Bus, Path], Awaitable[RunningStorage]]
PromptSeeder = Callable[[Bus, int], Awaitable[list[str]]]


class WorkerProcess:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def line(self, startswith: str) -> str:
        """The next stdout line starting with ``startswith`` (others are skipped)."""
        assert self.process.stdout is not None
        async with asyncio.timeout(EVENTUALLY):
            while True:
                raw = await self.process.stdout.readline()
                if not raw:
                    raise AssertionError(f"the worker exited (code {await self.process.wait()}) before {startswith!r}")
                text = raw.decode().strip()
                if text.startswith(startswith):
                    return text

    async def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        assert await self.process.wait() == -signal.SIGKILL

    async def terminate(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        await self.line("STOPPED")
        assert await self.process.wait() == 0


@asynccontextmanager
async def worker_process(data_dir: Path, *arguments: str) -> AsyncIterator[WorkerProcess]:
    with (data_dir / "worker.stderr").open("ab") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(SCRIPT), str(data_dir), *arguments, stdout=asyncio.subprocess.PIPE, stderr=stderr
        )
    worker = WorkerProcess(process)
    try:
        yield worker
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def observe(data_dir: Path) -> tuple[Counter[str], StreamInfo]:
    """What a bystander sees in the files: the state's counters and the stream's consumer state."""
    state = await SqliteLearningState.open(data_dir / "learning")
    bus = InMemoryBus()
    stream = await open_stream(bus, FEEDBACK_STREAM, data_dir=data_dir / "streams")
    try:
        return Counter((await state.stats()).counters), await stream.info()
    finally:
        await stream.close()
        await state.close()
        await bus.close()


@pytest.mark.slow
async def test_embedded_worker_killed_mid_batch_applies_everything_exactly_once(
    tmp_path: Path, storage_starter: StorageStarter, seed: PromptSeeder
) -> None:
    # 1. prompts in storage, 10,000 events in the log; no worker runs yet
    bus = InMemoryBus()
    storage = await storage_starter(bus, tmp_path / "storage")
    prompt_ids = await seed(bus, PROMPTS)
    stream = await open_stream(bus, FEEDBACK_STREAM, data_dir=tmp_path / "streams")
    events = [
        FeedbackEvent(
            prompt_id=prompt_ids[index % PROMPTS], rating=1 + (index * 3 + index // PROMPTS) % 5, source="cli"
        )
        for index in range(EVENTS)
    ]
    slots = asyncio.Semaphore(64)

    async def publish(event: FeedbackEvent) -> None:
        async with slots:
            await publish_event(stream, schemas.LEARNING_FEEDBACK, event)

    await asyncio.gather(*(publish(event) for event in events))
    await stream.close()
    await storage.stop()

    # 2. the first worker applies two batches, commits the third and is killed before acking it
    async with worker_process(tmp_path, "--stall-after-applies", "3") as first:
        await first.line("READY")
        assert await first.line("APPLIED-NOT-ACKED") == f"APPLIED-NOT-ACKED {BATCH}"
        await first.kill()
    counters, info = await observe(tmp_path)
    assert counters["events_processed"] == 3 * BATCH
    assert info.consumers["learning"].ack_pending == BATCH  # applied but never acknowledged: mid-batch

    # 3. the second worker is killed at an arbitrary point of its run
    async with worker_process(tmp_path) as second:
        await second.line("READY")

        async def halfway() -> bool:
            return (await observe(tmp_path))[0]["events_processed"] >= EVENTS // 2

        await eventually(halfway)
        await second.kill()

    # 4. the third worker finishes
    started = time.perf_counter()
    async with worker_process(tmp_path) as third:
        await third.line("READY")

        async def finished() -> bool:
            counters, info = await observe(tmp_path)
            consumer = info.consumers["learning"]
            return counters["events_processed"] >= EVENTS and consumer.pending == 0 and consumer.ack_pending == 0

        await eventually(finished)
        rest = EVENTS - (await observe(tmp_path))[0]["events_processed"]
        await third.terminate()
    elapsed = time.perf_counter() - started
    print(f"\n[learning crash] third run finished the log in {elapsed:.2f} s (process start included)")

    counters, info = await observe(tmp_path)
    assert rest == 0
    assert counters["events_processed"] == EVENTS
    assert counters["duplicates"] >= BATCH  # at least the batch the first worker applied but never acked
    assert (
        counters["rating:1"] + counters["rating:2"] + counters["rating:3"] + counters["rating:4"] + counters["rating:5"]
        == EVENTS
    )
    assert info.dead_letters == 0

    # 5. storage holds the aggregates of exactly 10,000 events
    uses: Counter[str] = Counter(event.prompt_id for event in events)
    ratings: dict[str, list[int]] = defaultdict(list)
    for event in events:
        assert event.rating is not None
        ratings[event.prompt_id].append(event.rating)
    storage = await storage_starter(bus, tmp_path / "storage")
    for prompt_id in prompt_ids:
        record = (await bus.request(schemas.STORAGE_GET, GetRequest(id=prompt_id))).record
        assert record.usage_count == uses[prompt_id]
        assert record.rating_count == len(ratings[prompt_id])
        assert record.mean_rating == pytest.approx(sum(ratings[prompt_id]) / len(ratings[prompt_id]))
    await storage.stop()
    await bus.close()

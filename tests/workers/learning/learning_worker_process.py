"""A learning worker in a process of its own, embedded mode, for the crash tests (not a test module).

    python learning_worker_process.py DATA_DIR [--stall-after-applies N]

Runs the real storage service and the learning worker on an in-memory bus over the SQLite stream
log and learning state in DATA_DIR. Prints READY once consuming. With ``--stall-after-applies N``
the N-th batch is applied to the state and then the process hangs before acknowledging it
(printing APPLIED-NOT-ACKED): the test kills it there, mid-batch. SIGTERM stops it gracefully.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prompt_alchemy.bus import InMemoryBus
from prompt_alchemy.bus.streams import open_stream
from prompt_alchemy.workers.learning import (
    ApplyOutcome,
    FeedbackFact,
    LearningSettings,
    LearningState,
    SqliteLearningState,
    build_learning_worker,
)
from prompt_alchemy.workers.learning.state import OnlineTrainer
from prompt_alchemy.workers.learning.stream import FEEDBACK_STREAM
from prompt_alchemy.workers.storage import SqlitePromptStore, WordLlamaEmbedder, build_storage_service


class StallAfterApplies:
    """The real state, except that the N-th ``apply`` commits and then never returns."""

    def __init__(self, inner: LearningState, stall_at: int) -> None:
        self._inner = inner
        self._stall_at = stall_at
        self._applies = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def apply(self, facts: Sequence[FeedbackFact], trainer: OnlineTrainer | None = None) -> ApplyOutcome:
        outcome = await self._inner.apply(facts, trainer)
        self._applies += 1
        if self._applies == self._stall_at:
            print(f"APPLIED-NOT-ACKED {outcome.applied}", flush=True)
            await asyncio.Event().wait()  # hang here until killed
        return outcome


async def main(data_dir: Path, stall_at: int | None) -> None:
    bus = InMemoryBus()
    store = SqlitePromptStore(data_dir / "storage")
    storage = build_storage_service(bus, store, WordLlamaEmbedder())
    await storage.start()
    stream = await open_stream(bus, FEEDBACK_STREAM, data_dir=data_dir / "streams")
    real_state = await SqliteLearningState.open(data_dir / "learning")
    state: LearningState = real_state if stall_at is None else StallAfterApplies(real_state, stall_at)
    worker = build_learning_worker(bus, stream, state, LearningSettings())
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await worker.start()
    print("READY", flush=True)
    await stop.wait()
    await worker.stop()
    await storage.stop()
    await store.close()
    await stream.close()
    await real_state.close()
    await bus.close()
    print("STOPPED", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--stall-after-applies", type=int, default=None)
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(main(arguments.data_dir, arguments.stall_after_applies))

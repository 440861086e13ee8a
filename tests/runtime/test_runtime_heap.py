"""A served process freezes its start-up heap out of the garbage collector once it is started."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import weakref
from collections.abc import Iterator
from contextlib import AsyncExitStack

import pytest

from prompt_alchemy.runtime import shutdown
from prompt_alchemy.runtime.heap import YOUNG_THRESHOLD, settle_heap


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


class _Node:
    link: object = None


@pytest.mark.usefixtures("restored_gc")
def test_settle_heap_collects_start_up_garbage_then_freezes_the_rest() -> None:
    garbage = _Node()
    garbage.link = garbage  # a cycle: only the collector frees it
    gone = weakref.ref(garbage)
    del garbage
    kept = [_Node()]
    frozen_before = gc.get_freeze_count()

    settle_heap()

    assert gone() is None, "garbage from start-up was frozen instead of collected"
    assert gc.get_freeze_count() > frozen_before
    assert not any(obj is kept for obj in gc.get_objects()), "a start-up object is still scanned"
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD


@pytest.mark.usefixtures("restored_gc")
def test_settle_heap_keeps_collecting_cycles_made_later() -> None:
    settle_heap()
    later = _Node()
    later.link = later
    gone = weakref.ref(later)
    del later
    gc.collect()
    assert gone() is None


async def test_a_served_process_settles_its_heap_after_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    monkeypatch.setattr(shutdown, "settle_heap", lambda: events.append("settled"))

    async def start(stack: AsyncExitStack) -> None:
        events.append("started")
        stack.callback(events.append, "stopped")
        asyncio.get_running_loop().call_soon(os.kill, os.getpid(), signal.SIGTERM)

    code = await shutdown.serve_until_signalled(start, shutdown_timeout=30, announce=lambda _line: None)

    assert code == shutdown.EXIT_DRAINED
    assert events == ["started", "settled", "stopped"]

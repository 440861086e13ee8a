"""The SQLite log's fetch when it is cancelled: what its thread already took is handed over, not stranded."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import uuid
from pathlib import Path

from prompt_alchemy.bus import InMemoryBus
from prompt_alchemy.bus.streams import StreamSpec, open_stream
from prompt_alchemy.bus.streams.sqlite_log import SqliteLog
from prompt_alchemy.testing.waiting import eventually


async def test_a_fetch_cancelled_after_its_thread_took_messages_returns_them(tmp_path: Path) -> None:
    token = uuid.uuid4().hex[:8]
    spec = StreamSpec(name=f"T{token.upper()}", subjects=(f"test.{token}",), duplicate_window=60.0)
    stream = await open_stream(InMemoryBus(), spec, data_dir=tmp_path)
    assert isinstance(stream, SqliteLog)
    running, release = threading.Event(), threading.Event()
    try:
        for index in range(3):
            await stream.publish(f"test.{token}", f"event {index}".encode(), msg_id=f"e{index}")
        consumer = await stream.consumer("learning", ack_wait=60.0, max_deliver=5)
        # Hold the log's thread so the fetch's take is queued behind a job we control.

        def hold(_connection: sqlite3.Connection) -> None:
            running.set()
            release.wait()

        held = asyncio.ensure_future(stream.run(hold))
        await asyncio.to_thread(running.wait)
        fetch = asyncio.ensure_future(consumer.fetch(10, timeout=30.0))
        await eventually(lambda: stream._thread._queue.qsize() == 1, what="the fetch's take queued behind the hold")
        fetch.cancel()  # the stop arrives while the take is queued: the thread will still run it
        release.set()
        await held
        deliveries = await fetch
        assert [delivery.data for delivery in deliveries] == [b"event 0", b"event 1", b"event 2"]
        for delivery in deliveries:
            await delivery.ack()
        assert (await stream.info()).consumers["learning"].ack_pending == 0
    finally:
        release.set()
        await stream.close()

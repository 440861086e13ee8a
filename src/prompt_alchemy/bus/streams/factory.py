"""``open_stream``: the durable stream that matches the bus — JetStream on NATS, an SQLite log in-process."""

from __future__ import annotations

from pathlib import Path

from prompt_alchemy.bus.core import Bus, NatsBus
from prompt_alchemy.bus.streams.jetstream import JetStreamStream
from prompt_alchemy.bus.streams.model import DurableStream, StreamSpec
from prompt_alchemy.bus.streams.sqlite_log import SqliteLog
from prompt_alchemy.sqlite_thread import Synchronous

__all__ = ["open_stream"]


async def open_stream(
    bus: Bus,
    spec: StreamSpec,
    *,
    data_dir: Path | None,
    synchronous: Synchronous = "NORMAL",
    replicas: int = 1,
) -> DurableStream:
    """JetStream (file storage, created or updated idempotently) when ``bus`` is a NatsBus; otherwise an
    SQLite log in ``data_dir`` (``None``: a temporary file deleted on close — not durable across runs).

    ``synchronous`` applies to the SQLite log only (FULL: survive a power cut, one fsync per commit);
    ``replicas`` to JetStream only (copies of the stream in a NATS cluster).
    """
    if isinstance(bus, NatsBus):
        return await JetStreamStream.open(bus.transport, spec, max_payload=bus.max_payload, replicas=replicas)
    return await SqliteLog.open(spec, data_dir, max_payload=bus.max_payload, synchronous=synchronous)

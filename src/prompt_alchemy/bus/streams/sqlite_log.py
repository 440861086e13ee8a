"""The embedded durable stream: an append-only log in SQLite (WAL) with durable consumers.

It mirrors what JetStream does for us on NATS: a sequence per message, ``msg_id`` de-duplication
within a window, per-consumer delivery state (a cursor for first deliveries plus one row per
unacked delivery with its attempt count and when it becomes visible again) and a dead-letter
table. All SQL runs in the log's own thread (``SqliteThread``), with group commit.

Several processes may open the same file (WAL); a consumer polls for messages other processes
append, and is woken at once by publishes from its own process. Opening a consumer makes every
unacked delivery of that consumer visible again: whoever held them before is presumed dead. Run
one process per durable consumer name.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from prompt_alchemy.bus.streams.model import (
    ConsumerState,
    DeadLetter,
    Delivery,
    PublishAck,
    StreamInfo,
    StreamSpec,
    check_publishable,
    park_exhausted,
    single_line,
)
from prompt_alchemy.bus.transport import DEFAULT_MAX_PAYLOAD
from prompt_alchemy.errors import BusError, ConfigError
from prompt_alchemy.private_files import private_dir
from prompt_alchemy.sqlite_thread import SqliteThread, Synchronous

__all__ = ["SqliteLog", "SqliteLogConsumer"]

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    subject TEXT NOT NULL,
    data BLOB NOT NULL,
    headers TEXT NOT NULL,
    msg_id TEXT,
    stored_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_stored_at ON messages (stored_at);
CREATE TABLE IF NOT EXISTS msg_ids (
    msg_id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    stored_at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS msg_ids_stored_at ON msg_ids (stored_at);
CREATE TABLE IF NOT EXISTS consumers (name TEXT PRIMARY KEY, next_seq INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pending (
    consumer TEXT NOT NULL,
    seq INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    visible_at REAL NOT NULL,
    PRIMARY KEY (consumer, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS pending_visible ON pending (consumer, visible_at);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subject TEXT NOT NULL,
    data BLOB NOT NULL,
    headers TEXT NOT NULL,
    msg_id TEXT,
    sequence INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    reason TEXT NOT NULL,
    parked_at REAL NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS dead_letters_msg_id ON dead_letters (msg_id) WHERE msg_id IS NOT NULL;
"""

_PRUNE_EVERY = 1000  # publishes between two retention passes
DEFAULT_POLL_INTERVAL_S = 0.1


def _prepare(spec: StreamSpec) -> Callable[[sqlite3.Connection], None]:
    def setup(connection: sqlite3.Connection) -> None:
        connection.executescript(_SCHEMA)
        row = connection.execute("SELECT value FROM meta WHERE key = 'stream'").fetchone()
        if row is None:
            connection.execute("INSERT INTO meta (key, value) VALUES ('stream', ?)", (spec.name,))
        elif row[0] != spec.name:
            raise sqlite3.DatabaseError(f"the file holds stream {row[0]!r}, not {spec.name!r}")

    return setup


class SqliteLog:
    """A ``DurableStream`` in one SQLite file; see the module docstring."""

    def __init__(
        self,
        spec: StreamSpec,
        path: Path,
        *,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
        synchronous: Synchronous = "NORMAL",
        poll_interval: float = DEFAULT_POLL_INTERVAL_S,
        owned_dir: Path | None = None,
    ) -> None:
        self.spec = spec
        self.path = path
        self.max_payload = max_payload
        self.poll_interval = poll_interval
        self._owned_dir = owned_dir
        self._thread = SqliteThread(path, name=f"log-{spec.name}", synchronous=synchronous, setup=_prepare(spec))
        self._listeners: set[asyncio.Event] = set()
        self._consumers: list[SqliteLogConsumer] = []
        self._publishes = 0
        self._closed = False

    @classmethod
    async def open(
        cls,
        spec: StreamSpec,
        data_dir: Path | None,
        *,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
        synchronous: Synchronous = "NORMAL",
        poll_interval: float = DEFAULT_POLL_INTERVAL_S,
    ) -> SqliteLog:
        """Open (creating if needed) ``<data_dir>/stream-<name>.sqlite3``; no dir: a temp file removed on close."""
        owned: Path | None = None
        if data_dir is None:
            owned = Path(tempfile.mkdtemp(prefix=f"alchemy-stream-{spec.name.lower()}-"))
            data_dir = owned
        try:
            await asyncio.to_thread(private_dir, data_dir)
        except OSError as error:
            raise ConfigError(f"cannot create the stream directory {data_dir}: {error}") from error
        log = cls(
            spec,
            data_dir / f"stream-{spec.name}.sqlite3",
            max_payload=max_payload,
            synchronous=synchronous,
            poll_interval=poll_interval,
            owned_dir=owned,
        )
        try:
            await log._thread.start()
        except BusError as error:
            raise ConfigError(f"cannot open the stream log {log.path}: {error}") from error
        await log._thread.run(log._prune)
        return log

    # -- publishing ----------------------------------------------------------------------------
    async def publish(
        self, subject: str, data: bytes, *, msg_id: str, headers: Mapping[str, str] | None = None
    ) -> PublishAck:
        check_publishable(self.spec, subject, data, msg_id=msg_id, max_payload=self.max_payload)
        header_text = json.dumps(dict(headers or {}))
        window = self.spec.duplicate_window

        def append(connection: sqlite3.Connection) -> tuple[int, bool]:
            now = time.time()
            row = connection.execute("SELECT seq, stored_at FROM msg_ids WHERE msg_id = ?", (msg_id,)).fetchone()
            if row is not None and row[1] >= now - window:
                return int(row[0]), True
            cursor = connection.execute(
                "INSERT INTO messages (subject, data, headers, msg_id, stored_at) VALUES (?, ?, ?, ?, ?)",
                (subject, data, header_text, msg_id, now),
            )
            sequence = int(cursor.lastrowid or 0)
            connection.execute(
                "INSERT OR REPLACE INTO msg_ids (msg_id, seq, stored_at) VALUES (?, ?, ?)", (msg_id, sequence, now)
            )
            return sequence, False

        sequence, duplicate = await self._thread.run(append)
        self._publishes += 1
        if self._publishes % _PRUNE_EVERY == 0:
            await self._thread.run(self._prune)
        if not duplicate:
            self.notify()
        return PublishAck(stream=self.spec.name, sequence=sequence, duplicate=duplicate)

    def notify(self) -> None:
        """Wake this process's consumers waiting in ``fetch``."""
        for listener in self._listeners:
            listener.set()

    def _prune(self, connection: sqlite3.Connection) -> None:
        now = time.time()
        connection.execute("DELETE FROM msg_ids WHERE stored_at < ?", (now - self.spec.duplicate_window,))
        if self.spec.max_age is not None:
            connection.execute("DELETE FROM messages WHERE stored_at < ?", (now - self.spec.max_age,))
            connection.execute("DELETE FROM pending WHERE seq NOT IN (SELECT seq FROM messages)")

    # -- consuming -----------------------------------------------------------------------------
    async def consumer(self, durable_name: str, *, ack_wait: float, max_deliver: int) -> SqliteLogConsumer:
        if ack_wait <= 0 or max_deliver < 1:
            raise ConfigError("ack_wait must be positive and max_deliver at least 1")

        def reopen(connection: sqlite3.Connection) -> None:
            connection.execute("INSERT OR IGNORE INTO consumers (name, next_seq) VALUES (?, 1)", (durable_name,))
            connection.execute("UPDATE pending SET visible_at = 0 WHERE consumer = ?", (durable_name,))

        await self._thread.run(reopen)
        consumer = SqliteLogConsumer(self, durable_name, ack_wait=ack_wait, max_deliver=max_deliver)
        self._consumers.append(consumer)
        return consumer

    def _listen(self, event: asyncio.Event) -> None:
        self._listeners.add(event)

    def _unlisten(self, event: asyncio.Event) -> None:
        self._listeners.discard(event)

    async def run(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        return await self._thread.run(operation)

    # -- inspection ----------------------------------------------------------------------------
    async def info(self) -> StreamInfo:
        def read(connection: sqlite3.Connection) -> StreamInfo:
            messages = connection.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
            row = connection.execute("SELECT seq FROM sqlite_sequence WHERE name = 'messages'").fetchone()
            dead = connection.execute("SELECT COUNT(*) FROM dead_letters").fetchone()[0]
            consumers: dict[str, ConsumerState] = {}
            for name, next_seq in connection.execute("SELECT name, next_seq FROM consumers").fetchall():
                pending = connection.execute("SELECT COUNT(*) FROM messages WHERE seq >= ?", (next_seq,)).fetchone()[0]
                unacked = connection.execute("SELECT COUNT(*) FROM pending WHERE consumer = ?", (name,)).fetchone()[0]
                consumers[name] = ConsumerState(name=name, pending=int(pending), ack_pending=int(unacked))
            return StreamInfo(
                name=self.spec.name,
                messages=int(messages),
                last_sequence=int(row[0]) if row else 0,
                dead_letters=int(dead),
                consumers=consumers,
            )

        result: StreamInfo = await self._thread.run(read)
        return result

    async def dead_letters(self, *, limit: int = 100) -> list[DeadLetter]:
        def read(connection: sqlite3.Connection) -> list[DeadLetter]:
            rows = connection.execute(
                "SELECT subject, data, headers, msg_id, sequence, attempts, reason, parked_at"
                " FROM dead_letters ORDER BY id LIMIT ?",
                (limit,),
            ).fetchall()
            return [
                DeadLetter(
                    subject=row[0],
                    data=bytes(row[1]),
                    headers=json.loads(row[2]),
                    msg_id=row[3],
                    sequence=int(row[4]),
                    attempts=int(row[5]),
                    reason=row[6],
                    parked_at=datetime.fromtimestamp(row[7], UTC),
                )
                for row in rows
            ]

        result: list[DeadLetter] = await self._thread.run(read)
        return result

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for consumer in list(self._consumers):
            await consumer.close()
        await self._thread.close()
        if self._owned_dir is not None:
            shutil.rmtree(self._owned_dir, ignore_errors=True)


_Row = tuple[int, int, str, bytes, str, str | None]  # seq, attempt, subject, data, headers, msg_id


class SqliteLogConsumer:
    """A durable consumer of a ``SqliteLog``; also the settler of its deliveries."""

    def __init__(self, log: SqliteLog, name: str, *, ack_wait: float, max_deliver: int) -> None:
        self.name = name
        self.ack_wait = ack_wait
        self.max_deliver = max_deliver
        self._log = log
        self._wakeup = asyncio.Event()
        self._closed = False
        log._listen(self._wakeup)

    async def fetch(self, batch: int, *, timeout: float) -> list[Delivery]:
        if batch < 1:
            raise ValueError("batch must be at least 1")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self._closed:
            self._wakeup.clear()
            take = asyncio.ensure_future(self._log.run(self._take(batch)))
            try:
                rows, next_visible = await asyncio.shield(take)
            except asyncio.CancelledError:
                # The log's thread runs a queued take whatever happens here. Messages it took are
                # delivered (attempt counted, ack_wait running): hand them over as the batch in hand
                # rather than strand them until ack_wait. Nothing taken: the cancellation stands.
                rows, _ = await take
                if not rows:
                    raise
                return await park_exhausted([self._delivery(row) for row in rows])
            if rows:
                deliveries = await park_exhausted([self._delivery(row) for row in rows])
                if deliveries:
                    return deliveries
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            wait = min(remaining, self._log.poll_interval)
            if next_visible is not None:
                wait = min(wait, max(0.0, next_visible - time.time()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), wait)
        return []

    def _take(self, batch: int) -> Callable[[sqlite3.Connection], tuple[list[_Row], float | None]]:
        name, ack_wait = self.name, self.ack_wait

        def take(connection: sqlite3.Connection) -> tuple[list[_Row], float | None]:
            now = time.time()
            visible_again = now + ack_wait
            rows: list[_Row] = []
            for seq, attempts, subject, data, headers, msg_id in connection.execute(
                "SELECT p.seq, p.attempts, m.subject, m.data, m.headers, m.msg_id FROM pending p"
                " JOIN messages m ON m.seq = p.seq WHERE p.consumer = ? AND p.visible_at <= ? ORDER BY p.seq LIMIT ?",
                (name, now, batch),
            ).fetchall():
                rows.append((int(seq), int(attempts) + 1, subject, bytes(data), headers, msg_id))
            connection.executemany(
                "UPDATE pending SET attempts = ?, visible_at = ? WHERE consumer = ? AND seq = ?",
                [(row[1], visible_again, name, row[0]) for row in rows],
            )
            room = batch - len(rows)
            if room > 0:
                (next_seq,) = connection.execute("SELECT next_seq FROM consumers WHERE name = ?", (name,)).fetchone()
                fresh = connection.execute(
                    "SELECT seq, subject, data, headers, msg_id FROM messages WHERE seq >= ? ORDER BY seq LIMIT ?",
                    (next_seq, room),
                ).fetchall()
                if fresh:
                    connection.executemany(
                        "INSERT OR REPLACE INTO pending (consumer, seq, attempts, visible_at) VALUES (?, ?, 1, ?)",
                        [(name, row[0], visible_again) for row in fresh],
                    )
                    connection.execute("UPDATE consumers SET next_seq = ? WHERE name = ?", (fresh[-1][0] + 1, name))
                    rows += [
                        (int(seq), 1, subject, bytes(data), headers, msg_id)
                        for seq, subject, data, headers, msg_id in fresh
                    ]
            next_visible: float | None = None
            if not rows:
                (next_visible,) = connection.execute(
                    "SELECT MIN(visible_at) FROM pending WHERE consumer = ?", (name,)
                ).fetchone()
            return rows, next_visible

        return take

    def _delivery(self, row: _Row) -> Delivery:
        seq, attempt, subject, data, headers, msg_id = row
        return Delivery(
            self,
            subject=subject,
            data=data,
            headers=json.loads(headers),
            msg_id=msg_id,
            sequence=seq,
            attempt=attempt,
            max_deliver=self.max_deliver,
        )

    # -- settling (DeliverySettler) ------------------------------------------------------------
    async def ack(self, delivery: Delivery) -> None:
        name, seq = self.name, delivery.sequence

        def ack(connection: sqlite3.Connection) -> None:
            connection.execute("DELETE FROM pending WHERE consumer = ? AND seq = ?", (name, seq))

        await self._log.run(ack)

    async def nak(self, delivery: Delivery, delay: float | None) -> None:
        await self._make_visible(delivery, time.time() + (delay or 0.0))
        self._log.notify()

    async def in_progress(self, delivery: Delivery) -> None:
        await self._make_visible(delivery, time.time() + self.ack_wait)

    async def _make_visible(self, delivery: Delivery, at: float) -> None:
        name, seq, attempt = self.name, delivery.sequence, delivery.attempt

        def update(connection: sqlite3.Connection) -> None:
            # Only the current delivery may move it: a stale one (already redelivered) changes nothing.
            connection.execute(
                "UPDATE pending SET visible_at = ? WHERE consumer = ? AND seq = ? AND attempts = ?",
                (at, name, seq, attempt),
            )

        await self._log.run(update)

    async def dead_letter(self, delivery: Delivery, reason: str) -> None:
        name = self.name
        values = (
            delivery.subject,
            delivery.data,
            json.dumps(dict(delivery.headers)),
            delivery.msg_id,
            delivery.sequence,
            delivery.attempt,
            single_line(reason),
            time.time(),
        )

        def park(connection: sqlite3.Connection) -> None:
            connection.execute(
                "INSERT OR IGNORE INTO dead_letters (subject, data, headers, msg_id, sequence, attempts, reason,"
                " parked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                values,
            )
            connection.execute("DELETE FROM pending WHERE consumer = ? AND seq = ?", (name, values[4]))

        await self._log.run(park)

    async def close(self) -> None:
        self._closed = True
        self._wakeup.set()
        self._log._unlisten(self._wakeup)

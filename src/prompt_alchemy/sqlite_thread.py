"""The one way prompt-alchemy runs SQLite off the event loop: a thread per database.

SQLite calls block; running them on the event loop would stall every other task. Each database
gets its own thread (one connection, never shared), fed by a queue; ``await thread.run(op)``
runs ``op(connection)`` there. Its users: the embedded stream log (``bus.streams.sqlite_log``),
the learning state and the embedded prompt store.

With ``group_commit`` (the default) the thread takes whatever operations are queued (up to
``max_group``) and runs them in ONE transaction, each inside its own savepoint so that one
failing operation does not undo the others: a burst of 256 publishes or acks costs one commit,
not 256. Without it each operation runs on its own and manages its transactions itself (the
prompt store, whose writes span several statements and tables).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from prompt_alchemy.errors import BusClosed, BusError
from prompt_alchemy.private_files import private_file

__all__ = ["SqliteThread", "Synchronous"]

log = logging.getLogger(__name__)

T = TypeVar("T")
Synchronous = Literal["OFF", "NORMAL", "FULL"]
_BUSY_TIMEOUT_MS = 30_000


@dataclass(slots=True)
class _Job:
    operation: Callable[[sqlite3.Connection], Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # the awaiting task was cancelled
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


ErrorFactory = Callable[[str], Exception]


class SqliteThread:
    """Runs ``operation(connection)`` calls in a dedicated thread; ``await run(op)`` for the result.

    ``setup(connection)`` runs once on the thread after the pragmas (schema, functions, row factory).
    ``synchronous``: NORMAL (the default, like JetStream's default) survives a process crash; FULL also
    survives a power cut at the cost of one fsync per group commit. sqlite3 errors become ``failure``
    (BusError by default); calls after ``close()`` raise ``closed`` (BusClosed by default).
    """

    def __init__(
        self,
        path: Path,
        *,
        name: str,
        synchronous: Synchronous = "NORMAL",
        setup: Callable[[sqlite3.Connection], None] | None = None,
        max_group: int = 1024,
        group_commit: bool = True,
        busy_timeout_ms: int = _BUSY_TIMEOUT_MS,
        failure: ErrorFactory = BusError,
        closed: ErrorFactory = BusClosed,
    ) -> None:
        self.path = path
        self._group_commit = group_commit
        self._busy_timeout_ms = busy_timeout_ms
        self._failure = failure
        self._closed_error = closed
        self._synchronous = synchronous
        self._setup = setup
        self._max_group = max_group
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._ready: asyncio.Future[None] | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"sqlite-{name}", daemon=True)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._ready = loop.create_future()
        ready = self._ready
        self._thread.start()
        try:
            await ready
        except BaseException:
            await self.close()
            raise

    async def run(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed:
            raise self._closed_error(f"{self.path.name} is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Job(operation, future, loop))
        return await future

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        if self._thread.is_alive():
            await asyncio.to_thread(self._thread.join)

    # -- the thread ----------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        private_file(self.path)  # 0600 before SQLite opens it; its -wal and -shm files follow
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        connection.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute(f"PRAGMA synchronous = {self._synchronous}")
        if self._setup is not None:
            self._setup(connection)
        return connection

    def _run(self) -> None:
        ready = self._ready
        assert ready is not None
        loop = ready.get_loop()
        try:
            connection = self._connect()
        except (sqlite3.Error, OSError) as error:
            loop.call_soon_threadsafe(_settle, ready, None, self._failure(f"cannot open {self.path}: {error}"))
            return
        loop.call_soon_threadsafe(_settle, ready, None, None)
        try:
            stop = False
            while not stop:
                first = self._queue.get()
                if first is None:
                    break
                jobs = [first]
                while len(jobs) < self._max_group:
                    try:
                        job = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if job is None:
                        stop = True
                        break
                    jobs.append(job)
                self._run_group(connection, jobs)
        finally:
            connection.close()
            self._fail_queued()

    def _run_alone(self, connection: sqlite3.Connection, jobs: list[_Job]) -> None:
        for job in jobs:
            try:
                result, error = job.operation(connection), None
            except Exception as failure:
                result, error = None, self._translated(failure)
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
                job.loop.call_soon_threadsafe(_settle, job.future, result, error)

    def _run_group(self, connection: sqlite3.Connection, jobs: list[_Job]) -> None:
        if not self._group_commit:
            self._run_alone(connection, jobs)
            return
        outcomes: list[tuple[_Job, Any, BaseException | None]] = []
        try:
            connection.execute("BEGIN IMMEDIATE")
            for job in jobs:
                connection.execute("SAVEPOINT operation")
                try:
                    result = job.operation(connection)
                except Exception as error:
                    connection.execute("ROLLBACK TO operation")
                    connection.execute("RELEASE operation")
                    outcomes.append((job, None, self._translated(error)))
                else:
                    connection.execute("RELEASE operation")
                    outcomes.append((job, result, None))
            connection.execute("COMMIT")
        except sqlite3.Error as commit_error:
            log.error("sqlite commit on %s failed: %s", self.path.name, commit_error)
            with contextlib.suppress(sqlite3.Error):
                connection.execute("ROLLBACK")
            failure = self._failure(f"{self.path.name}: {commit_error}")
            outcomes = [(job, None, failure) for job in jobs]
        for job, result, outcome_error in outcomes:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
                job.loop.call_soon_threadsafe(_settle, job.future, result, outcome_error)

    def _translated(self, error: Exception) -> Exception:
        if isinstance(error, sqlite3.Error):
            translated = self._failure(f"{self.path.name}: {error}")
            translated.__cause__ = error
            return translated
        return error

    def _fail_queued(self) -> None:
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return
            if job is not None:
                with contextlib.suppress(RuntimeError):
                    error = self._closed_error(f"{self.path.name} is closed")
                    job.loop.call_soon_threadsafe(_settle, job.future, None, error)

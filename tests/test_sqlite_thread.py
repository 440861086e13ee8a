"""The one helper that runs SQLite off the event loop: group commit for logs, plain runs for stores."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from prompt_alchemy.errors import Unavailable
from prompt_alchemy.sqlite_thread import SqliteThread


def _own_transaction(connection: sqlite3.Connection) -> int:
    connection.execute("BEGIN IMMEDIATE")
    connection.execute("INSERT INTO items (name) VALUES ('a')")
    connection.execute("INSERT INTO items (name) VALUES ('b')")
    connection.execute("COMMIT")
    return int(connection.execute("SELECT COUNT(*) FROM items").fetchone()[0])


def _schema(connection: sqlite3.Connection) -> None:
    connection.execute("CREATE TABLE IF NOT EXISTS items (name TEXT NOT NULL)")


async def test_without_group_commit_an_operation_keeps_its_own_transactions(tmp_path: Path) -> None:
    thread = SqliteThread(tmp_path / "own.sqlite3", name="own", setup=_schema, group_commit=False)
    await thread.start()
    try:
        assert await thread.run(_own_transaction) == 2
        assert await thread.run(lambda _c: threading.current_thread().name) == "sqlite-own"
    finally:
        await thread.close()


async def test_group_commit_wraps_operations_in_its_own_transaction(tmp_path: Path) -> None:
    thread = SqliteThread(tmp_path / "grouped.sqlite3", name="grouped", setup=_schema, failure=Unavailable)
    await thread.start()
    try:
        with pytest.raises(Unavailable, match="within a transaction"):
            await thread.run(_own_transaction)  # BEGIN inside the group's transaction
        await thread.run(lambda c: c.execute("INSERT INTO items (name) VALUES ('kept')"))
        assert await thread.run(lambda c: c.execute("SELECT name FROM items").fetchall()) == [("kept",)]
    finally:
        await thread.close()


async def test_calls_after_close_and_sqlite_errors_use_the_given_errors(tmp_path: Path) -> None:
    thread = SqliteThread(tmp_path / "e.sqlite3", name="e", group_commit=False, failure=Unavailable, closed=Unavailable)
    await thread.start()
    with pytest.raises(Unavailable, match=r"e\.sqlite3: no such table"):
        await thread.run(lambda c: c.execute("SELECT * FROM missing"))
    await thread.close()
    with pytest.raises(Unavailable, match="is closed"):
        await thread.run(lambda c: None)

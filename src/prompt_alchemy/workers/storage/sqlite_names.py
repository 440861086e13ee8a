"""Named prompts on the embedded backend: three tables in the prompts' SQLite database.

Every call runs on the prompt store's one thread, so a compare-and-set is a plain
``UPDATE ... WHERE revision = ?`` inside a transaction and the event loop never waits on disk.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from prompt_alchemy.errors import Unavailable
from prompt_alchemy.schemas.labels import LabelMoved, PromptName, ServedCount
from prompt_alchemy.workers.storage.sqlite_store import SqlitePromptStore

__all__ = ["SqliteNameStore"]

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS names (
    name TEXT PRIMARY KEY,
    revision INTEGER NOT NULL,
    document TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS label_moves (
    sequence INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    label TEXT NOT NULL,
    move TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS label_moves_by_name ON label_moves (name, label, sequence);
CREATE TABLE IF NOT EXISTS label_served (
    name TEXT NOT NULL,
    label TEXT NOT NULL,
    version INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (name, label, version)
);
"""


class SqliteNameStore:
    """Tables in the prompt store's database, used on its thread; closed with it."""

    def __init__(self, prompts: SqlitePromptStore) -> None:
        self._prompts = prompts
        self._ready = False

    async def _run(self, function: Callable[..., T], *args: Any) -> T:
        if not self._ready:
            await self.open()
        try:
            return await self._prompts.run_with_connection(functools.partial(function, *args))
        except sqlite3.DatabaseError as error:
            raise Unavailable(f"embedded name storage failed: {error}") from error

    async def open(self) -> None:
        await self._prompts.run_with_connection(lambda db: db.executescript(SCHEMA))
        self._ready = True

    async def close(self) -> None:
        """The connection belongs to the prompt store, which closes it."""

    async def load(self, name: str) -> PromptName | None:
        return await self._run(self._load_sync, name)

    def _load_sync(self, name: str, db: sqlite3.Connection) -> PromptName | None:
        row = db.execute("SELECT document FROM names WHERE name = ?", (name,)).fetchone()
        return None if row is None else PromptName.model_validate_json(row[0])

    async def save(self, document: PromptName, *, expected_revision: int | None, move: LabelMoved | None) -> bool:
        return await self._run(self._save_sync, document, expected_revision, move)

    def _save_sync(
        self, document: PromptName, expected_revision: int | None, move: LabelMoved | None, db: sqlite3.Connection
    ) -> bool:
        db.execute("BEGIN IMMEDIATE")
        try:
            body = document.model_dump_json(exclude={"labels": {"__all__": {"served"}}})
            if expected_revision is None:
                changed = db.execute(
                    "INSERT OR IGNORE INTO names (name, revision, document) VALUES (?, ?, ?)",
                    (document.name, document.revision, body),
                ).rowcount
            else:
                changed = db.execute(
                    "UPDATE names SET revision = ?, document = ? WHERE name = ? AND revision = ?",
                    (document.revision, body, document.name, expected_revision),
                ).rowcount
            if changed and move is not None:
                db.execute(
                    "INSERT INTO label_moves (name, label, move) VALUES (?, ?, ?)",
                    (move.name, move.label, move.model_dump_json()),
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return bool(changed)

    async def names(self, limit: int) -> list[str]:
        return await self._run(self._names_sync, limit)

    def _names_sync(self, limit: int, db: sqlite3.Connection) -> list[str]:
        return [str(row[0]) for row in db.execute("SELECT name FROM names ORDER BY name LIMIT ?", (limit,))]

    async def history(self, name: str, label: str | None, limit: int) -> list[LabelMoved]:
        return await self._run(self._history_sync, name, label, limit)

    def _history_sync(self, name: str, label: str | None, limit: int, db: sqlite3.Connection) -> list[LabelMoved]:
        if label is None:
            rows = db.execute(
                "SELECT move FROM label_moves WHERE name = ? ORDER BY sequence DESC LIMIT ?", (name, limit)
            )
        else:
            rows = db.execute(
                "SELECT move FROM label_moves WHERE name = ? AND label = ? ORDER BY sequence DESC LIMIT ?",
                (name, label, limit),
            )
        return [LabelMoved.model_validate_json(row[0]) for row in rows.fetchall()]

    async def add_served(self, counts: Sequence[ServedCount]) -> None:
        await self._run(self._add_served_sync, list(counts))

    def _add_served_sync(self, counts: list[ServedCount], db: sqlite3.Connection) -> None:
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(
                "INSERT INTO label_served (name, label, version, count) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (name, label, version) DO UPDATE SET count = count + excluded.count",
                [(item.name, item.label, item.version, item.count) for item in counts],
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    async def served(self, name: str) -> dict[str, dict[int, int]]:
        return await self._run(self._served_sync, name)

    def _served_sync(self, name: str, db: sqlite3.Connection) -> dict[str, dict[int, int]]:
        served: dict[str, dict[int, int]] = {}
        for label, version, count in db.execute(
            "SELECT label, version, count FROM label_served WHERE name = ?", (name,)
        ).fetchall():
            served.setdefault(str(label), {})[int(version)] = int(count)
        return served

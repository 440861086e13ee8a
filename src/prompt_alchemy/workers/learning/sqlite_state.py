"""The embedded learning state: one SQLite file (WAL), every call in the file's own thread.

``apply`` runs in a single transaction, so a process killed at any point leaves either the whole
batch applied (its redelivery is then recognised by event id) or none of it.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from prompt_alchemy.errors import ConfigError, Unavailable
from prompt_alchemy.private_files import private_dir
from prompt_alchemy.schemas.learning import Weights
from prompt_alchemy.schemas.ranking import DEFAULT_WEIGHTS
from prompt_alchemy.sqlite_thread import SqliteThread
from prompt_alchemy.workers.learning.aggregates import PromptAggregate
from prompt_alchemy.workers.learning.facts import FeedbackFact
from prompt_alchemy.workers.learning.ledger import (
    DUPLICATES,
    VotePolicy,
    admit_votes,
    fold_admission,
    influence_key,
    vote_key,
)
from prompt_alchemy.workers.learning.state import ApplyOutcome, OnlineTrainer, Refitter, StateStats

__all__ = ["DATABASE_FILE", "SqliteLearningState"]

DATABASE_FILE = "learning.sqlite3"
DEFAULT_HALF_LIFE_S = 30 * 24 * 3600.0
_WEIGHT_VERSIONS_KEPT = 100
_PARAMS_PER_QUERY = 500

_SCHEMA = """
CREATE TABLE IF NOT EXISTS facts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    fact TEXT NOT NULL,
    applied_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS prompts (
    prompt_id TEXT PRIMARY KEY,
    usage_count INTEGER NOT NULL DEFAULT 0,
    rating_count INTEGER NOT NULL DEFAULT 0,
    rating_sum REAL NOT NULL DEFAULT 0,
    decayed_sum REAL NOT NULL DEFAULT 0,
    decayed_weight REAL NOT NULL DEFAULT 0,
    decay_ref REAL NOT NULL DEFAULT 0,
    revision INTEGER NOT NULL DEFAULT 0,
    synced_revision INTEGER NOT NULL DEFAULT 0,
    features TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS prompts_unsynced ON prompts (prompt_id) WHERE revision > synced_revision;
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS weights (version INTEGER PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS votes (vote_key TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS influence (origin_prompt TEXT PRIMARY KEY, votes INTEGER NOT NULL) WITHOUT ROWID;
"""

_AGGREGATE_COLUMNS = (
    "prompt_id, usage_count, rating_count, rating_sum, decayed_sum, decayed_weight, decay_ref, revision"
)


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _PARAMS_PER_QUERY):
        yield items[start : start + _PARAMS_PER_QUERY]


def _placeholders(count: int) -> str:
    return ",".join("?" * count)


def _setup(connection: sqlite3.Connection) -> None:
    connection.executescript(_SCHEMA)


def _current_weights(connection: sqlite3.Connection) -> Weights:
    row = connection.execute("SELECT body FROM weights ORDER BY version DESC LIMIT 1").fetchone()
    return DEFAULT_WEIGHTS if row is None else Weights.model_validate_json(row[0])


def _store_weights(connection: sqlite3.Connection, weights: Weights) -> None:
    connection.execute(
        "INSERT INTO weights (version, body) VALUES (?, ?)", (weights.version, weights.model_dump_json())
    )
    connection.execute("DELETE FROM weights WHERE version <= ?", (weights.version - _WEIGHT_VERSIONS_KEPT,))


def _load_aggregates(connection: sqlite3.Connection, prompt_ids: Sequence[str]) -> dict[str, PromptAggregate]:
    found: dict[str, PromptAggregate] = {}
    for chunk in _chunks(prompt_ids):
        for row in connection.execute(
            f"SELECT {_AGGREGATE_COLUMNS} FROM prompts WHERE prompt_id IN ({_placeholders(len(chunk))})", chunk
        ):
            found[row[0]] = PromptAggregate.from_row(row)
    return found


class SqliteLearningState:
    """``LearningState`` in ``<data_dir>/learning.sqlite3``."""

    def __init__(self, path: Path, *, half_life: float = DEFAULT_HALF_LIFE_S, votes: VotePolicy | None = None) -> None:
        self.path = path
        self.half_life = half_life
        self.votes = votes or VotePolicy()
        self._thread = SqliteThread(path, name="learning-state", setup=_setup, failure=Unavailable, closed=Unavailable)

    @classmethod
    async def open(
        cls, data_dir: Path, *, half_life: float = DEFAULT_HALF_LIFE_S, votes: VotePolicy | None = None
    ) -> SqliteLearningState:
        try:
            await asyncio.to_thread(private_dir, data_dir)
        except OSError as error:
            raise ConfigError(f"cannot create the learning data directory {data_dir}: {error}") from error
        state = cls(data_dir / DATABASE_FILE, half_life=half_life, votes=votes)
        try:
            await state._thread.start()
        except Unavailable as error:
            raise ConfigError(f"cannot open the learning state {state.path}: {error}") from error
        return state

    async def close(self) -> None:
        await self._thread.close()

    async def unseen(self, event_ids: Sequence[str]) -> set[str]:
        ids = list(dict.fromkeys(event_ids))

        def read(connection: sqlite3.Connection) -> set[str]:
            known: set[str] = set()
            for chunk in _chunks(ids):
                known.update(
                    row[0]
                    for row in connection.execute(
                        f"SELECT event_id FROM facts WHERE event_id IN ({_placeholders(len(chunk))})", chunk
                    )
                )
            return set(ids) - known

        return await self._thread.run(read)

    async def features(self, prompt_ids: Sequence[str]) -> dict[str, dict[str, float]]:
        ids = list(dict.fromkeys(prompt_ids))

        def read(connection: sqlite3.Connection) -> dict[str, dict[str, float]]:
            found: dict[str, dict[str, float]] = {}
            for chunk in _chunks(ids):
                for prompt_id, text in connection.execute(
                    f"SELECT prompt_id, features FROM prompts WHERE features IS NOT NULL"
                    f" AND prompt_id IN ({_placeholders(len(chunk))})",
                    chunk,
                ):
                    found[prompt_id] = json.loads(text)
            return found

        return await self._thread.run(read)

    async def save_features(self, features: Mapping[str, Mapping[str, float]]) -> None:
        rows = [(prompt_id, json.dumps(dict(values))) for prompt_id, values in features.items()]

        def write(connection: sqlite3.Connection) -> None:
            connection.executemany(
                "INSERT INTO prompts (prompt_id, features) VALUES (?, ?)"
                " ON CONFLICT (prompt_id) DO UPDATE SET features = excluded.features",
                rows,
            )

        await self._thread.run(write)

    async def apply(self, facts: Sequence[FeedbackFact], trainer: OnlineTrainer | None = None) -> ApplyOutcome:
        batch = list(facts)
        half_life, policy = self.half_life, self.votes

        def write(connection: sqlite3.Connection) -> ApplyOutcome:
            new: list[FeedbackFact] = []
            seen: set[str] = set()
            for fact in batch:
                if fact.event_id in seen:
                    continue
                seen.add(fact.event_id)
                if connection.execute("SELECT 1 FROM facts WHERE event_id = ?", (fact.event_id,)).fetchone() is None:
                    new.append(fact)
            duplicates = len(batch) - len(new)
            now = time.time()
            admission = admit_votes(new, _known_votes(connection, new), _influence(connection, new), policy)
            connection.executemany(
                "INSERT INTO facts (event_id, fact, applied_at) VALUES (?, ?, ?)",
                [(fact.event_id, fact.to_json(), now) for fact in admission.recorded],
            )
            connection.executemany("INSERT INTO votes (vote_key) VALUES (?)", [(key,) for key in admission.new_votes])
            connection.executemany(
                "INSERT INTO influence (origin_prompt, votes) VALUES (?, ?)"
                " ON CONFLICT (origin_prompt) DO UPDATE SET votes = votes + excluded.votes",
                list(admission.influence.items()),
            )
            counted = admission.counted
            prompt_ids = list(dict.fromkeys(pid for fact in counted for pid in fact.prompt_ids))
            aggregates = _load_aggregates(connection, prompt_ids)
            counters = fold_admission(admission, aggregates, half_life=half_life)
            if duplicates:
                counters[DUPLICATES] += duplicates
            connection.executemany(
                f"INSERT INTO prompts ({_AGGREGATE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (prompt_id) DO UPDATE SET usage_count = excluded.usage_count,"
                " rating_count = excluded.rating_count, rating_sum = excluded.rating_sum,"
                " decayed_sum = excluded.decayed_sum, decayed_weight = excluded.decayed_weight,"
                " decay_ref = excluded.decay_ref, revision = excluded.revision",
                [aggregates[pid].to_row() for pid in prompt_ids],
            )
            _add_counters(connection, counters)
            weights: Weights | None = None
            if counted and trainer is not None:
                weights = trainer(_current_weights(connection), counted)
                if weights is not None:
                    _store_weights(connection, weights)
            return ApplyOutcome(applied=len(new), duplicates=duplicates, weights=weights)

        return await self._thread.run(write)

    async def count_duplicates(self, count: int) -> None:
        if count:
            await self._thread.run(lambda connection: _add_counters(connection, {DUPLICATES: count}))

    async def unsynced(self, limit: int) -> list[PromptAggregate]:
        def read(connection: sqlite3.Connection) -> list[PromptAggregate]:
            rows = connection.execute(
                f"SELECT {_AGGREGATE_COLUMNS} FROM prompts WHERE revision > synced_revision LIMIT ?", (limit,)
            ).fetchall()
            return [PromptAggregate.from_row(row) for row in rows]

        return await self._thread.run(read)

    async def mark_synced(self, revisions: Mapping[str, int]) -> None:
        rows = [(revision, prompt_id, revision) for prompt_id, revision in revisions.items()]

        def write(connection: sqlite3.Connection) -> None:
            connection.executemany(
                "UPDATE prompts SET synced_revision = ? WHERE prompt_id = ? AND synced_revision < ?", rows
            )

        await self._thread.run(write)

    async def aggregates(self, prompt_ids: Sequence[str]) -> dict[str, PromptAggregate]:
        ids = list(dict.fromkeys(prompt_ids))
        return await self._thread.run(lambda connection: _load_aggregates(connection, ids))

    async def weights(self) -> Weights:
        return await self._thread.run(_current_weights)

    async def facts(self) -> list[FeedbackFact]:
        return await self._thread.run(_all_facts)

    async def refit(self, refitter: Refitter) -> Weights:
        def write(connection: sqlite3.Connection) -> Weights:
            weights = refitter(_all_facts(connection), _current_weights(connection).version + 1)
            _store_weights(connection, weights)
            return weights

        return await self._thread.run(write)

    async def stats(self) -> StateStats:
        def read(connection: sqlite3.Connection) -> StateStats:
            counters = {name: int(value) for name, value in connection.execute("SELECT name, value FROM counters")}
            prompts, unsynced = connection.execute(
                "SELECT COUNT(*), COALESCE(SUM(revision > synced_revision), 0) FROM prompts WHERE revision > 0"
            ).fetchone()
            return StateStats(
                counters=counters,
                weights_version=_current_weights(connection).version,
                prompts=int(prompts),
                unsynced_prompts=int(unsynced),
            )

        return await self._thread.run(read)


def _known_votes(connection: sqlite3.Connection, facts: Sequence[FeedbackFact]) -> set[str]:
    keys = list({key for key in map(vote_key, facts) if key is not None})
    found: set[str] = set()
    for chunk in _chunks(keys):
        found.update(
            row[0]
            for row in connection.execute(
                f"SELECT vote_key FROM votes WHERE vote_key IN ({_placeholders(len(chunk))})", chunk
            )
        )
    return found


def _influence(connection: sqlite3.Connection, facts: Sequence[FeedbackFact]) -> dict[str, int]:
    keys = list({key for key in map(influence_key, facts) if key is not None})
    found: dict[str, int] = {}
    for chunk in _chunks(keys):
        for key, votes in connection.execute(
            f"SELECT origin_prompt, votes FROM influence WHERE origin_prompt IN ({_placeholders(len(chunk))})", chunk
        ):
            found[key] = int(votes)
    return found


def _all_facts(connection: sqlite3.Connection) -> list[FeedbackFact]:
    return [FeedbackFact.from_json(row[0]) for row in connection.execute("SELECT fact FROM facts ORDER BY id")]


def _add_counters(connection: sqlite3.Connection, counters: Mapping[str, Any]) -> None:
    connection.executemany(
        "INSERT INTO counters (name, value) VALUES (?, ?)"
        " ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
        [(name, int(value)) for name, value in counters.items() if value],
    )

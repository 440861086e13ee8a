"""The SQLite tables of the embedded store, row mapping and the SQL form of search filters."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from prompt_alchemy.schemas.storage import Lineage, PromptRecord, PromptVersion, SearchFilters
from prompt_alchemy.workers.storage.records import from_micros, to_micros

__all__ = [
    "INSERT_PROMPT",
    "INSERT_TAG",
    "INSERT_VERSION",
    "RECORD_COLUMNS",
    "SCHEMA",
    "SET_EMBEDDING",
    "UPDATE_PROMPT",
    "filter_clause",
    "record_params",
    "row_to_record",
    "row_to_version",
    "text_contains",
    "version_params",
]

SCHEMA = """
CREATE TABLE IF NOT EXISTS prompts (
    id TEXT PRIMARY KEY,
    content TEXT NOT NULL,
    content_hash TEXT NOT NULL UNIQUE,
    version INTEGER NOT NULL,
    input TEXT,
    tags TEXT NOT NULL,
    source TEXT NOT NULL,
    lineage TEXT NOT NULL,
    parent_id TEXT,
    phase TEXT,
    provider TEXT,
    persona TEXT,
    target_model TEXT,
    created_us INTEGER NOT NULL,
    updated_us INTEGER NOT NULL,
    usage_count INTEGER NOT NULL DEFAULT 0,
    rating_count INTEGER NOT NULL DEFAULT 0,
    mean_rating REAL,
    relevance_score REAL,
    embedding_model TEXT,
    embedding_dim INTEGER,
    embedding BLOB
);
CREATE INDEX IF NOT EXISTS prompts_by_created ON prompts (created_us, id);
CREATE INDEX IF NOT EXISTS prompts_by_parent ON prompts (parent_id);
CREATE INDEX IF NOT EXISTS prompts_by_model ON prompts (embedding_model, id);
CREATE TABLE IF NOT EXISTS prompt_tags (
    tag TEXT NOT NULL,
    prompt_id TEXT NOT NULL REFERENCES prompts (id) ON DELETE CASCADE,
    PRIMARY KEY (tag, prompt_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS prompt_tags_by_prompt ON prompt_tags (prompt_id);
CREATE TABLE IF NOT EXISTS prompt_versions (
    prompt_id TEXT NOT NULL REFERENCES prompts (id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    content TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    updated_us INTEGER NOT NULL,
    PRIMARY KEY (prompt_id, version)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS embedding_cache (
    model TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (model, text_hash)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
"""

RECORD_COLUMNS = (
    "id, content, content_hash, version, input, tags, source, lineage, created_us, updated_us, "
    "usage_count, rating_count, mean_rating, relevance_score, embedding_model, embedding_dim"
)

INSERT_PROMPT = (
    "INSERT INTO prompts (id, content, content_hash, version, input, tags, source, lineage, parent_id, phase, "
    "provider, persona, target_model, created_us, updated_us, usage_count, rating_count, mean_rating, "
    "relevance_score, embedding_model, embedding_dim, embedding) "
    "VALUES (:id, :content, :content_hash, :version, :input, :tags, :source, :lineage, :parent_id, :phase, "
    ":provider, :persona, :target_model, :created_us, :updated_us, :usage_count, :rating_count, :mean_rating, "
    ":relevance_score, :embedding_model, :embedding_dim, :embedding)"
)

UPDATE_PROMPT = (
    "UPDATE prompts SET content = :content, content_hash = :content_hash, version = :version, tags = :tags, "
    "updated_us = :updated_us, usage_count = :usage_count, rating_count = :rating_count, "
    "mean_rating = :mean_rating, relevance_score = :relevance_score WHERE id = :id"
)

INSERT_TAG = "INSERT OR IGNORE INTO prompt_tags (tag, prompt_id) VALUES (?, ?)"

INSERT_VERSION = (
    "INSERT OR REPLACE INTO prompt_versions (prompt_id, version, content, content_hash, updated_us) "
    "VALUES (?, ?, ?, ?, ?)"
)

SET_EMBEDDING = "UPDATE prompts SET embedding_model = ?, embedding_dim = ?, embedding = ? WHERE id = ?"


def record_params(record: PromptRecord, embedding: bytes | None) -> dict[str, Any]:
    lineage = record.lineage
    return {
        "id": record.id,
        "content": record.content,
        "content_hash": record.content_hash,
        "version": record.version,
        "input": record.input,
        "tags": json.dumps(record.tags),
        "source": record.source,
        "lineage": lineage.model_dump_json(exclude_defaults=True),
        "parent_id": lineage.parent_id,
        "phase": lineage.phase.value if lineage.phase else None,
        "provider": lineage.provider,
        "persona": lineage.persona.value if lineage.persona else None,
        "target_model": lineage.target_model,
        "created_us": to_micros(record.created_at),
        "updated_us": to_micros(record.updated_at),
        "usage_count": record.usage_count,
        "rating_count": record.rating_count,
        "mean_rating": record.mean_rating,
        "relevance_score": record.relevance_score,
        "embedding_model": record.embedding_model,
        "embedding_dim": record.embedding_dim,
        "embedding": embedding,
    }


def version_params(prompt_id: str, version: PromptVersion) -> tuple[str, int, str, str, int]:
    return (prompt_id, version.version, version.content, version.content_hash, to_micros(version.updated_at))


def row_to_record(row: sqlite3.Row) -> PromptRecord:
    return PromptRecord(
        id=row["id"],
        content=row["content"],
        content_hash=row["content_hash"],
        version=row["version"],
        input=row["input"],
        tags=json.loads(row["tags"]),
        source=row["source"],
        lineage=Lineage.model_validate_json(row["lineage"]),
        embedding_model=row["embedding_model"],
        embedding_dim=row["embedding_dim"],
        created_at=from_micros(row["created_us"]),
        updated_at=from_micros(row["updated_us"]),
        usage_count=row["usage_count"],
        rating_count=row["rating_count"],
        mean_rating=row["mean_rating"],
        relevance_score=row["relevance_score"],
    )


def row_to_version(row: sqlite3.Row) -> PromptVersion:
    return PromptVersion(
        version=row["version"],
        content=row["content"],
        content_hash=row["content_hash"],
        updated_at=from_micros(row["updated_us"]),
    )


def text_contains(content: str | None, needle: str | None) -> int:
    """SQL function behind ``text``: case-insensitive substring, as the Redis backend matches."""
    if content is None or needle is None:
        return 0
    return int(needle.casefold() in content.casefold())


def filter_clause(filters: SearchFilters, text: str | None) -> tuple[list[str], list[Any]]:
    """WHERE conditions (AND-ed) and their bound parameters. Column names are constants."""
    conditions: list[str] = []
    params: list[Any] = []
    for column, value in (
        ("phase", filters.phase.value if filters.phase else None),
        ("provider", filters.provider),
        ("persona", filters.persona.value if filters.persona else None),
        ("target_model", filters.target_model),
        ("source", filters.source),
        ("parent_id", filters.parent_id),
    ):
        if value is not None:
            conditions.append(f"{column} = ?")
            params.append(value)
    for tag in dict.fromkeys(filters.tags):
        conditions.append("EXISTS (SELECT 1 FROM prompt_tags t WHERE t.prompt_id = prompts.id AND t.tag = ?)")
        params.append(tag)
    if filters.created_since is not None:
        conditions.append("created_us >= ?")
        params.append(to_micros(filters.created_since))
    if text is not None:
        conditions.append("alchemy_contains(content, ?)")
        params.append(text)
    return conditions, params

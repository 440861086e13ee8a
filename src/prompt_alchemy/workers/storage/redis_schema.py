"""Key layout, search index schema and hash encoding of the Redis backend.

Every key starts with the store's prefix, so stores (and tests) sharing one Redis never see
each other:

    <p>:prompt:<id>        HASH   one prompt (indexed by <p>:prompts)
    <p>:hash:<sha256>      STRING id of the prompt with that content (dedupe)
    <p>:versions:<id>      LIST   JSON PromptVersion, oldest first
    <p>:meta               HASH   active model + dimension, prompt and version counters
    <p>:embcache:<model>   HASH   text sha256 -> float32 vector
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from redisvl.query.filter import FilterExpression, Num
from redisvl.schema import IndexSchema

from prompt_alchemy.schemas.storage import Lineage, PromptRecord, PromptVersion, SearchFilters
from prompt_alchemy.workers.storage.embedders import FloatVector
from prompt_alchemy.workers.storage.records import from_micros, to_micros

__all__ = [
    "RECORD_FIELDS",
    "HnswParams",
    "RedisKeys",
    "decode_record",
    "decode_version",
    "encode_record",
    "encode_version",
    "filter_expression",
    "index_schema",
    "sort_key",
    "vector_bytes",
]

RECORD_FIELDS = (
    "prompt_id",
    "content",
    "content_hash",
    "version",
    "input",
    "tags",
    "source",
    "lineage",
    "created_us",
    "updated_us",
    "usage_count",
    "rating_count",
    "mean_rating",
    "relevance_score",
    "embedding_model",
    "embedding_dim",
)
# Lineage scalars copied into their own hash fields so the index can filter on them.
_LINEAGE_TAGS = ("parent_id", "phase", "provider", "persona", "target_model")
_OPTIONAL_FIELDS = (*_LINEAGE_TAGS, "embedding_model", "embedding_dim", "embedding")


@dataclass(frozen=True, slots=True)
class HnswParams:
    """HNSW graph settings; ``ef_runtime`` is raised per query to at least the k asked for."""

    m: int = 16
    ef_construction: int = 200
    ef_runtime: int = 64


@dataclass(frozen=True, slots=True)
class RedisKeys:
    prefix: str

    @property
    def index_name(self) -> str:
        return f"{self.prefix}:prompts"

    @property
    def prompt_prefix(self) -> str:
        return f"{self.prefix}:prompt:"

    def prompt(self, prompt_id: str) -> str:
        return f"{self.prefix}:prompt:{prompt_id}"

    def prompt_id_of(self, key: str) -> str:
        return key[len(self.prompt_prefix) :]

    def content(self, content_hash: str) -> str:
        return f"{self.prefix}:hash:{content_hash}"

    def versions(self, prompt_id: str) -> str:
        return f"{self.prefix}:versions:{prompt_id}"

    @property
    def meta(self) -> str:
        return f"{self.prefix}:meta"

    def embedding_cache(self, model: str) -> str:
        return f"{self.prefix}:embcache:{model}"

    @property
    def embedding_cache_pattern(self) -> str:
        return f"{self.prefix}:embcache:*"


def index_schema(keys: RedisKeys, dimension: int, hnsw: HnswParams) -> IndexSchema:
    exact = {"case_sensitive": True}
    fields: list[dict[str, Any]] = [
        {"name": name, "type": "tag", "attrs": exact}
        for name in ("prompt_id", "content_hash", "source", "embedding_model", *_LINEAGE_TAGS)
    ]
    fields += [
        {"name": "tags", "type": "tag", "attrs": {"separator": ",", "case_sensitive": True}},
        {"name": "created_us", "type": "numeric", "attrs": {"sortable": True}},
        {"name": "sort_key", "type": "tag", "attrs": {"sortable": True, "case_sensitive": True}},
        {
            "name": "embedding",
            "type": "vector",
            "attrs": {
                "dims": dimension,
                "algorithm": "hnsw",
                "distance_metric": "cosine",
                "datatype": "float32",
                "m": hnsw.m,
                "ef_construction": hnsw.ef_construction,
                "ef_runtime": hnsw.ef_runtime,
            },
        },
    ]
    return IndexSchema.from_dict(
        {"index": {"name": keys.index_name, "prefix": keys.prompt_prefix, "storage_type": "hash"}, "fields": fields}
    )


def sort_key(created_us: int, prompt_id: str) -> str:
    """Newest-first and export order in one sortable string: (created, id)."""
    return f"{created_us:020d}:{prompt_id}"


def vector_bytes(vector: FloatVector) -> bytes:
    return np.ascontiguousarray(vector, dtype="<f4").tobytes()


def encode_record(record: PromptRecord, embedding: FloatVector | None) -> tuple[dict[Any, Any], list[str]]:
    """Hash fields to set, and optional fields to delete because they are now empty."""
    lineage = record.lineage
    created_us = to_micros(record.created_at)
    fields: dict[Any, Any] = {
        "prompt_id": record.id,
        "content": record.content,
        "content_hash": record.content_hash,
        "version": record.version,
        "input": json.dumps(record.input),
        "tags": ",".join(record.tags),
        "source": record.source,
        "lineage": lineage.model_dump_json(exclude_defaults=True),
        "created_us": created_us,
        "updated_us": to_micros(record.updated_at),
        "sort_key": sort_key(created_us, record.id),
        "usage_count": record.usage_count,
        "rating_count": record.rating_count,
        "mean_rating": json.dumps(record.mean_rating),
        "relevance_score": json.dumps(record.relevance_score),
    }
    optional: dict[str, Any] = {
        "parent_id": lineage.parent_id,
        "phase": lineage.phase.value if lineage.phase else None,
        "provider": lineage.provider,
        "persona": lineage.persona.value if lineage.persona else None,
        "target_model": lineage.target_model,
        "embedding_model": record.embedding_model,
        "embedding_dim": record.embedding_dim,
        "embedding": vector_bytes(embedding) if embedding is not None else None,
    }
    fields.update({name: value for name, value in optional.items() if value not in (None, "")})
    if not fields["tags"]:
        del fields["tags"]
    return fields, [name for name in _OPTIONAL_FIELDS if name not in fields]


def _text(value: bytes | str | None) -> str | None:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def decode_record(values: Sequence[bytes | str | None]) -> PromptRecord | None:
    """A record from an HMGET of RECORD_FIELDS (None when the prompt does not exist)."""
    row = dict(zip(RECORD_FIELDS, (_text(value) for value in values), strict=True))
    if row["prompt_id"] is None or row["content"] is None:
        return None
    embedding_dim = row["embedding_dim"]
    return PromptRecord(
        id=row["prompt_id"],
        content=row["content"],
        content_hash=row["content_hash"] or "",
        version=int(row["version"] or 1),
        input=json.loads(row["input"] or "null"),
        tags=[tag for tag in (row["tags"] or "").split(",") if tag],
        source=row["source"] or "generate",
        lineage=Lineage.model_validate_json(row["lineage"] or "{}"),
        embedding_model=row["embedding_model"],
        embedding_dim=int(embedding_dim) if embedding_dim else None,
        created_at=from_micros(int(row["created_us"] or 0)),
        updated_at=from_micros(int(row["updated_us"] or 0)),
        usage_count=int(row["usage_count"] or 0),
        rating_count=int(row["rating_count"] or 0),
        mean_rating=json.loads(row["mean_rating"] or "null"),
        relevance_score=json.loads(row["relevance_score"] or "null"),
    )


def encode_version(version: PromptVersion) -> str:
    return version.model_dump_json()


def decode_version(raw: bytes | str) -> PromptVersion:
    return PromptVersion.model_validate_json(raw)


_TAG_PLAIN = re.compile(r"[A-Za-z0-9_]|[^\x00-\x7f]")


def tag_equals(field: str, value: str) -> FilterExpression:
    """``@field:{value}`` matching ``value`` literally: every ASCII punctuation is escaped.

    redisvl's escaper leaves some characters out (a backtick made a tag silently match nothing),
    and control characters are refused by the schemas before they get here.
    """
    escaped = "".join(char if _TAG_PLAIN.match(char) else "\\" + char for char in value)
    return FilterExpression(f"@{field}:{{{escaped}}}")


def filter_expression(filters: SearchFilters, *, model: str | None = None) -> FilterExpression | None:
    """The RediSearch form of the filters (None: match everything)."""
    parts: list[FilterExpression] = []
    for name, value in (
        ("phase", filters.phase.value if filters.phase else None),
        ("provider", filters.provider),
        ("persona", filters.persona.value if filters.persona else None),
        ("target_model", filters.target_model),
        ("source", filters.source),
        ("parent_id", filters.parent_id),
        ("embedding_model", model),
    ):
        if value is not None:
            parts.append(tag_equals(name, value))
    parts += [tag_equals("tags", tag) for tag in dict.fromkeys(filters.tags)]
    if filters.created_since is not None:
        parts.append(Num("created_us") >= to_micros(filters.created_since))
    if not parts:
        return None
    combined = parts[0]
    for part in parts[1:]:
        combined = combined & part
    return combined

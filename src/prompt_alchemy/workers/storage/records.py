"""How a stored prompt is built and edited, the same for every backend.

Backends only persist; the rules (content hash, ids, versioning, aggregate updates, timestamps
in integer microseconds) live here once.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import UTC, datetime

from prompt_alchemy.errors import BadRequest, NotFound
from prompt_alchemy.schemas.common import utc_now
from prompt_alchemy.schemas.storage import (
    AggregatesRequest,
    PromptRecord,
    PromptVersion,
    StoreRequest,
    UpdateRequest,
)

__all__ = [
    "MIN_ID_PREFIX",
    "PromptEdit",
    "apply_update",
    "content_hash",
    "edited_content",
    "from_micros",
    "glob_escaped",
    "new_prompt_id",
    "new_record",
    "text_hash",
    "to_micros",
    "unique_prefix_match",
]


def content_hash(content: str) -> str:
    """Identity of a prompt's content: SHA-256 of its exact UTF-8 bytes."""
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def text_hash(text: str) -> str:
    """Key of a text in the embedding cache (per model)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def new_prompt_id() -> str:
    return uuid.uuid4().hex


def to_micros(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> datetime:
    return datetime.fromtimestamp(micros // 1_000_000, tz=UTC).replace(microsecond=micros % 1_000_000)


def _truncated(moment: datetime) -> datetime:
    """Timestamps round-trip through integer microseconds; make the in-memory value equal to it."""
    return from_micros(to_micros(moment))


def new_record(
    request: StoreRequest,
    *,
    embedding_model: str | None,
    embedding_dim: int | None,
    prompt_id: str | None = None,
    now: datetime | None = None,
) -> PromptRecord:
    moment = _truncated(now or utc_now())
    return PromptRecord(
        id=prompt_id or new_prompt_id(),
        content=request.content,
        content_hash=content_hash(request.content),
        input=request.input,
        tags=list(dict.fromkeys(request.tags)),
        source=request.source,
        lineage=request.lineage.model_copy(),
        embedding_model=embedding_model,
        embedding_dim=embedding_dim,
        created_at=moment,
        updated_at=moment,
    )


PromptEdit = UpdateRequest | AggregatesRequest
"""A user's edit (content, tags) or learning's aggregates: the two ways a stored prompt changes."""


def edited_content(request: PromptEdit) -> str | None:
    """The new content an edit brings, if any (aggregates never change content)."""
    return request.content if isinstance(request, UpdateRequest) else None


def apply_update(
    record: PromptRecord, request: PromptEdit, *, now: datetime | None = None
) -> tuple[PromptRecord, PromptVersion | None]:
    """The edited record and, when the content changed, the version it replaces."""
    moment = _truncated(now or utc_now())
    changes: dict[str, object] = {"updated_at": moment}
    if isinstance(request, AggregatesRequest):
        usage = record.usage_count if request.usage_count is None else request.usage_count
        changes["usage_count"] = usage + request.increment_usage
        if request.rating_count is not None:
            changes["rating_count"] = request.rating_count
        if request.mean_rating is not None:
            changes["mean_rating"] = request.mean_rating
        if request.relevance_score is not None:
            changes["relevance_score"] = request.relevance_score
        return record.model_copy(update=changes), None
    previous: PromptVersion | None = None
    if request.content is not None and request.content != record.content:
        previous = PromptVersion(
            version=record.version,
            content=record.content,
            content_hash=record.content_hash,
            updated_at=record.updated_at,
        )
        changes.update(content=request.content, content_hash=content_hash(request.content), version=record.version + 1)
    if request.tags is not None:
        changes["tags"] = list(dict.fromkeys(request.tags))
    return record.model_copy(update=changes), previous


def glob_escaped(text: str) -> str:
    """``text`` with the glob characters of a Redis MATCH pattern escaped, to match it literally."""
    return re.sub(r"([\\*?\[\]])", r"\\\1", text)


MIN_ID_PREFIX = 4  # shorter prefixes would match too much to be what a person meant


def unique_prefix_match(prefix: str, matches: list[str]) -> str:
    """The one id ``prefix`` stands for; NotFound for none, BadRequest when it is ambiguous (both backends)."""
    if len(prefix) < MIN_ID_PREFIX or not matches:
        raise NotFound(f"no prompt with id {prefix!r}", details={"id": prefix})
    if len(matches) > 1:
        shown = ", ".join(sorted(matches)[:3])
        raise BadRequest(
            f"id prefix {prefix!r} matches several prompts ({shown}...); give more characters",
            details={"id": prefix, "matches": sorted(matches)[:3]},
        )
    return matches[0]

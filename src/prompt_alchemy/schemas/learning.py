"""Contracts of the learning worker: the durable feedback event, weights, stats, recommendations."""

from __future__ import annotations

import os
from datetime import datetime
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from prompt_alchemy.schemas.common import (
    MAX_INPUT_CHARS,
    Event,
    Identifier,
    Reply,
    Request,
    utc_now,
)
from prompt_alchemy.schemas.storage import PromptRecord, SearchFilters

__all__ = [
    "FeedbackAccepted",
    "FeedbackEvent",
    "FeedbackSource",
    "LearningStats",
    "LearningStatsRequest",
    "Recommendation",
    "RecommendationsReply",
    "RecommendationsRequest",
    "UpdateWeightsRequest",
    "Weights",
    "WeightsRequest",
    "WeightsUpdated",
]

FeedbackSource = Literal["http", "mcp", "cli", "api", "internal"]


_PRINTABLE = r"^[^\x00-\x1f\x7f]*$"  # no control characters: these are parts of a vote's key


def _new_event_id() -> str:
    """A random UUID (version 4) as 32 hex digits, exactly as ``uuid.uuid4().hex``, without
    building the ``UUID`` object: a third of its cost, and a front door makes one per event."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # RFC 4122 variant
    return raw.hex()


_SIGNALS = {"rating": "integer", "effectiveness": "number", "helpful": "boolean", "chosen_over": "string"}


class FeedbackEvent(Event):
    """A user's judgement of a prompt. ``event_id`` is the idempotency key: resend freely.

    At least one signal (rating, effectiveness, helpful, chosen_over) is required.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [{"required": [name], "properties": {name: {"type": kind}}} for name, kind in _SIGNALS.items()]
        }
    )

    event_id: Identifier = Field(default_factory=_new_event_id)
    prompt_id: Identifier
    rating: int | None = Field(default=None, ge=1, le=5)
    effectiveness: float | None = Field(default=None, ge=0.0, le=1.0)
    helpful: bool | None = None
    chosen_over: Identifier | None = None
    comment: Annotated[str, StringConstraints(max_length=4000)] | None = None
    session_id: Annotated[str, StringConstraints(max_length=128, pattern=_PRINTABLE)] | None = None
    source: FeedbackSource = "api"
    # Set by the front door, never by the caller: who sent it (an API key's fingerprint or a client
    # address) and when. Learning counts one vote per origin, session and prompt.
    origin: Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=_PRINTABLE)] | None = None
    created_at: datetime = Field(default_factory=utc_now)

    @model_validator(mode="after")
    def _carries_a_signal(self) -> FeedbackEvent:
        if self.rating is None and self.effectiveness is None and self.helpful is None and self.chosen_over is None:
            raise ValueError("feedback needs at least one of rating, effectiveness, helpful, chosen_over")
        if self.chosen_over == self.prompt_id:
            raise ValueError("chosen_over must name a different prompt")
        return self


class FeedbackAccepted(Reply):
    """The durable log holds the event: it will be applied even if learning is down now."""

    event_id: str
    sequence: int
    duplicate: bool = False


class Weights(Reply):
    version: int = 0
    weights: dict[str, float] = Field(default_factory=dict)
    bias: float = 0.0
    trained_on: int = 0
    updated_at: datetime = Field(default_factory=utc_now)


class WeightsUpdated(Event):
    version: int
    weights: dict[str, float]
    bias: float = 0.0
    trained_on: int = 0


class WeightsRequest(Request):
    pass


class UpdateWeightsRequest(Request):
    """Recompute the weights in full from every applied feedback event."""

    epochs: int = Field(default=20, ge=1, le=500)


class LearningStatsRequest(Request):
    pass


class LearningStats(Reply):
    enabled: bool = True
    events_processed: int = 0
    duplicates: int = 0
    ignored_votes: int = Field(
        default=0, description="Events recorded without effect: a repeated vote, or one origin's votes over its limit."
    )
    dead_lettered: int = 0
    pairwise_preferences: int = 0
    by_source: dict[str, int] = Field(default_factory=dict)
    rating_distribution: dict[str, int] = Field(default_factory=dict)
    weights_version: int = 0


class RecommendationsRequest(Request):
    input: Annotated[str, StringConstraints(min_length=1, max_length=MAX_INPUT_CHARS)]
    limit: int = Field(default=5, ge=1, le=50)
    filters: SearchFilters = Field(default_factory=SearchFilters)
    min_similarity: float = Field(default=0.0, ge=-1.0, le=1.0)


class Recommendation(Reply):
    record: PromptRecord
    similarity: float
    learned_score: float
    score: float


class RecommendationsReply(Reply):
    items: list[Recommendation]

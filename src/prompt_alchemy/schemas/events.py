"""Pub/sub events: live generation progress."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from prompt_alchemy.schemas.common import Event, Phase, utc_now

__all__ = ["GenerationProgress", "ProgressKind"]


class ProgressKind(StrEnum):
    STARTED = "started"
    PHASE_STARTED = "phase_started"
    CANDIDATE = "candidate"
    PHASE_DONE = "phase_done"
    RANKED = "ranked"
    SAVED = "saved"
    COMPLETED = "completed"
    FAILED = "failed"
    TOKEN = "token"  # noqa: S105 -- a streamed text delta, not a secret


class GenerationProgress(Event):
    """One step of a generation, published on ``alchemy.v1.events.generation.<request_id>``.

    ``seq`` counts the engine's events from 0 per request and per ``attempt``, so a listener can
    order and detect gaps; ``attempt`` is 2 or more when the request was resent to another engine
    replica after the one running it was lost (its events start again from seq 0).
    ``TOKEN`` events are the exception: the providers worker publishes them while a vendor streams
    a candidate (``phase``, ``chain`` and the text ``delta``); their ``seq`` counts the deltas of
    that one phase and chain from 0. They arrive before that candidate's ``CANDIDATE`` event.
    """

    request_id: str
    attempt: int = Field(default=1, ge=1, le=20)
    seq: int = Field(ge=0)
    kind: ProgressKind
    phase: Phase | None = None
    chain: int | None = None
    prompt_id: str | None = None
    message: str = ""
    delta: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    at: datetime = Field(default_factory=utc_now)

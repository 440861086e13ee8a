"""A feedback event as the learning state keeps it: the signals and who gave them (no comment).

``origin`` (the caller as the front door identified it) and ``session_id`` make a fact a *vote*:
``ledger.admit_votes`` counts one vote per origin, session and prompt, and bounds how many votes
one origin has on a prompt. The event's time is the front door's stamp, never later than when
learning saw it: a future date cannot pin a prompt's relevance.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from prompt_alchemy.schemas.learning import FeedbackEvent

__all__ = ["FeedbackFact"]


@dataclass(frozen=True, slots=True)
class FeedbackFact:
    """One applied feedback event; ``event_id`` is its identity (applied once, ever)."""

    event_id: str
    prompt_id: str
    source: str
    created_at: float  # Unix seconds, from the event
    rating: int | None = None
    effectiveness: float | None = None
    helpful: bool | None = None
    chosen_over: str | None = None
    origin: str | None = None
    session_id: str | None = None
    counted: bool = True  # False: a repeated or over-limit vote, recorded but without effect

    @classmethod
    def from_event(cls, event: FeedbackEvent, *, received_at: float) -> FeedbackFact:
        """``received_at`` (Unix seconds) caps the event's time: nothing is dated in the future."""
        return cls(
            event_id=event.event_id,
            prompt_id=event.prompt_id,
            source=event.source,
            created_at=min(event.created_at.timestamp(), received_at),
            rating=event.rating,
            effectiveness=event.effectiveness,
            helpful=event.helpful,
            chosen_over=event.chosen_over,
            origin=event.origin,
            session_id=event.session_id,
        )

    @property
    def prompt_ids(self) -> tuple[str, ...]:
        return (self.prompt_id,) if self.chosen_over is None else (self.prompt_id, self.chosen_over)

    def target(self) -> float | None:
        """How good the prompt was judged, in [0, 1]: the mean of the absolute signals it carries."""
        signals: list[float] = []
        if self.rating is not None:
            signals.append((self.rating - 1) / 4)
        if self.effectiveness is not None:
            signals.append(self.effectiveness)
        if self.helpful is not None:
            signals.append(1.0 if self.helpful else 0.0)
        return sum(signals) / len(signals) if signals else None

    def relevance_signal(self) -> float:
        """The signal for the prompt's relevance score: its target, or 1 for a bare "chosen over"."""
        target = self.target()
        return 1.0 if target is None else target

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> FeedbackFact:
        return cls(**json.loads(text))

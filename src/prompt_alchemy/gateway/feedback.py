"""How a front door hands a feedback event to the durable stream.

The runtime owns the durable publisher (a JetStream stream on NATS, an SQLite log embedded)
and passes it in as a ``FeedbackSink``; the gateway never knows which. Before publishing, the
prompts the event names are looked up so a typo is a 404 instead of a silently useless event
(``known_prompts``: a door may remember for a few seconds which ones storage confirmed); when
storage cannot answer, the event is still accepted — feedback must not be lost because a
dependency is down.

The front door also says who sent the event: ``origin`` (an API key's fingerprint, a client
address, or the door itself for MCP and the CLI) is stamped on it, as is ``created_at``, and
``FeedbackLimits`` bounds how many events one origin and one of its sessions may send a minute.
Learning counts one vote per origin, session and prompt; these limits bound the volume around it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

from prompt_alchemy.bus import Bus
from prompt_alchemy.errors import RateLimited
from prompt_alchemy.gateway.known_prompts import KnownPrompts, check_known
from prompt_alchemy.gateway.rate_limit import RateLimiter
from prompt_alchemy.schemas.learning import FeedbackAccepted, FeedbackEvent

__all__ = ["FeedbackGate", "FeedbackLimits", "FeedbackSink", "key_origin", "submit_feedback"]

FeedbackSink = Callable[[FeedbackEvent], Awaitable[FeedbackAccepted]]
"""Persists a feedback event durably and says so; resending the same ``event_id`` is harmless."""


def key_origin(api_key: str) -> str:
    """The origin of a caller holding ``api_key``: a fingerprint that cannot be turned back into the key."""
    return "key:" + hashlib.sha256(api_key.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class FeedbackLimits:
    """Feedback events a minute per origin and per (origin, session); 0 is unlimited."""

    per_origin: int = 0
    per_session: int = 0

    def __post_init__(self) -> None:
        if self.per_origin < 0 or self.per_session < 0:
            raise ValueError("feedback limits must be 0 (unlimited) or positive")


class FeedbackGate:
    """The token buckets of ``FeedbackLimits`` for one front door."""

    def __init__(self, limits: FeedbackLimits) -> None:
        self.limits = limits
        self._origins = RateLimiter(limits.per_origin) if limits.per_origin else None
        self._sessions = RateLimiter(limits.per_session) if limits.per_session else None

    def admit(self, event: FeedbackEvent) -> None:
        """RateLimited (429) when the event's origin or session has sent its minute's share."""
        origin = event.origin or "unknown"
        checks = [(self._origins, origin, "origin", self.limits.per_origin)]
        if event.session_id is not None:
            checks.append((self._sessions, f"{origin}\x1f{event.session_id}", "session", self.limits.per_session))
        for limiter, caller, scope, per_minute in checks:
            wait = limiter.acquire(caller) if limiter is not None else None
            if wait is not None:
                raise RateLimited(
                    f"feedback limit of {per_minute} events a minute per {scope} reached; retry later",
                    details={"retry_after": round(wait, 3), "limit": scope},
                )


async def submit_feedback(
    bus: Bus,
    sink: FeedbackSink,
    event: FeedbackEvent,
    gate: FeedbackGate | None = None,
    known: KnownPrompts | None = None,
) -> FeedbackAccepted:
    """Apply the door's feedback limits, check the named prompts exist (when storage can tell;
    through the door's ``known`` prompts when it keeps them), then publish durably."""
    if gate is not None:
        gate.admit(event)
    check = known.check if known is not None else partial(check_known, bus)
    await check(event.prompt_id, "prompt_id")
    if event.chosen_over is not None:
        await check(event.chosen_over, "chosen_over")
    return await sink(event)

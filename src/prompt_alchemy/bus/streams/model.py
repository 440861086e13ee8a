"""The durable-stream contract: one small protocol, two peer implementations (JetStream, SQLite log).

Semantics both implementations share (one contract test suite proves it):

- ``publish`` returns only once the message is durably stored; a second publish with the same
  ``msg_id`` inside the duplicate window is stored once and acknowledged with ``duplicate=True``.
- A durable consumer gets every message at least once, in sequence order for first deliveries.
  A delivery that is neither acked nor settled comes back after ``ack_wait`` (or when the consumer is
  reopened after a crash), with ``attempt`` counting deliveries.
- ``nak`` asks for redelivery (optionally delayed); ``term`` parks the message in the dead-letter
  store with a reason; so do a ``nak`` on the last allowed attempt and a delivery past ``max_deliver``
  (a consumer that crashes on a message every time). Dead letters keep the original data.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from prompt_alchemy.errors import BadRequest, PayloadTooLarge

__all__ = [
    "DEAD_LETTER_ATTEMPTS_HEADER",
    "DEAD_LETTER_REASON_HEADER",
    "DEAD_LETTER_SEQUENCE_HEADER",
    "DEAD_LETTER_SUBJECT_HEADER",
    "MSG_ID_HEADER",
    "ConsumerState",
    "DeadLetter",
    "Delivery",
    "DeliverySettler",
    "DurableConsumer",
    "DurableStream",
    "PublishAck",
    "StreamInfo",
    "StreamSpec",
    "check_publishable",
    "park_exhausted",
    "single_line",
]

log = logging.getLogger(__name__)

MSG_ID_HEADER = "Nats-Msg-Id"
DEAD_LETTER_REASON_HEADER = "Alchemy-Dead-Letter-Reason"
DEAD_LETTER_ATTEMPTS_HEADER = "Alchemy-Dead-Letter-Attempts"
DEAD_LETTER_SUBJECT_HEADER = "Alchemy-Dead-Letter-Subject"
DEAD_LETTER_SEQUENCE_HEADER = "Alchemy-Dead-Letter-Sequence"

DAY_S = 24 * 3600.0
_MAX_REASON_CHARS = 1000


def single_line(text: str, limit: int = _MAX_REASON_CHARS) -> str:
    """Header values are one line by protocol; reasons are trimmed to a readable size."""
    return " ".join(text.split())[:limit]


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """One durable stream: its name, the subjects it captures and how long it keeps things.

    ``duplicate_window``: how long a ``msg_id`` is remembered for de-duplication (seconds).
    ``max_age``: how long messages are kept (None: until deleted by limits, i.e. forever).
    """

    name: str
    subjects: tuple[str, ...]
    duplicate_window: float = DAY_S
    max_age: float | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"stream name {self.name!r} may only hold letters, digits, '-' and '_'")
        if not self.subjects:
            raise ValueError(f"stream {self.name} needs at least one subject")
        if self.duplicate_window <= 0:
            raise ValueError("duplicate_window must be positive")

    @property
    def dead_letter_name(self) -> str:
        return f"{self.name}_DLQ"

    @property
    def dead_letter_subject(self) -> str:
        return f"alchemy.deadletter.{self.name.lower()}"


@dataclass(frozen=True, slots=True)
class PublishAck:
    stream: str
    sequence: int
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class ConsumerState:
    """``pending``: stored but never delivered; ``ack_pending``: delivered, not yet acked."""

    name: str
    pending: int
    ack_pending: int


@dataclass(frozen=True, slots=True)
class StreamInfo:
    name: str
    messages: int
    last_sequence: int
    dead_letters: int
    consumers: Mapping[str, ConsumerState] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A parked message: the original bytes and why it was parked."""

    subject: str
    data: bytes
    headers: Mapping[str, str]
    msg_id: str | None
    sequence: int
    attempts: int
    reason: str
    parked_at: datetime | None = None


class DeliverySettler(Protocol):
    """What an implementation does when a delivery is settled (``Delivery`` holds the policy)."""

    async def ack(self, delivery: Delivery) -> None: ...

    async def nak(self, delivery: Delivery, delay: float | None) -> None: ...

    async def in_progress(self, delivery: Delivery) -> None: ...

    async def dead_letter(self, delivery: Delivery, reason: str) -> None:
        """Store the message in the dead-letter store, then stop its redelivery."""
        ...


class Delivery:
    """One delivery of a stored message. Settle it once: ack, nak or term (later calls do nothing)."""

    __slots__ = (
        "_settled",
        "_settler",
        "attempt",
        "data",
        "handle",
        "headers",
        "max_deliver",
        "msg_id",
        "sequence",
        "subject",
    )

    def __init__(
        self,
        settler: DeliverySettler,
        *,
        subject: str,
        data: bytes,
        headers: Mapping[str, str],
        msg_id: str | None,
        sequence: int,
        attempt: int,
        max_deliver: int,
        handle: object = None,
    ) -> None:
        self._settler = settler
        self.handle = handle  # the implementation's own reference (e.g. the nats-py message)
        self._settled = False
        self.subject = subject
        self.data = data
        self.headers = headers
        self.msg_id = msg_id
        self.sequence = sequence
        self.attempt = attempt
        self.max_deliver = max_deliver

    @property
    def settled(self) -> bool:
        return self._settled

    @property
    def last_attempt(self) -> bool:
        return self.attempt >= self.max_deliver

    def __repr__(self) -> str:
        return f"Delivery(seq={self.sequence}, msg_id={self.msg_id!r}, attempt={self.attempt}/{self.max_deliver})"

    async def ack(self) -> None:
        if self._claim():
            await self._settler.ack(self)

    async def nak(self, delay: float | None = None, *, reason: str = "negatively acknowledged") -> None:
        """Redeliver later; on the last allowed attempt the message is dead-lettered with ``reason``."""
        if not self._claim():
            return
        if self.last_attempt:
            await self._dead_letter(f"{reason} (gave up after {self.attempt} deliveries)")
        else:
            await self._settler.nak(self, delay)

    async def term(self, reason: str) -> None:
        """Never redeliver: park the message in the dead-letter store with ``reason``."""
        if self._claim():
            await self._dead_letter(reason)

    async def _dead_letter(self, reason: str) -> None:
        # An operator must hear of every event that will not be applied, with what to look for.
        log.warning(
            "dead-lettered event %s (%s, sequence %d, delivery %d): %s",
            self.msg_id or "without id",
            self.subject,
            self.sequence,
            self.attempt,
            reason,
        )
        await self._settler.dead_letter(self, reason)

    async def in_progress(self) -> None:
        """Still working on it: restart the ack_wait timer (e.g. while a dependency is down)."""
        if not self._settled:
            await self._settler.in_progress(self)

    def _claim(self) -> bool:
        if self._settled:
            log.debug("%r settled twice; ignored", self)
            return False
        self._settled = True
        return True


class DurableConsumer(Protocol):
    name: str

    async def fetch(self, batch: int, *, timeout: float) -> list[Delivery]:
        """Up to ``batch`` deliveries; waits up to ``timeout`` for the first; ``[]`` on timeout."""
        ...

    async def close(self) -> None:
        """Stop fetching; unacked deliveries come back later (the durable state stays)."""
        ...


class DurableStream(Protocol):
    spec: StreamSpec
    max_payload: int

    async def publish(
        self, subject: str, data: bytes, *, msg_id: str, headers: Mapping[str, str] | None = None
    ) -> PublishAck:
        """Store ``data`` durably; returns once stored. Same ``msg_id`` again: stored once."""
        ...

    async def consumer(self, durable_name: str, *, ack_wait: float, max_deliver: int) -> DurableConsumer:
        """Create (or reopen) the durable consumer ``durable_name``; it starts at the first message."""
        ...

    async def info(self) -> StreamInfo: ...

    async def dead_letters(self, *, limit: int = 100) -> list[DeadLetter]:
        """The oldest parked messages, up to ``limit``."""
        ...

    async def close(self) -> None: ...


async def park_exhausted(deliveries: list[Delivery]) -> list[Delivery]:
    """Dead-letter deliveries past ``max_deliver`` (their consumer never settled them); return the rest.

    Both implementations let the server or log redeliver without limit and enforce ``max_deliver``
    here, so a message that crashes its consumer every time still ends in the dead-letter store.
    """
    kept: list[Delivery] = []
    for delivery in deliveries:
        if delivery.attempt > delivery.max_deliver:
            await delivery.term(
                f"not acknowledged after {delivery.max_deliver} deliveries (consumer crashed or timed out)"
            )
        else:
            kept.append(delivery)
    return kept


def check_publishable(spec: StreamSpec, subject: str, data: bytes, *, msg_id: str, max_payload: int) -> None:
    """What both stream implementations refuse before storing anything."""
    if subject not in spec.subjects:
        raise BadRequest(f"stream {spec.name} does not capture subject {subject!r}")
    if not msg_id:
        raise BadRequest("a durable message needs a msg_id")
    if len(data) > max_payload:
        raise PayloadTooLarge.over_limit(f"message on {subject}", len(data), max_payload)

"""What travels with every message besides its payload: the W3C trace context and the deadline.

A handler runs with its ``RequestContext`` bound in a context variable (``bound_context``, a
context manager as structlog's ``bound_contextvars``), so every request it makes on the bus
carries the same trace id (a new span) and never outlives the caller's deadline, without any
plumbing in worker code.
"""

from __future__ import annotations

import contextvars
import os
import random
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType

from prompt_alchemy.bus.liveness import ATTEMPT_HEADER
from prompt_alchemy.errors import BadRequest

__all__ = [
    "DEADLINE_HEADER",
    "TRACEPARENT_HEADER",
    "RequestContext",
    "bound_context",
    "current_context",
    "new_traceparent",
    "outgoing_headers",
    "parse_deadline",
]

TRACEPARENT_HEADER = "traceparent"
DEADLINE_HEADER = "Alchemy-Deadline"  # absolute deadline, Unix time in milliseconds

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_DEADLINE = re.compile(r"^[0-9]{1,15}$")  # Unix milliseconds: 15 digits reach the year 33658


def parse_deadline(raw: str) -> float:
    """An ``Alchemy-Deadline`` value as Unix seconds; BadRequest naming the header otherwise."""
    value = raw.strip()
    if not _DEADLINE.match(value):
        raise BadRequest(
            f"invalid {DEADLINE_HEADER} header {value[:40]!r}: expected the deadline as Unix time in milliseconds",
            details={"header": DEADLINE_HEADER},
        )
    return int(value) / 1000.0


_ids = random.Random()
os.register_at_fork(after_in_child=_ids.seed)  # a forked child must not repeat its parent's ids


def new_traceparent(trace_id: str | None = None) -> str:
    """A W3C ``traceparent``: a new span in ``trace_id`` (or in a new trace).

    The ids come from a seeded PRNG, not the OS random source: one syscall per request was the
    largest single cost of sending one, and W3C asks ids to be random, not unguessable.
    """
    if trace_id:
        return f"00-{trace_id}-{_ids.getrandbits(64) or 1:016x}-01"
    bits = _ids.getrandbits(192) or 1
    return f"00-{bits >> 64:032x}-{bits & 0xFFFFFFFFFFFFFFFF or 1:016x}-01"


@dataclass(frozen=True, slots=True)
class RequestContext:
    """The trace and deadline of the message a handler is processing."""

    subject: str
    traceparent: str
    deadline: float | None = None  # Unix seconds
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def attempt(self) -> int:
        """1 for the first send of this request, 2 or more for a resend after its responder was lost."""
        raw = self.headers.get(ATTEMPT_HEADER, "1")
        return int(raw) if raw.isdigit() and 0 < int(raw) <= 100 else 1

    @property
    def trace_id(self) -> str:
        return self.traceparent.split("-")[1]

    def remaining(self) -> float | None:
        """Seconds left before the deadline (negative when past), or None without a deadline."""
        if self.deadline is None:
            return None
        return self.deadline - time.time()

    @property
    def expired(self) -> bool:
        remaining = self.remaining()
        return remaining is not None and remaining <= 0

    @classmethod
    def from_headers(cls, subject: str, headers: Mapping[str, str] | None) -> RequestContext:
        headers = headers or {}
        traceparent = headers.get(TRACEPARENT_HEADER, "")
        if not _TRACEPARENT.match(traceparent):
            traceparent = new_traceparent()
        deadline: float | None = None
        raw_deadline = headers.get(DEADLINE_HEADER)
        if raw_deadline:
            try:
                deadline = parse_deadline(raw_deadline)
            except BadRequest:
                deadline = None  # the bus refuses the request (Bus.serve); a context still exists
        return cls(subject=subject, traceparent=traceparent, deadline=deadline, headers=headers)


_current: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar(
    "alchemy_request_context", default=None
)


def current_context() -> RequestContext | None:
    """The context of the message being handled by this task, if any."""
    return _current.get()


class bound_context:  # noqa: N801 - used as a function, like contextlib's managers
    """``with bound_context(context):`` makes ``context`` the current one for the block.

    A class rather than ``@contextmanager``: it wraps every message a bus handles, and a
    generator-based manager costs several times as much.
    """

    __slots__ = ("_context", "_token")

    def __init__(self, context: RequestContext | None) -> None:
        self._context = context
        self._token: contextvars.Token[RequestContext | None] | None = None

    def __enter__(self) -> RequestContext | None:
        self._token = _current.set(self._context)
        return self._context

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._token is not None:
            _current.reset(self._token)


def outgoing_headers(
    timeout: float | None, extra: Mapping[str, str] | None = None
) -> tuple[dict[str, str], float | None]:
    """Headers for an outgoing message and the effective timeout.

    The trace id is inherited from the current context; the deadline is the earlier of the
    caller's own deadline and now + ``timeout``. The returned timeout is clipped to it.
    """
    headers = dict(extra or {})
    parent = current_context()
    trace_id = parent.trace_id if parent else None
    if TRACEPARENT_HEADER not in headers:
        headers[TRACEPARENT_HEADER] = new_traceparent(trace_id)
    now = time.time()
    deadline = now + timeout if timeout is not None else None
    if parent is not None and parent.deadline is not None:
        deadline = parent.deadline if deadline is None else min(deadline, parent.deadline)
    if DEADLINE_HEADER in headers:
        explicit = parse_deadline(headers[DEADLINE_HEADER])
        deadline = explicit if deadline is None else min(deadline, explicit)
    if deadline is not None:
        headers[DEADLINE_HEADER] = str(int(deadline * 1000))
        return headers, deadline - now
    return headers, None

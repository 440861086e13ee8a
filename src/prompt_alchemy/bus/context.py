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
from collections.abc import Callable, Mapping
from types import MappingProxyType, TracebackType
from typing import Any

from prompt_alchemy.bus.liveness import ATTEMPT_HEADER
from prompt_alchemy.errors import BadRequest

__all__ = [
    "DEADLINE_HEADER",
    "TRACEPARENT_HEADER",
    "RequestContext",
    "bind_context",
    "bound_context",
    "current_context",
    "header_deadline",
    "new_traceparent",
    "outgoing_headers",
    "parse_deadline",
]

TRACEPARENT_HEADER = "traceparent"
DEADLINE_HEADER = "Alchemy-Deadline"  # absolute deadline, Unix time in milliseconds

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_MAX_DEADLINE_DIGITS = 15  # Unix milliseconds: 15 digits reach the year 33658


def _deadline_or_none(raw: str) -> float | None:
    value = raw.strip()
    # str.isdigit accepts other scripts' digits and superscripts: the value must be ASCII 0-9
    if value.isascii() and value.isdigit() and len(value) <= _MAX_DEADLINE_DIGITS:
        return int(value) / 1000.0
    return None


# The deadline header this process wrote last and its value: an in-process request's handler
# reads the very string its requester wrote (one tuple, so threads never see half of it).
_last_written: tuple[str, float] = ("", 0.0)


def header_deadline(headers: Mapping[str, str]) -> float | None:
    """The deadline a message's headers carry, in Unix seconds; None without one (or an invalid one)."""
    raw = headers.get(DEADLINE_HEADER)
    if not raw:
        return None
    last = _last_written
    if raw is last[0]:
        return last[1]
    return _deadline_or_none(raw)


def parse_deadline(raw: str) -> float:
    """An ``Alchemy-Deadline`` value as Unix seconds; BadRequest naming the header otherwise."""
    deadline = _deadline_or_none(raw)
    if deadline is None:
        raise BadRequest(
            f"invalid {DEADLINE_HEADER} header {raw.strip()[:40]!r}: "
            "expected the deadline as Unix time in milliseconds",
            details={"header": DEADLINE_HEADER},
        )
    return deadline


_ids = random.Random()
os.register_at_fork(after_in_child=_ids.seed)  # a forked child must not repeat its parent's ids
_random_bits = _ids.getrandbits


_SPAN_BITS = (1 << 64) - 1


def new_traceparent(trace_id: str | None = None) -> str:
    """A W3C ``traceparent``: a new span in ``trace_id`` (or in a new trace).

    The ids come from a seeded PRNG, not the OS random source: one syscall per request was the
    largest single cost of sending one, and W3C asks ids to be random, not unguessable. Made once
    per request sent, so with the fewest steps: random bits through ``bytes.hex`` (a third of the
    cost of formatting an integer), a new trace's two ids in one draw split by ``hex`` itself.
    All zeros is not a valid id (a 1 in 2**64 draw): it becomes 1.
    """
    if trace_id:
        span = _random_bits(64) or 1
        return f"00-{trace_id}-{span.to_bytes(8, 'big').hex()}-01"
    ids = _random_bits(192)  # the trace id in the high 128 bits, the span id in the low 64
    if not ids >> 64 or not ids & _SPAN_BITS:
        ids |= (1 << 64) | 1
    return f"00-{ids.to_bytes(24, 'big').hex('-', -16)}-01"


_UNPARSED: Any = object()
_now = time.time
_new_object = object.__new__
_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


class RequestContext:
    """The trace and deadline of the message a handler is processing.

    Made for every message a bus handles, so it only keeps the headers: the trace and the deadline
    are read from them the first time they are asked for (most handlers never ask), then kept.
    Treat it as immutable; two are equal when subject, trace, deadline and headers are.
    """

    __slots__ = ("_deadline", "_traceparent", "headers", "subject")

    def __init__(
        self,
        subject: str,
        traceparent: str | None = None,
        deadline: float | None = _UNPARSED,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """``traceparent``/``deadline`` given are taken as they are; left out, they come from ``headers``."""
        self.subject = subject
        self.headers: Mapping[str, str] = _NO_HEADERS if headers is None else headers
        self._traceparent = traceparent
        self._deadline: Any = deadline

    @classmethod
    def from_headers(cls, subject: str, headers: Mapping[str, str] | None) -> RequestContext:
        """The context a message's headers carry (read lazily: nothing is parsed here).

        Made once per message a bus handles: filled here rather than through ``__init__`` (one
        Python call less)."""
        context = _new_object(cls)
        context.subject = subject
        context.headers = _NO_HEADERS if headers is None else headers
        context._traceparent = None
        context._deadline = _UNPARSED
        return context

    @property
    def traceparent(self) -> str:
        """The caller's W3C ``traceparent``, or a new trace when it sent none (or an invalid one)."""
        traceparent = self._traceparent
        if traceparent is None:
            traceparent = self.headers.get(TRACEPARENT_HEADER, "")
            if len(traceparent) != 55 or not _TRACEPARENT.match(traceparent):
                traceparent = new_traceparent()
            self._traceparent = traceparent
        return traceparent

    @property
    def deadline(self) -> float | None:
        """The caller's deadline in Unix seconds; None without one (or with an invalid one, which the bus refuses)."""
        deadline: float | None = self._deadline
        if deadline is _UNPARSED:
            deadline = self._deadline = header_deadline(self.headers)
        return deadline

    @property
    def attempt(self) -> int:
        """1 for the first send of this request, 2 or more for a resend after its responder was lost."""
        raw = self.headers.get(ATTEMPT_HEADER, "1")
        return int(raw) if raw.isdigit() and 0 < int(raw) <= 100 else 1

    @property
    def trace_id(self) -> str:
        return self.traceparent[3:35]

    def remaining(self) -> float | None:
        """Seconds left before the deadline (negative when past), or None without a deadline."""
        deadline = self.deadline
        if deadline is None:
            return None
        return deadline - time.time()

    @property
    def expired(self) -> bool:
        remaining = self.remaining()
        return remaining is not None and remaining <= 0

    def _key(self) -> tuple[object, ...]:
        return (self.subject, self.traceparent, self.deadline, dict(self.headers))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RequestContext):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash((self.subject, self.traceparent, self.deadline))

    def __repr__(self) -> str:
        return (
            f"RequestContext(subject={self.subject!r}, traceparent={self.traceparent!r}, "
            f"deadline={self.deadline!r}, headers={dict(self.headers)!r})"
        )


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


bind_context: Callable[[RequestContext | None], object] = _current.set
"""Make a context the current one until the running ``contextvars`` context ends, with no reset.

Only for code that runs in a context of its own which ends with it: a served request, whose
handler the transport's ``Dispatcher`` always runs in a fresh copy of the subscriber's context.
There ``bound_context``'s two calls and its reset would be paid on every request for nothing.
"""


def outgoing_headers(
    timeout: float | None, extra: Mapping[str, str] | None = None
) -> tuple[dict[str, str], float | None]:
    """Headers for an outgoing message and the effective timeout.

    The trace id is inherited from the current context; the deadline is the earlier of the
    caller's own deadline and now + ``timeout``. The returned timeout is clipped to it.
    """
    global _last_written
    parent = _current.get()
    explicit = None
    if extra:
        headers = dict(extra)
        explicit = headers.get(DEADLINE_HEADER)
        if TRACEPARENT_HEADER not in headers:
            headers[TRACEPARENT_HEADER] = new_traceparent(None if parent is None else parent.trace_id)
    else:
        headers = {TRACEPARENT_HEADER: new_traceparent(None if parent is None else parent.trace_id)}
    now = _now()
    deadline = None if timeout is None else now + timeout
    if parent is not None:
        inherited = parent.deadline
        if inherited is not None and (deadline is None or inherited < deadline):
            deadline = inherited
    if explicit is not None:
        stated = parse_deadline(explicit)
        if deadline is None or stated < deadline:
            deadline = stated
    if deadline is None:
        return headers, None
    milliseconds = int(deadline * 1000)
    written = headers[DEADLINE_HEADER] = str(milliseconds)
    _last_written = (written, milliseconds / 1000.0)
    return headers, deadline - now

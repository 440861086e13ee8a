"""The three kinds of contract, as three types: a subject and the models that travel on it.

``Bus.request`` takes a ``RequestContract``, ``Bus.publish`` an ``EventContract`` and
``publish_event`` a ``DurableEventContract``, so handing one kind where another is meant is a
type error for mypy, and a ``TypeError`` at run time for an untyped caller (as httpx does with
a wrong argument type). The bus learns everything it needs from the contract it is handed —
subject, models, the service that answers, whether a resend is safe — and nothing from a table.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel

__all__ = [
    "AnyContract",
    "ContractKind",
    "DurableEventContract",
    "EventContract",
    "EventT",
    "ReplyT",
    "RequestContract",
    "RequestT",
    "is_pattern",
    "wrong_kind",
]

RequestT = TypeVar("RequestT", bound=BaseModel)
ReplyT = TypeVar("ReplyT", bound=BaseModel)
EventT = TypeVar("EventT", bound=BaseModel)


class ContractKind(StrEnum):
    REQUEST = "request"  # request/reply
    EVENT = "event"  # fire-and-forget pub/sub
    DURABLE_EVENT = "durable_event"  # persisted in a stream, consumed at least once


def is_pattern(subject: str) -> bool:
    """True for a subject with a wildcard token (``*``, or a trailing ``>``)."""
    return "*" in subject.split(".") or subject.endswith(">")


def wrong_kind(expected: str, given: object) -> TypeError:
    """The ``TypeError`` for a contract of the wrong kind (or no contract at all) handed to the bus."""
    kind = getattr(given, "kind", None)
    what = f"{'an' if kind.value[0] in 'aeiou' else 'a'} {kind.value} contract" if kind else type(given).__name__
    return TypeError(f"expected {expected}, got {what} ({getattr(given, 'subject', given)!r})")


@dataclass(frozen=True, slots=True)
class RequestContract(Generic[RequestT, ReplyT]):
    """Request/reply: ``request`` goes to one member of the queue group, ``reply`` comes back."""

    kind: ClassVar[ContractKind] = ContractKind.REQUEST
    subject: str
    service: str  # the service that answers: named in the errors a caller sees ("the storage service ...")
    method: str
    request: type[RequestT]
    reply: type[ReplyT]
    summary: str
    retry_safe: bool = False
    """A request whose responder is lost may be resent to another instance: doing it twice is
    harmless (a read, or a write deduplicated by content or request id)."""

    @property
    def is_pattern(self) -> bool:
        return False


@dataclass(frozen=True, slots=True)
class EventContract(Generic[EventT]):
    """Fire-and-forget pub/sub: every subscriber (or one per queue group) gets ``event``."""

    kind: ClassVar[ContractKind] = ContractKind.EVENT
    subject: str  # may end in a ``*`` token: publish on a concrete subject of it
    service: str
    method: str
    event: type[EventT]
    summary: str

    @property
    def is_pattern(self) -> bool:
        return is_pattern(self.subject)


@dataclass(frozen=True, slots=True)
class DurableEventContract(Generic[EventT, ReplyT]):
    """An event kept in a durable stream; its publisher is answered ``reply`` once it is stored."""

    kind: ClassVar[ContractKind] = ContractKind.DURABLE_EVENT
    subject: str
    service: str
    method: str
    event: type[EventT]
    reply: type[ReplyT]
    summary: str

    @property
    def is_pattern(self) -> bool:
        return is_pattern(self.subject)


AnyContract = RequestContract[Any, Any] | EventContract[Any] | DurableEventContract[Any, Any]
"""Any contract of the table; narrow it with ``isinstance`` (or ``kind``) before use."""

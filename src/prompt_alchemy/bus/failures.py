"""Whatever stopped a request, as the one ``ServiceError`` its caller is shown.

The bus raises three distinct things: ``NoResponders`` (nobody serves the subject),
``RequestTimeout`` (a responder was too slow) and the ``ServiceError`` a handler sent back.
A handler that calls another service, a front door answering its client, and an engine that
must not fail a whole request for one part all translate them the same way, here.

The service a failure names comes from the request's contract (``BusError.service``, filled in
by ``Bus.request``); the bus never reads meaning into a subject.
"""

from __future__ import annotations

import logging

from prompt_alchemy.errors import (
    BusClosed,
    BusError,
    DeadlineExceeded,
    InternalError,
    NoResponders,
    RequestTimeout,
    ResponderLost,
    ServiceError,
    Unavailable,
)

__all__ = ["UNREACHABLE", "as_service_error", "is_unreachable", "service_of"]

log = logging.getLogger(__name__)

UNREACHABLE: tuple[type[Exception], ...] = (NoResponders, RequestTimeout, ResponderLost, BusClosed, Unavailable)
"""Failures that mean "the service is not there or not answering", as opposed to "it said no"."""


def is_unreachable(error: BaseException) -> bool:
    return isinstance(error, UNREACHABLE)


def service_of(error: BusError) -> str:
    """The service the failed request was for (from its contract), or ``a service``."""
    return error.service or "a service"


def as_service_error(error: BaseException, *, doing: str | None = None) -> ServiceError:
    """Translate any exception; ``doing`` names the work it interrupted, for the message."""
    during = f" during {doing}" if doing else ""
    if isinstance(error, ServiceError):
        return error
    if isinstance(error, NoResponders):
        service = service_of(error)
        return Unavailable(
            f"the {service} service is not running (nobody answers on {error.subject}){during}",
            details={"service": service, "subject": error.subject},
        )
    if isinstance(error, RequestTimeout):
        service = service_of(error)
        return DeadlineExceeded(
            f"the {service} service did not answer in time{during}",
            details={"service": service, "subject": error.subject},
        )
    if isinstance(error, ResponderLost):
        service = service_of(error)
        return Unavailable(
            f"responder lost: the {service} instance handling the request stopped answering{during}; "
            "it was not resent because that is not safe for this request",
            details={"service": service, "subject": error.subject, "reason": "responder_lost"},
        )
    if isinstance(error, BusClosed):
        return Unavailable(f"the message bus is closed or its server is unreachable{during}")
    if isinstance(error, BusError):
        return InternalError(f"bus error{during}: {error}", details={"subject": error.subject})
    log.error("unexpected failure%s", during, exc_info=error)
    return InternalError(f"internal error{during or ' in the request'}: {type(error).__name__}")

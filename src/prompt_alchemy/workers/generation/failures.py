"""Translate whatever stopped a piece of work into the ``ServiceError`` a caller should see.

The bus does this for a handler's own exceptions; the engine needs it itself where one failure
must not end the request: a batch item, a dropped chain, a progress ``failed`` event.
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
    ServiceError,
    Unavailable,
)

__all__ = ["UNREACHABLE", "as_service_error", "is_unreachable"]

log = logging.getLogger(__name__)

UNREACHABLE: tuple[type[Exception], ...] = (NoResponders, RequestTimeout, BusClosed, Unavailable)
"""Failures that mean "the service is not there or not answering", as opposed to "it said no"."""


def is_unreachable(error: BaseException) -> bool:
    return isinstance(error, UNREACHABLE)


def as_service_error(error: BaseException, *, doing: str = "the request") -> ServiceError:
    if isinstance(error, ServiceError):
        return error
    if isinstance(error, NoResponders):
        return Unavailable(f"a service needed for {doing} is not running: {error}")
    if isinstance(error, RequestTimeout):
        return DeadlineExceeded(f"a service needed for {doing} did not answer in time: {error}")
    if isinstance(error, BusError):
        return Unavailable(f"the bus failed during {doing}: {error}")
    log.error("unexpected failure during %s", doing, exc_info=error)
    return InternalError(f"internal error during {doing}: {type(error).__name__}")

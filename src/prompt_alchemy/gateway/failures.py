"""Every failure a front door can meet, as the one error answer its caller sees.

The bus raises three distinct things (``NoResponders``, ``RequestTimeout``, a ``ServiceError``
sent back by a handler); HTTP, MCP and the CLI all show them the same way: a ``ServiceError``
with a status code and a message that says what to do, never a traceback.
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
from prompt_alchemy.schemas.errors import ErrorBody
from prompt_alchemy.schemas.registry import PREFIX

__all__ = ["as_service_error", "error_body", "service_of_subject"]

log = logging.getLogger(__name__)


def service_of_subject(subject: str | None) -> str:
    """``alchemy.v1.engine.generate`` -> ``engine``; anything else -> ``a service``."""
    if subject and subject.startswith(PREFIX + "."):
        parts = subject[len(PREFIX) + 1 :].split(".")
        if parts and parts[0]:
            return parts[0]
    return "a service"


def as_service_error(error: BaseException) -> ServiceError:
    """Translate any exception into the ``ServiceError`` a caller is shown."""
    if isinstance(error, ServiceError):
        return error
    if isinstance(error, NoResponders):
        service = service_of_subject(error.subject)
        return Unavailable(
            f"the {service} service is not running (nobody answers on {error.subject})",
            details={"service": service, "subject": error.subject},
        )
    if isinstance(error, RequestTimeout):
        service = service_of_subject(error.subject)
        return DeadlineExceeded(
            f"the {service} service did not answer in time",
            details={"service": service, "subject": error.subject},
        )
    if isinstance(error, BusClosed):
        return Unavailable("the message bus is closed or its server is unreachable")
    if isinstance(error, BusError):
        return InternalError(f"bus error: {error}", details={"subject": error.subject})
    log.error("unexpected error in the gateway", exc_info=error)
    return InternalError(f"internal error in the gateway: {type(error).__name__}")


def error_body(error: BaseException) -> ErrorBody:
    return ErrorBody.from_error(as_service_error(error))

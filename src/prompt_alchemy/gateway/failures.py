"""Every failure a front door can meet, as the one error answer its caller sees.

HTTP, MCP and the CLI show the bus's three failures the same way (``bus.failures``): a
``ServiceError`` with a status code and a message that says what to do, never a traceback.
"""

from __future__ import annotations

from prompt_alchemy.bus.failures import as_service_error, service_of
from prompt_alchemy.schemas.errors import ErrorBody

__all__ = ["as_service_error", "error_body", "service_of"]


def error_body(error: BaseException) -> ErrorBody:
    return ErrorBody.from_error(as_service_error(error))

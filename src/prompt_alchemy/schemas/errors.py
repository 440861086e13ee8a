"""The typed JSON body every error answer carries (beside the ADR-32 error headers)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from prompt_alchemy.errors import ServiceError, service_error_for
from prompt_alchemy.schemas.common import Reply

__all__ = ["ErrorBody"]


class ErrorBody(Reply):
    """What a failed request answers: status code, kind, human message, retry hint, details."""

    code: int = Field(ge=100, le=599)
    kind: str = "service_error"
    message: str
    retriable: bool = False
    details: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def from_error(cls, error: ServiceError) -> ErrorBody:
        return cls(
            code=error.code,
            kind=error.kind,
            message=error.message,
            retriable=error.retriable,
            details=error.details,
        )

    def to_error(self) -> ServiceError:
        error_cls = service_error_for(self.kind, self.code)
        return error_cls(self.message, code=self.code, retriable=self.retriable, details=self.details)

"""The one exception tree of prompt-alchemy.

Every failure that crosses a module boundary is one of these. Foreign exceptions (nats-py,
aiohttp, redis, sqlite3, pydantic) are translated where they are caught, most specific first,
and chained with ``from``; they never leak further.

    AlchemyError
    ├── BusError                       transport-level: the request never got an answer
    │   ├── NoResponders               nobody subscribed to the subject (raised at once)
    │   ├── RequestTimeout             a responder exists but did not answer in time
    │   ├── ResponderLost              the responder holding it died, froze or declined it
    │   ├── UnknownSubject             the subject is not in the schema registry
    │   └── BusClosed                  the bus was drained or closed, or the server is gone
    ├── ServiceError(code, message, retriable, details)   an answer that says "failed"
    │   ├── BadRequest          400    malformed JSON, wrong types, unknown fields
    │   ├── Unauthorized        401
    │   ├── Forbidden           403    an Origin the door does not allow
    │   ├── NotFound            404    unknown id, unknown provider or model
    │   ├── BodyTimeout         408    a request body still arriving after the body timeout
    │   ├── Conflict            409
    │   ├── PayloadTooLarge     413    over the configured size limit
    │   ├── UnsupportedMediaType 415   a request body that is not application/json
    │   ├── MisdirectedRequest  421    a Host header the door does not serve (DNS rebinding)
    │   ├── Unprocessable       422    well-formed but semantically impossible
    │   ├── RateLimited         429    retriable, may carry retry_after
    │   ├── InternalError       500    a handler crashed; the worker lives on
    │   ├── ProviderError       502    a vendor API failed (message redacted of keys)
    │   ├── Unavailable         503    a dependency is down (retriable)
    │   └── DeadlineExceeded    504    the caller's deadline passed
    └── ConfigError                    bad settings at start-up

A ``ServiceError`` is what a handler raises to answer with an error; the bus sends it as ADR-32
headers (``Nats-Service-Error``, ``Nats-Service-Error-Code``) plus an ``ErrorBody`` JSON body,
and the caller gets the same class back.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AlchemyError",
    "BadRequest",
    "BodyTimeout",
    "BusClosed",
    "BusError",
    "ConfigError",
    "Conflict",
    "DeadlineExceeded",
    "Forbidden",
    "InternalError",
    "MisdirectedRequest",
    "NoResponders",
    "NotFound",
    "PayloadTooLarge",
    "ProviderError",
    "RateLimited",
    "RequestTimeout",
    "ResponderLost",
    "ServiceError",
    "Unauthorized",
    "Unavailable",
    "UnknownSubject",
    "Unprocessable",
    "UnsupportedMediaType",
    "service_error_for",
]


class AlchemyError(Exception):
    """Base of every error prompt-alchemy raises on purpose."""


class BusError(AlchemyError):
    """The request did not get an answer from any handler.

    ``service``: the service that should have answered, from the request's contract (the bus
    fills it in); what a caller is told names it ("the storage service is not running").
    """

    def __init__(self, message: str, *, subject: str | None = None, service: str | None = None) -> None:
        super().__init__(message)
        self.subject = subject
        self.service = service


class NoResponders(BusError):
    """Nobody is subscribed to the subject. Raised immediately, never after a timeout."""


class RequestTimeout(BusError):
    """A responder exists but no reply arrived before the timeout."""


class ResponderLost(BusError):
    """The responder holding the request went silent, or said it will not or did not finish it.

    ``started``: False when the handler certainly never ran (declined, or last heard queued), so
    any request may be resent; True when it was running; None when nothing was heard.
    """

    def __init__(
        self, message: str, *, subject: str | None = None, started: bool | None = None, declined: bool = False
    ) -> None:
        super().__init__(message, subject=subject)
        self.started = started
        self.declined = declined

    @classmethod
    def of(
        cls, subject: str, *, started: bool | None, declined: bool = False, silent_for: float | None = None
    ) -> ResponderLost:
        if declined:
            message = f"the responder on {subject} declined the request"
            return cls(message, subject=subject, started=False, declined=True)
        what = f"went silent for {silent_for:.1f}s" if silent_for is not None else "stopped without replying"
        return cls(f"the responder on {subject} {what}", subject=subject, started=started)

    @property
    def resendable(self) -> bool:
        """True when the handler never ran: resending cannot do the work twice."""
        return self.started is False


class UnknownSubject(BusError):
    """The subject is not part of the schema registry."""


class BusClosed(BusError):
    """The bus is draining or closed, or its server connection is gone."""


class ConfigError(AlchemyError):
    """Settings that cannot work, detected at start-up."""


class ServiceError(AlchemyError):
    """An error answer from a handler, with an HTTP-like status code.

    ``retriable`` tells a caller whether the same request may succeed later;
    ``details`` carries machine-readable context (e.g. the offending field).
    """

    default_code: ClassVar[int] = 500
    default_retriable: ClassVar[bool] = False
    kind: ClassVar[str] = "service_error"

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        retriable: bool | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = self.default_code if code is None else code
        self.retriable = self.default_retriable if retriable is None else retriable
        self.details: dict[str, Any] = dict(details or {})

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code}, message={self.message!r})"


class BadRequest(ServiceError):
    default_code = 400
    kind = "bad_request"


class Unauthorized(ServiceError):
    default_code = 401
    kind = "unauthorized"


class Forbidden(ServiceError):
    default_code = 403
    kind = "forbidden"


class NotFound(ServiceError):
    default_code = 404
    kind = "not_found"


class BodyTimeout(ServiceError):
    default_code = 408
    kind = "request_timeout"


class Conflict(ServiceError):
    default_code = 409
    kind = "conflict"


class PayloadTooLarge(ServiceError):
    default_code = 413
    kind = "payload_too_large"

    @classmethod
    def over_limit(cls, what: str, size: int, limit: int) -> PayloadTooLarge:
        """``what`` is ``size`` bytes, over ``limit``: the one wording every size check uses."""
        return cls(f"{what} is {size} bytes, over the {limit}-byte limit", details={"size": size, "limit": limit})


class UnsupportedMediaType(ServiceError):
    default_code = 415
    kind = "unsupported_media_type"


class MisdirectedRequest(ServiceError):
    default_code = 421
    kind = "misdirected_request"


class Unprocessable(ServiceError):
    default_code = 422
    kind = "unprocessable"


class RateLimited(ServiceError):
    default_code = 429
    default_retriable = True
    kind = "rate_limited"


class InternalError(ServiceError):
    default_code = 500
    kind = "internal"


class ProviderError(ServiceError):
    """A vendor API failed. ``retriable`` follows the vendor status (429/5xx/connection: yes)."""

    default_code = 502
    kind = "provider_error"


class Unavailable(ServiceError):
    default_code = 503
    default_retriable = True
    kind = "unavailable"


class DeadlineExceeded(ServiceError):
    default_code = 504
    default_retriable = True
    kind = "deadline_exceeded"


_BY_KIND: dict[str, type[ServiceError]] = {
    cls.kind: cls
    for cls in (
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        BodyTimeout,
        Conflict,
        PayloadTooLarge,
        UnsupportedMediaType,
        MisdirectedRequest,
        Unprocessable,
        RateLimited,
        InternalError,
        ProviderError,
        Unavailable,
        DeadlineExceeded,
    )
}
_BY_CODE: dict[int, type[ServiceError]] = {cls.default_code: cls for cls in _BY_KIND.values()}


def service_error_for(kind: str | None, code: int) -> type[ServiceError]:
    """The class to rebuild a ServiceError received over the wire: by kind, then code."""
    if kind and kind in _BY_KIND:
        return _BY_KIND[kind]
    if code in _BY_CODE:
        return _BY_CODE[code]
    if 400 <= code < 500:
        return BadRequest
    return ServiceError

"""Bytes <-> models, and errors <-> ADR-32 error replies. Both transports and the gateway use it.

Keeping this in one place is what makes the in-memory bus exactly as strict as NATS: whatever
fails to decode here fails the same way on both.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeVar

import pydantic
from pydantic import BaseModel

from prompt_alchemy.errors import BadRequest, InternalError, PayloadTooLarge, ServiceError
from prompt_alchemy.schemas.errors import ErrorBody

__all__ = [
    "ERROR_CODE_HEADER",
    "ERROR_HEADER",
    "decode",
    "encode",
    "encode_error",
    "error_from_reply",
    "field_errors",
    "internal_error",
    "validate",
]

ERROR_HEADER = "Nats-Service-Error"
ERROR_CODE_HEADER = "Nats-Service-Error-Code"

ModelT = TypeVar("ModelT", bound=BaseModel)


def field_errors(error: pydantic.ValidationError) -> list[dict[str, str]]:
    """Pydantic's errors as ``{"field": "a.b", "message": "..."}``, the shape every front door shows."""
    result: list[dict[str, str]] = []
    for item in error.errors(include_url=False, include_context=False, include_input=False):
        location = ".".join(str(part) for part in item["loc"]) or "(body)"
        result.append({"field": location, "message": item["msg"], "type": item["type"]})
    return result


def _summary(errors: list[dict[str, str]]) -> str:
    shown = "; ".join(f"{err['field']}: {err['message']}" for err in errors[:5])
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return shown + more


def decode(model: type[ModelT], data: bytes | str, *, what: str | None = None) -> ModelT:
    """Parse and validate JSON into ``model``; a ``BadRequest`` naming the fields otherwise."""
    try:
        # what ``model_validate_json`` calls, without its wrapper: this runs twice per request
        decoded: ModelT = model.__pydantic_validator__.validate_json(data)
        return decoded
    except pydantic.ValidationError as error:
        name = what or model.__name__
        errors = field_errors(error)
        if errors and errors[0]["type"] == "json_invalid":
            raise BadRequest(
                f"malformed JSON for {name}: {errors[0]['message']}", details={"errors": errors}
            ) from error
        raise BadRequest(f"invalid {name}: {_summary(errors)}", details={"errors": errors}) from error


def validate(model: type[ModelT], value: ModelT | Mapping[str, Any]) -> ModelT:
    """Accept an instance of ``model`` or a mapping to validate into one."""
    if isinstance(value, model):
        return value
    if isinstance(value, BaseModel):
        raise BadRequest(f"expected {model.__name__}, got {type(value).__name__}")
    try:
        return model.model_validate(value)
    except pydantic.ValidationError as error:
        errors = field_errors(error)
        raise BadRequest(f"invalid {model.__name__}: {_summary(errors)}", details={"errors": errors}) from error


def encode(value: BaseModel, *, max_payload: int) -> bytes:
    data = value.__pydantic_serializer__.to_json(value)
    if len(data) > max_payload:
        raise PayloadTooLarge.over_limit(f"{type(value).__name__} payload", len(data), max_payload)
    return data


def encode_error(error: ServiceError) -> tuple[bytes, dict[str, str]]:
    """An error reply: ADR-32 headers (description, code) and a typed JSON body."""
    body = ErrorBody.from_error(error)
    # Header values are single-line by protocol; the body keeps the full message.
    description = " ".join(error.message.split())[:512] or type(error).__name__
    headers = {ERROR_HEADER: description, ERROR_CODE_HEADER: str(error.code)}
    return body.model_dump_json().encode(), headers


def error_from_reply(data: bytes, headers: Mapping[str, str]) -> ServiceError | None:
    """The ServiceError an error reply carries, or None for a normal reply."""
    code_text = headers.get(ERROR_CODE_HEADER)
    if code_text is None:
        return None
    try:
        return ErrorBody.model_validate_json(data).to_error()
    except pydantic.ValidationError:
        pass
    try:
        code = int(code_text)
    except ValueError:
        code = 500
    message = headers.get(ERROR_HEADER, "") or "error reply without description"
    try:  # a body from a foreign ADR-32 service may still be JSON with something useful
        details = {"body": json.loads(data)} if data else {}
    except ValueError:
        details = {}
    return ErrorBody(code=code, kind="", message=message, details=details).to_error()


def internal_error(subject: str, error: BaseException) -> InternalError:
    """What the caller learns of a crashed handler: where and what kind, never the traceback."""
    return InternalError(
        f"internal error in the handler of {subject}: {type(error).__name__}",
        details={"exception": type(error).__name__},
    )

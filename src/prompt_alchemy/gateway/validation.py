"""Validate what a front door was given into a bus model: one wording for HTTP and MCP.

Input the model rejects is a 422 ``Unprocessable`` whose message names each failing field
(``invalid GenerateRequest: count: Input should be less than or equal to 10``) and whose
details list them; never pydantic's own text with its documentation links and the input.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

import pydantic
import pydantic_core
from pydantic import BaseModel

from prompt_alchemy.bus.codec import field_errors
from prompt_alchemy.errors import Unprocessable

__all__ = ["field_summary", "validate_model"]

ModelT = TypeVar("ModelT", bound=BaseModel)


def field_summary(errors: list[dict[str, str]]) -> str:
    shown = "; ".join(f"{error['field']}: {error['message']}" for error in errors[:5])
    return shown + (f" (and {len(errors) - 5} more)" if len(errors) > 5 else "")


def _integral_as_int(value: Any) -> Any:
    """JSON Schema's numbers: ``6.0`` is the integer 6 (pydantic's strict mode would refuse it)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_integral_as_int(item) for item in value]
    if isinstance(value, dict):
        return {key: _integral_as_int(item) for key, item in value.items()}
    return value


def _json_text(data: Any) -> bytes | str:
    """``data`` as JSON: pydantic-core's encoder, a fifth of ``json.dumps``' cost per request, and
    ``json.dumps`` for what it refuses (a lone surrogate, which ``json.dumps`` escapes), so the
    validator reads the same JSON either way."""
    try:
        return pydantic_core.to_json(data)
    except pydantic_core.PydanticSerializationError:
        return json.dumps(data)


def validate_model(model: type[ModelT], data: dict[str, Any], *, strict: bool = False) -> ModelT:
    """Validate in JSON mode (as the bus does); a 422 naming every failing field otherwise.

    ``strict`` takes JSON types as JSON Schema does: ``false`` is not a number, ``"5"`` not an
    integer, ``1`` not a boolean; ``6.0`` is an integer.
    """
    try:
        if strict:
            return model.model_validate_json(_json_text(_integral_as_int(data)), strict=True)
        return model.model_validate_json(_json_text(data))
    except pydantic.ValidationError as error:
        errors = field_errors(error)
        raise Unprocessable(f"invalid {model.__name__}: {field_summary(errors)}", details={"errors": errors}) from error

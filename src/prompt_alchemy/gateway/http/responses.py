"""JSON answers: a reply model with its status, or an ``ErrorBody`` with the error's status."""

from __future__ import annotations

import math

from aiohttp import web
from pydantic import BaseModel

from prompt_alchemy.schemas.errors import ErrorBody

__all__ = ["encoded_response", "error_response", "model_response"]

JSON = "application/json"


def model_response(model: BaseModel, status: int = 200) -> web.Response:
    return web.Response(body=model.__pydantic_serializer__.to_json(model), status=status, content_type=JSON)


def encoded_response(body: bytes, status: int = 200) -> web.Response:
    """A reply model already encoded as JSON (by the worker that answered)."""
    return web.Response(body=body, status=status, content_type=JSON)


def error_response(body: ErrorBody, headers: dict[str, str] | None = None) -> web.Response:
    extra = dict(headers or {})
    retry_after = body.details.get("retry_after")
    if body.code == 429 and isinstance(retry_after, int | float):
        extra.setdefault("Retry-After", str(max(1, math.ceil(retry_after))))
    return web.Response(body=body.model_dump_json(), status=body.code, content_type=JSON, headers=extra)

"""The HTTP edge of validation: path, query string and JSON body into one bus request model.

A body must be declared ``application/json`` (415 otherwise: a cross-site form post cannot
send one without a CORS preflight) and arrive within the body timeout (408). Malformed JSON or a
body that is not an object is a 400; well-formed input the model rejects (unknown fields,
out-of-range values, missing fields) is a 422 naming each field. The merged input is validated
by the full bus model in JSON mode, as a worker would; a body strictly (``false`` is not a
number, ``"5"`` is not an integer), a query string leniently (its values are all text).
"""

from __future__ import annotations

import asyncio
import json
import re
import types
from typing import Any, Union, get_args, get_origin

import pydantic
from aiohttp import web
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from prompt_alchemy.bus.codec import field_errors
from prompt_alchemy.errors import BadRequest, BodyTimeout, Unprocessable, UnsupportedMediaType
from prompt_alchemy.gateway.http.operations import Operation, QueryParam
from prompt_alchemy.gateway.http.state import SETTINGS

__all__ = ["is_list_param", "parse_request", "read_json_object", "trace_headers", "validate_model"]

_TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")


def trace_headers(request: web.Request) -> dict[str, str]:
    """Carry the caller's W3C trace into the bus, so a request is one trace end to end."""
    traceparent = request.headers.get("traceparent", "").strip().lower()
    return {"traceparent": traceparent} if _TRACEPARENT.match(traceparent) else {}


JSON_MEDIA_TYPE = "application/json"


def _require_json(request: web.Request) -> None:
    empty = request.content_length == 0 or not request.body_exists
    if request.content_type == JSON_MEDIA_TYPE or empty:
        return  # an empty body carries nothing to mislabel (clients label it as they like)
    shown = request.headers.get("Content-Type", "none")[:100]
    raise UnsupportedMediaType(
        f"the request body must be {JSON_MEDIA_TYPE}, not {shown}",
        details={"content_type": shown, "accepted": [JSON_MEDIA_TYPE]},
    )


async def read_json_object(request: web.Request, *, optional: bool = False) -> dict[str, Any]:
    _require_json(request)
    body_s = request.app[SETTINGS].timeouts.body_s
    try:
        async with asyncio.timeout(body_s):
            raw = await request.read()  # aiohttp enforces client_max_size here (413)
    except TimeoutError as error:
        raise BodyTimeout(f"the request body did not arrive within {body_s:g} s") from error
    if not raw.strip():
        if optional:
            return {}
        raise BadRequest("the request needs a JSON object body")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as error:
        raise BadRequest(f"malformed JSON: {error}") from error
    if not isinstance(data, dict):
        raise BadRequest(f"the body must be a JSON object, not {type(data).__name__}")
    return data


def _summary(errors: list[dict[str, str]]) -> str:
    shown = "; ".join(f"{error['field']}: {error['message']}" for error in errors[:5])
    return shown + (f" (and {len(errors) - 5} more)" if len(errors) > 5 else "")


def validate_model(model: type[BaseModel], data: dict[str, Any], *, strict: bool = False) -> BaseModel:
    """Validate in JSON mode (as the bus does); a 422 naming every failing field otherwise."""
    try:
        return model.model_validate_json(json.dumps(data), strict=strict or None)
    except pydantic.ValidationError as error:
        errors = field_errors(error)
        raise Unprocessable(f"invalid {model.__name__}: {_summary(errors)}", details={"errors": errors}) from error


def _field(model: type[BaseModel], dotted: str) -> FieldInfo:
    current: Any = model
    info: FieldInfo | None = None
    for part in dotted.split("."):
        info = current.model_fields[part]
        current = _unwrap_optional(info.annotation)
    assert info is not None
    return info


def _unwrap_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        arms = [arm for arm in get_args(annotation) if arm is not type(None)]
        if len(arms) == 1:
            return arms[0]
    return annotation


def is_list_param(model: type[BaseModel], param: QueryParam) -> bool:
    return get_origin(_unwrap_optional(_field(model, param.field).annotation)) is list


def _set(target: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    for part in parts[:-1]:
        target = target.setdefault(part, {})
    target[parts[-1]] = value


def _query_payload(request: web.Request, operation: Operation, model: type[BaseModel]) -> dict[str, Any]:
    known = {param.name: param for param in operation.query}
    payload: dict[str, Any] = {}
    errors: list[dict[str, str]] = []
    for name in dict.fromkeys(request.query.keys()):
        param = known.get(name)
        if param is None:
            errors.append({"field": name, "message": "unknown query parameter", "type": "extra_forbidden"})
            continue
        values = request.query.getall(name)
        if is_list_param(model, param):
            _set(payload, param.field, [item.strip() for value in values for item in value.split(",") if item.strip()])
        elif len(values) > 1:
            errors.append({"field": name, "message": "given more than once", "type": "too_long"})
        else:
            _set(payload, param.field, values[0])
    if errors:
        raise Unprocessable(f"invalid query: {_summary(errors)}", details={"errors": errors})
    return payload


async def parse_request(request: web.Request, operation: Operation) -> BaseModel:
    """Path parameters, then the body or query string, then the gateway's fixed fields."""
    model = operation.request
    assert model is not None, f"{operation.operation_id} has no request model"
    payload: dict[str, Any] = {}
    if operation.body is not None:
        payload = await read_json_object(request, optional=operation.body_optional)
        owned = [operation.field_of(name) for name in operation.path_params] + list(operation.fixed)
        clashing = sorted(set(payload) & set(owned))
        if clashing:
            errors = [{"field": name, "message": "set by the gateway, not the body", "type": "extra_forbidden"}
                      for name in clashing]  # fmt: skip
            raise Unprocessable(f"invalid body: {_summary(errors)}", details={"errors": errors})
    elif operation.query:
        payload = _query_payload(request, operation, model)
    elif request.query:
        names = ", ".join(sorted(request.query.keys()))
        raise Unprocessable(f"this operation takes no query parameters (got {names})")
    for name in operation.path_params:
        payload[operation.field_of(name)] = request.match_info[name]
    payload.update(operation.fixed)
    return validate_model(model, payload, strict=operation.body is not None)

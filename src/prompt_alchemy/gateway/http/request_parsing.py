"""The HTTP edge of validation: path, query string and JSON body into one bus request model.

A body must be declared ``application/json`` (415 otherwise: a cross-site form post cannot
send one without a CORS preflight) and arrive within the body timeout (408). Malformed JSON or a
body that is not an object is a 400; well-formed input the model rejects (unknown fields,
out-of-range values, missing fields) is a 422 naming each field. The merged input is validated
by the full bus model in JSON mode, as a worker would, and strictly, as JSON Schema reads
types (``false`` is not a number, ``"5"`` not an integer); a query value is first read as the
JSON value it spells for its field (``limit=5`` is 5, ``include_history=true`` is True).
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import types
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Union, get_args, get_origin

from aiohttp import web
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from prompt_alchemy.bus.context import DEADLINE_HEADER, parse_deadline
from prompt_alchemy.errors import BadRequest, BodyTimeout, Unprocessable, UnsupportedMediaType
from prompt_alchemy.gateway.http.operations import Operation, QueryParam, RequestT
from prompt_alchemy.gateway.http.state import SETTINGS
from prompt_alchemy.gateway.validation import field_summary, validate_model

__all__ = ["is_list_param", "parse_request", "read_json_object", "trace_headers", "validate_model"]

_TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")


def trace_headers(request: web.Request) -> dict[str, str]:
    """Carry the caller's W3C trace and deadline into the bus: one trace, one deadline, end to end.

    An ``Alchemy-Deadline`` that is not Unix time in milliseconds is a 400 naming the header.
    """
    traceparent = request.headers.get("traceparent", "").strip().lower()
    headers = {"traceparent": traceparent} if _TRACEPARENT.match(traceparent) else {}
    deadline = request.headers.get(DEADLINE_HEADER)
    if deadline is not None:
        parse_deadline(deadline)
        headers[DEADLINE_HEADER] = deadline.strip()
    return headers


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
    if request.content.is_eof():
        raw = await request.read()  # all of it has arrived (a small body comes with its headers)
    else:
        body_s = request.app[SETTINGS].timeouts.body_s
        try:
            async with asyncio.timeout(body_s):
                raw = await request.read()  # aiohttp enforces client_max_size here (413)
        except TimeoutError as error:
            raise BodyTimeout(f"the request body did not arrive within {body_s:g} s") from error
    if not raw:
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


_INTEGER = re.compile(r"^-?(0|[1-9][0-9]*)$")
_DATE_TIME = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
_NUMBER = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$")


def _is_date_time(model: type[BaseModel], param: QueryParam) -> bool:
    """pydantic also takes ``0.5`` or ``2026-01-31 09:00`` for a datetime; the document says RFC 3339."""
    return _unwrap_optional(_field(model, param.field).annotation) is datetime


def _typed(annotation: Any, raw: str) -> Any:
    """A query value as the JSON value it spells for its field (``10`` -> 10, ``true`` -> True),
    else the text itself, which strict validation then refuses as the wrong type."""
    kind = _unwrap_optional(annotation)
    if kind is bool:
        return {"true": True, "false": False}.get(raw, raw)
    if kind is int and _INTEGER.match(raw):
        return int(raw)
    if kind is float and _NUMBER.match(raw):
        value = float(raw)
        return value if math.isfinite(value) else raw
    return raw


def _set(target: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    for part in parts[:-1]:
        target = target.setdefault(part, {})
    target[parts[-1]] = value


def _query_payload(request: web.Request, operation: Operation[Any, Any], model: type[BaseModel]) -> dict[str, Any]:
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
            _set(payload, param.field, list(values))  # repeated: ?tags=a&tags=b (OpenAPI form, explode)
        elif len(values) > 1:
            errors.append({"field": name, "message": "given more than once", "type": "too_long"})
        elif param.max_length is not None and len(values[0]) > param.max_length:
            message = f"String should have at most {param.max_length} characters in a query string"
            errors.append({"field": name, "message": message, "type": "string_too_long"})
        elif param.pattern is not None and not re.search(param.pattern, values[0]):
            message = f"String should match pattern '{param.pattern}'"
            errors.append({"field": name, "message": message, "type": "string_pattern_mismatch"})
        elif _is_date_time(model, param) and not _DATE_TIME.match(values[0]):
            message = "should be an RFC 3339 date-time, e.g. 2026-01-31T09:00:00Z"
            errors.append({"field": name, "message": message, "type": "datetime_parsing"})
        else:
            _set(payload, param.field, _typed(_field(model, param.field).annotation, values[0]))
    if errors:
        raise Unprocessable(f"invalid query: {field_summary(errors)}", details={"errors": errors})
    return payload


async def parse_request(
    request: web.Request,
    operation: Operation[RequestT, Any],
    *,
    body: dict[str, Any] | None = None,
    stamp: Mapping[str, Any] | None = None,
) -> RequestT:
    """Path parameters, then the body or query string, then the gateway's fixed fields.

    ``body``: the JSON object ``read_json_object`` already read from this request (a handler
    that looks at the body first need not have it decoded twice). ``stamp``: JSON values the
    gateway sets on this one request (who sent it, when), validated with the rest rather than
    copied into the model after; the documented body cannot set them.
    """
    model = operation.request_model
    payload: dict[str, Any] = {}
    view: tuple[type[BaseModel], dict[str, Any]] | None = None  # the documented body, if narrower
    if operation.body is not None:
        payload = body if body is not None else await read_json_object(request, optional=operation.body_optional)
        clashing = sorted(payload.keys() & operation.owned_fields)
        if clashing:
            errors = [{"field": name, "message": "set by the gateway, not the body", "type": "extra_forbidden"}
                      for name in clashing]  # fmt: skip
            raise Unprocessable(f"invalid body: {field_summary(errors)}", details={"errors": errors})
        if operation.body is not model:
            # The documented body first: a field the gateway owns (an event's time, its origin) is
            # named and refused, not silently accepted because the bus model has it.
            if not payload.keys() <= operation.body_fields:
                validate_model(operation.body, payload)
            view = (operation.body, dict(payload))
    elif operation.query:
        payload = _query_payload(request, operation, model)
    elif request.query:
        names = ", ".join(sorted(request.query.keys()))
        raise Unprocessable(f"this operation takes no query parameters (got {names})")
    for name in operation.path_params:
        payload[operation.field_of(name)] = request.match_info[name]
    payload.update(operation.fixed)
    if stamp:
        payload.update(stamp)
    try:
        return validate_model(model, payload, strict=True)
    except Unprocessable:
        # Input of the body's own fields passes the full model strictly only if it passes the
        # (laxer, narrower) body view too, so the view is validated only to word a refusal as
        # it always has: its errors first, the full model's after.
        if view is not None:
            validate_model(*view)
        raise

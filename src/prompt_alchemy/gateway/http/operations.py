"""One table describes every HTTP operation: the router is built from it and so is OpenAPI.

An ``Operation`` says where its inputs come from (path, JSON body or query string), which bus
model they fill, what it answers and which statuses it may send. Because routing and the
document read the same objects, ``/openapi.json`` cannot drift from what the server does.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel

__all__ = ["Handler", "Operation", "QueryParam"]

Handler = Callable[[web.Request, "Operation"], Awaitable[web.StreamResponse]]

_PATH_PARAM = re.compile(r"{(\w+)}")


@dataclass(frozen=True, slots=True)
class QueryParam:
    """A query-string parameter filling the (possibly nested, dotted) field of the request model.

    ``max_length`` caps a text parameter below its field's limit: a URL carries less than a
    body, and the server's request-line limit must hold every parameter at its maximum.
    ``pattern`` constrains a text parameter whose field has none (e.g. no control characters).
    """

    name: str
    field: str
    description: str = ""
    max_length: int | None = None
    pattern: str | None = None


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str
    operation_id: str
    summary: str
    tag: str
    handler: Handler
    request: type[BaseModel] | None = None  # the bus model the inputs fill
    reply: type[BaseModel] | None = None  # None: not a JSON model (metrics, the document itself)
    status: int = 200
    reply_statuses: tuple[int, ...] = ()  # other statuses answering the reply model, not an ErrorBody
    body: type[BaseModel] | None = None  # the documented JSON body: ``request`` minus path and fixed fields
    body_optional: bool = False
    query: tuple[QueryParam, ...] = ()
    path_fields: Mapping[str, str] = field(default_factory=dict)  # path parameter -> model field, if renamed
    fixed: Mapping[str, Any] = field(default_factory=dict)  # fields the gateway sets itself
    errors: tuple[int, ...] = ()  # statuses beyond the common ones
    public: bool = False  # no API key needed
    event_stream: bool = False  # also answers ``Accept: text/event-stream``
    media_type: str = "application/json"
    description: str = ""

    @property
    def path_params(self) -> tuple[str, ...]:
        return tuple(_PATH_PARAM.findall(self.path))

    def field_of(self, path_param: str) -> str:
        return self.path_fields.get(path_param, path_param)

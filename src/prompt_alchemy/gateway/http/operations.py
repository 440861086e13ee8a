"""One table describes every HTTP operation: the router is built from it and so is OpenAPI.

An ``Operation`` says where its inputs come from (path, JSON body or query string), which bus
model they fill, what it answers and which statuses it may send. Because routing and the
document read the same objects, ``/openapi.json`` cannot drift from what the server does.

An operation serving a bus contract names the contract once: its summary, request and reply
models are the contract's. ``Operation`` is generic over those two models, so a handler is
given the request model its operation parses (``parse_request`` returns it, typed).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from aiohttp import web
from pydantic import BaseModel

from prompt_alchemy.schemas.contract import DurableEventContract, RequestContract

__all__ = ["BODY_METHODS", "Handler", "Operation", "QueryParam", "ReplyT", "RequestT"]

RequestT = TypeVar("RequestT", bound=BaseModel)
ReplyT = TypeVar("ReplyT", bound=BaseModel)

Handler = Callable[[web.Request, "Operation[RequestT, ReplyT]"], Awaitable[web.StreamResponse]]

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
"""Methods whose inputs come in a JSON body (the request model, unless ``body`` names a view)."""

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
class Operation(Generic[RequestT, ReplyT]):
    """One method on one path. With a ``contract``, ``summary`` (unless given), ``request`` and
    ``reply`` are the contract's; without, they describe what the handler does itself."""

    method: str
    path: str
    operation_id: str
    tag: str
    handler: Handler[RequestT, ReplyT]
    # the bus contract the operation serves: a request, or a durable event answered once stored
    contract: RequestContract[RequestT, ReplyT] | DurableEventContract[RequestT, ReplyT] | None = None
    summary: str = ""
    request: type[RequestT] | None = None  # the model the inputs fill
    reply: type[ReplyT] | None = None  # None: not a JSON model (metrics, the document itself)
    status: int = 200
    reply_statuses: tuple[int, ...] = ()  # other statuses answering the reply model, not an ErrorBody
    body: type[BaseModel] | None = None  # the documented JSON body, if narrower than ``request``
    body_optional: bool = False
    query: tuple[QueryParam, ...] = ()
    path_fields: Mapping[str, str] = field(default_factory=dict)  # path parameter -> model field, if renamed
    fixed: Mapping[str, Any] = field(default_factory=dict)  # fields the gateway sets itself
    errors: tuple[int, ...] = ()  # statuses beyond the common ones
    public: bool = False  # no API key needed
    event_stream: bool = False  # also answers ``Accept: text/event-stream``
    media_type: str = "application/json"
    description: str = ""
    _path_params: tuple[str, ...] = field(default=(), init=False, repr=False, compare=False)
    _owned: frozenset[str] = field(default=frozenset(), init=False, repr=False, compare=False)
    _body_fields: frozenset[str] = field(default=frozenset(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_path_params", tuple(_PATH_PARAM.findall(self.path)))  # read per request
        owned = frozenset((*(self.field_of(name) for name in self._path_params), *self.fixed))
        object.__setattr__(self, "_owned", owned)
        contract = self.contract
        if contract is not None:
            if self.request is not None or self.reply is not None:
                raise TypeError(f"{self.operation_id}: request and reply come from its contract, not given twice")
            # A frozen dataclass filling its derived fields (as dataclasses' documentation shows).
            request = contract.request if isinstance(contract, RequestContract) else contract.event
            object.__setattr__(self, "request", request)
            object.__setattr__(self, "reply", contract.reply)
            object.__setattr__(self, "summary", self.summary or contract.summary)
        if not self.summary:
            raise TypeError(f"{self.operation_id}: an operation without a contract needs a summary")
        if self.body is None and self.method in BODY_METHODS:
            object.__setattr__(self, "body", self.request)
        if self.body is not None:
            object.__setattr__(self, "_body_fields", frozenset(self.body.model_fields))

    @property
    def bus_contract(self) -> RequestContract[RequestT, ReplyT]:
        """The contract a forwarding handler sends; a ``TypeError`` for an operation without one."""
        if not isinstance(self.contract, RequestContract):
            raise TypeError(f"{self.operation_id} serves no request contract")
        return self.contract

    @property
    def request_model(self) -> type[RequestT]:
        """The model the inputs fill; a ``TypeError`` for an operation that takes none."""
        if self.request is None:
            raise TypeError(f"{self.operation_id} takes no request model")
        return self.request

    @property
    def path_params(self) -> tuple[str, ...]:
        return self._path_params

    @property
    def owned_fields(self) -> frozenset[str]:
        """Fields the gateway fills (from the path, or ``fixed``): never the body's to set."""
        return self._owned

    @property
    def body_fields(self) -> frozenset[str]:
        """The documented body's fields (none without a body)."""
        return self._body_fields

    def field_of(self, path_param: str) -> str:
        return self.path_fields.get(path_param, path_param)

"""The ``/api/v1/registry`` operations: named prompts, their labels, history and stats.

Serving by label (``GET /registry/{name}``) answers from the gateway's ``LabelCache``; every
other operation forwards one bus contract. Who moved a label is the caller: ``key:<fingerprint>``
of the API key it presented, or ``http`` when the gateway demands no key.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from prompt_alchemy.gateway.http.api_routes import API_PREFIX, NOT_FOUND, caller_key, forward, send
from prompt_alchemy.gateway.http.operations import Operation, QueryParam
from prompt_alchemy.gateway.http.request_parsing import parse_request
from prompt_alchemy.gateway.http.responses import model_response
from prompt_alchemy.gateway.http.state import LABELS
from prompt_alchemy.gateway.model_views import model_without
from prompt_alchemy.schemas import registry
from prompt_alchemy.schemas.labels import LabelSetRequest, NameSetRequest, ServedPrompt, ServeRequest

__all__ = ["REGISTRY_OPERATIONS", "LabelSetBody", "NameSetBody", "caller_actor"]

NameSetBody = model_without(NameSetRequest, "name", "actor", name="NameSetBody")
LabelSetBody = model_without(LabelSetRequest, "name", "label", "actor", "automatic", name="LabelSetBody")

CONFLICT = (409,)


def caller_actor(request: web.Request) -> str:
    """``key:<fingerprint>`` of the caller's API key (the same fingerprint learning sees as the
    feedback origin), or ``http`` with authentication off."""
    return caller_key(request) or "http"


async def forward_as_caller(request: web.Request, operation: Operation[Any, Any]) -> web.StreamResponse:
    """``forward``, with ``actor`` set to the caller."""
    payload = await parse_request(request, operation)
    return await send(request, operation, payload.model_copy(update={"actor": caller_actor(request)}))


async def serve_by_label(request: web.Request, operation: Operation[ServeRequest, ServedPrompt]) -> web.StreamResponse:
    wanted = await parse_request(request, operation)
    served = await request.app[LABELS].serve(wanted.name, wanted.label, wanted.key)
    return model_response(served, operation.status)


NAME = f"{API_PREFIX}/registry/{{name}}"

REGISTRY_OPERATIONS: tuple[Operation[Any, Any], ...] = (
    Operation(
        "GET", NAME, "getPromptByLabel", "registry", serve_by_label,
        summary="Serve a named prompt by label (an A/B split picks a version, sticky per key).",
        request=ServeRequest, reply=ServedPrompt, errors=NOT_FOUND,
        query=(
            QueryParam("label", "label", "The label to serve (default prod)."),
            QueryParam("key", "key", "A caller id (user, session): the same key always gets the same version."),
        ),
        description="Answered from the gateway's memory; a label move reaches it through the "
        "`labels.moved` event. Send feedback on the answer's `prompt_id`.",
    ),
    Operation(
        "GET", f"{NAME}/versions", "getPromptName", "registry", forward, registry.STORAGE_NAME_GET, errors=NOT_FOUND
    ),
    Operation(
        "POST", f"{NAME}/versions", "namePrompt", "registry", forward_as_caller, registry.STORAGE_NAME_SET,
        body=NameSetBody, fixed={"actor": "http"}, errors=(*NOT_FOUND, *CONFLICT),
    ),
    Operation(
        "PUT", f"{NAME}/labels/{{label}}", "setLabel", "registry", forward_as_caller, registry.STORAGE_LABEL_SET,
        body=LabelSetBody, fixed={"actor": "http", "automatic": False}, errors=(*NOT_FOUND, *CONFLICT),
        description="Give exactly one of `version`, `prompt_id` (named on the way) or `variants` "
        "(an A/B split by integer weight). The move is stored with the caller and published.",
    ),
    Operation(
        "GET", f"{NAME}/history", "getLabelHistory", "registry", forward, registry.STORAGE_LABEL_HISTORY,
        errors=NOT_FOUND,
        query=(QueryParam("label", "label", "Only this label's moves."), QueryParam("limit", "limit")),
    ),
    Operation(
        "GET", f"{NAME}/stats", "getLabelStats", "registry", forward, registry.LEARNING_LABEL_STATS,
        errors=(*NOT_FOUND, *CONFLICT),
        query=(QueryParam("label", "label", "The label whose variants to compare (default prod)."),),
    ),
)  # fmt: skip

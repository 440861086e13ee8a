"""The ``/api/v1`` operations: each forwards one bus contract, with its HTTP shape declared.

Most operations are the same three steps — parse the inputs into the bus request model,
``bus.request`` the contract, answer the reply model — so ``forward`` serves them, sending the
contract its operation names; generation (JSON or SSE) and feedback (the durable sink) have
handlers of their own.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from prompt_alchemy.errors import Conflict
from prompt_alchemy.gateway.feedback import key_origin, submit_feedback
from prompt_alchemy.gateway.http.operations import Operation, QueryParam, RequestT
from prompt_alchemy.gateway.http.request_parsing import parse_request, read_json_object, trace_headers
from prompt_alchemy.gateway.http.responses import encoded_response, model_response
from prompt_alchemy.gateway.http.sse import stream_generation, wants_event_stream
from prompt_alchemy.gateway.http.state import BUS, FEEDBACK, FEEDBACK_GATE, KNOWN_PROMPTS, METRICS, SETTINGS
from prompt_alchemy.gateway.model_views import model_without
from prompt_alchemy.schemas import registry
from prompt_alchemy.schemas.common import utc_now
from prompt_alchemy.schemas.engine import GenerateReply, GenerateRequest
from prompt_alchemy.schemas.learning import FeedbackAccepted, FeedbackEvent
from prompt_alchemy.schemas.providers import ProviderTestRequest
from prompt_alchemy.schemas.storage import DeleteReply, DeleteRequest, UpdateRequest

__all__ = [
    "API_OPERATIONS",
    "API_PREFIX",
    "FeedbackBody",
    "ProviderTestBody",
    "UpdateBody",
    "caller_key",
    "forward",
    "send",
]

API_PREFIX = "/api/v1"

UpdateBody = model_without(UpdateRequest, "id", name="UpdateBody")
GenerateBody = model_without(GenerateRequest, "progress_token", name="GenerateBody")
FeedbackBody = model_without(FeedbackEvent, "prompt_id", "source", "origin", "created_at", name="FeedbackBody")
ProviderTestBody = model_without(ProviderTestRequest, "name", name="ProviderTestBody")

# Statuses a bus-backed operation may send beyond its success: bad/invalid input, the
# services it needs being down or slow, and a crash (never with a trace).
PROVIDER_ERRORS = (502,)

# Text in a query string: shorter than in a body, so every parameter at its maximum fits the
# request line (``protocol.MAX_LINE_BYTES``).
MAX_QUERY_TEXT_CHARS = 4096
MAX_NAME_CHARS = 200
PRINTABLE = r"^[^\u0000-\u001f\u007f]+$"  # a name to filter by has no control characters
NOT_FOUND = (404,)
FEEDBACK_LIMITED = (429,)  # the per-origin and per-session feedback limits, whatever RATE_LIMIT_PER_MINUTE


async def send(request: web.Request, operation: Operation[RequestT, Any], payload: RequestT) -> web.StreamResponse:
    """Request the operation's contract with ``payload``; answer the reply as the worker encoded it
    (its bus validated that JSON against the reply model)."""
    reply = await request.app[BUS].request_encoded(
        operation.bus_contract, payload, timeout=request.app[SETTINGS].request_timeout_s, headers=trace_headers(request)
    )
    return encoded_response(reply, operation.status)


async def forward(request: web.Request, operation: Operation[Any, Any]) -> web.StreamResponse:
    """Parse the inputs into the contract's request, send it, answer the reply."""
    return await send(request, operation, await parse_request(request, operation))


async def generate(request: web.Request, operation: Operation[GenerateRequest, GenerateReply]) -> web.StreamResponse:
    payload = await parse_request(request, operation)
    if wants_event_stream(request):
        timeout = request.app[SETTINGS].request_timeout_s
        return await stream_generation(
            request, request.app[BUS], payload, timeout=timeout, metrics=request.app[METRICS]
        )
    return await send(request, operation, payload)


async def delete_prompt(request: web.Request, operation: Operation[DeleteRequest, DeleteReply]) -> web.StreamResponse:
    """Forward the deletion; then feedback on the prompt is a 404 again at once (``known_prompts``)."""
    payload = await parse_request(request, operation)
    try:
        return await send(request, operation, payload)
    finally:  # even when the answer was lost: the prompt may be gone
        request.app[KNOWN_PROMPTS].forget(payload.id)


def caller_key(request: web.Request) -> str | None:
    """``key:<fingerprint>`` of the caller's API key (the security middleware has checked it; never
    the key itself), or None when the door demands no key."""
    if request.app[SETTINGS].auth_enabled:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return key_origin(token.strip())
    return None


def caller_origin(request: web.Request) -> str:
    """Who sent the request, for learning's vote counting: the API key's fingerprint or, with
    authentication off, the client address."""
    return caller_key(request) or f"address:{request.remote or 'unknown'}"


async def record_feedback(
    request: web.Request, operation: Operation[FeedbackEvent, FeedbackAccepted]
) -> web.StreamResponse:
    # The one rule the document cannot state (it spans the path and the body): a 409, not a 422.
    body = await read_json_object(request)
    if body.get("chosen_over") == request.match_info["id"]:
        message = "a prompt cannot be chosen over itself: chosen_over names the prompt of the path"
        raise Conflict(message, details={"field": "chosen_over"})
    # The server says who and when: neither is the caller's to choose (see gateway.feedback).
    stamp = {"origin": caller_origin(request), "created_at": utc_now().isoformat()}
    event = await parse_request(request, operation, body=body, stamp=stamp)
    app = request.app
    accepted = await submit_feedback(app[BUS], app[FEEDBACK], event, app[FEEDBACK_GATE], app[KNOWN_PROMPTS])
    return model_response(accepted, operation.status)


FILTER_PARAMS = (
    QueryParam("phase", "filters.phase", "Only prompts of this phase."),
    QueryParam(
        "provider",
        "filters.provider",
        "Only prompts made by this provider.",
        max_length=MAX_NAME_CHARS,
        pattern=PRINTABLE,
    ),
    QueryParam("persona", "filters.persona"),
    QueryParam("target_model", "filters.target_model", max_length=MAX_NAME_CHARS, pattern=PRINTABLE),
    QueryParam("tags", "filters.tags", "Repeat for several (`tags=a&tags=b`); every tag must match."),
    QueryParam("created_since", "filters.created_since", "ISO 8601 date-time."),
    QueryParam("source", "filters.source"),
    QueryParam("parent_id", "filters.parent_id"),
)

PROMPTS = f"{API_PREFIX}/prompts"

API_OPERATIONS: tuple[Operation[Any, Any], ...] = (
    Operation(
        "POST", f"{PROMPTS}/generate", "generatePrompts", "prompts", generate, registry.ENGINE_GENERATE,
        body=GenerateBody, event_stream=True, errors=PROVIDER_ERRORS,
        description="With `Accept: text/event-stream` the answer is a stream of `progress` events "
        "(GenerationProgress) and, between them, `token` events with the candidates' text as the vendor "
        'streams it (data `{"request_id", "phase", "chain", "delta"}`), followed by one `result` '
        "(GenerateReply) or `error` (ErrorBody) event.",
    ),
    Operation(
        "POST", f"{PROMPTS}/analyze", "analyzeIdea", "prompts", forward, registry.ENGINE_ANALYZE,
        errors=NOT_FOUND,  # a provider the request names that is not configured
        description="The structured brief the phases work from: persona (and why), deliverable, the audience "
        "only when the idea states one, typed constraints, form rules, the input with its `{{placeholder}}`.",
    ),
    Operation(
        "GET", f"{PROMPTS}/search", "searchPrompts", "prompts", forward, registry.STORAGE_SEARCH,
        query=(
            QueryParam("q", "query", "Semantic search text.", max_length=MAX_QUERY_TEXT_CHARS),
            QueryParam("text", "text", "Plain substring match."),
            QueryParam("min_similarity", "min_similarity"),
            QueryParam("limit", "limit"),
            QueryParam("cursor", "cursor", "The next_cursor of the previous page."),
            *FILTER_PARAMS,
        ),
        errors=(413,),  # a page of near-maximal prompts over one bus message: ask for a smaller limit
    ),
    Operation(
        "GET", f"{PROMPTS}/{{id}}", "getPrompt", "prompts", forward, registry.STORAGE_GET,
        query=(QueryParam("include_history", "include_history", "Also return earlier versions."),),
        errors=NOT_FOUND,
    ),
    Operation(
        "PATCH", f"{PROMPTS}/{{id}}", "updatePrompt", "prompts", forward, registry.STORAGE_UPDATE, body=UpdateBody,
        errors=(*NOT_FOUND, 409),  # 409: another prompt has that content
    ),
    Operation(
        "DELETE", f"{PROMPTS}/{{id}}", "deletePrompt", "prompts", delete_prompt, registry.STORAGE_DELETE,
        errors=NOT_FOUND,
    ),
    Operation(
        "GET", f"{PROMPTS}/{{id}}/lineage", "getPromptLineage", "prompts", forward, registry.STORAGE_LINEAGE,
        query=(QueryParam("direction", "direction"), QueryParam("max_depth", "max_depth")),
        errors=NOT_FOUND,
    ),
    Operation(
        "POST", f"{PROMPTS}/optimize", "optimizePrompt", "prompts", forward, registry.ENGINE_OPTIMIZE,
        errors=(*NOT_FOUND, *PROVIDER_ERRORS),
    ),
    Operation(
        "POST", f"{PROMPTS}/batch", "batchGenerate", "prompts", forward, registry.ENGINE_BATCH, errors=PROVIDER_ERRORS
    ),
    Operation(
        "POST", f"{PROMPTS}/{{id}}/feedback", "recordFeedback", "learning", record_feedback,
        registry.LEARNING_FEEDBACK,
        summary="Record a user's judgement of a prompt; it is stored durably before the 202.",
        body=FeedbackBody,
        status=202,
        path_fields={"id": "prompt_id"},
        fixed={"source": "http"},
        errors=(*NOT_FOUND, *FEEDBACK_LIMITED, 409),
        description="Resending the same `event_id` is harmless: the answer then says `duplicate`. The server "
        "stamps the event's time and origin; learning counts one vote per origin, session and prompt. "
        "429 when the origin or the session has sent its minute's share (FEEDBACK_PER_MINUTE, "
        "FEEDBACK_PER_SESSION_PER_MINUTE). 409 when `chosen_over` names the prompt of the path.",
    ),
    Operation("GET", f"{API_PREFIX}/providers", "listProviders", "providers", forward, registry.PROVIDERS_LIST),
    Operation(
        "POST", f"{API_PREFIX}/providers/{{name}}/test", "testProvider", "providers", forward, registry.PROVIDERS_TEST,
        body=ProviderTestBody, body_optional=True, errors=(*NOT_FOUND, *PROVIDER_ERRORS),
    ),
    Operation(
        "GET", f"{API_PREFIX}/learning/stats", "getLearningStats", "learning", forward, registry.LEARNING_STATS
    ),
    Operation(
        "GET", f"{API_PREFIX}/learning/recommendations", "getRecommendations", "learning", forward,
        registry.LEARNING_RECOMMENDATIONS,
        query=(
            QueryParam("input", "input", "What the prompt is for.", max_length=MAX_QUERY_TEXT_CHARS),
            QueryParam("limit", "limit"),
            QueryParam("min_similarity", "min_similarity"),
            *FILTER_PARAMS,
        ),
        errors=(413,),  # as search: the page it reads must fit one bus message
    ),
)  # fmt: skip

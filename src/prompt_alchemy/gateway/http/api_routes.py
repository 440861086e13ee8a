"""The ``/api/v1`` operations: each forwards one bus contract, with its HTTP shape declared.

Most operations are the same three steps — parse the inputs into the bus request model,
``bus.request`` the contract, answer the reply model — so ``forward`` builds them; generation
(JSON or SSE) and feedback (the durable sink) have handlers of their own.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from prompt_alchemy.errors import Conflict
from prompt_alchemy.gateway.feedback import key_origin, submit_feedback
from prompt_alchemy.gateway.http.operations import Handler, Operation, QueryParam
from prompt_alchemy.gateway.http.request_parsing import parse_request, read_json_object, trace_headers
from prompt_alchemy.gateway.http.responses import encoded_response, model_response
from prompt_alchemy.gateway.http.sse import stream_generation, wants_event_stream
from prompt_alchemy.gateway.http.state import BUS, FEEDBACK, FEEDBACK_GATE, METRICS, SETTINGS
from prompt_alchemy.gateway.model_views import model_without
from prompt_alchemy.schemas import registry
from prompt_alchemy.schemas.common import utc_now
from prompt_alchemy.schemas.engine import GenerateRequest
from prompt_alchemy.schemas.learning import FeedbackEvent
from prompt_alchemy.schemas.providers import ProviderTestRequest
from prompt_alchemy.schemas.registry import Contract
from prompt_alchemy.schemas.storage import UpdateRequest

__all__ = ["API_OPERATIONS", "API_PREFIX", "FeedbackBody", "ProviderTestBody", "UpdateBody"]

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


def forward(contract: Contract[Any, Any]) -> Handler:
    async def handle(request: web.Request, operation: Operation) -> web.StreamResponse:
        payload = await parse_request(request, operation)
        timeout = request.app[SETTINGS].request_timeout_s
        # The worker's JSON goes out as it came: its bus validated it against the reply model.
        reply = await request.app[BUS].request_encoded(
            contract, payload, timeout=timeout, headers=trace_headers(request)
        )
        return encoded_response(reply, operation.status)

    return handle


async def generate(request: web.Request, operation: Operation) -> web.StreamResponse:
    payload = await parse_request(request, operation)
    assert isinstance(payload, GenerateRequest)
    bus, settings = request.app[BUS], request.app[SETTINGS]
    if wants_event_stream(request):
        return await stream_generation(
            request, bus, payload, timeout=settings.request_timeout_s, metrics=request.app[METRICS]
        )
    reply = await bus.request_encoded(
        registry.ENGINE_GENERATE, payload, timeout=settings.request_timeout_s, headers=trace_headers(request)
    )
    return encoded_response(reply, operation.status)


def caller_origin(request: web.Request) -> str:
    """Who sent the request, for learning's vote counting: the API key's fingerprint (the security
    middleware has checked it) or, with authentication off, the client address."""
    if request.app[SETTINGS].auth_enabled:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return key_origin(token.strip())
    return f"address:{request.remote or 'unknown'}"


async def record_feedback(request: web.Request, operation: Operation) -> web.StreamResponse:
    # The one rule the document cannot state (it spans the path and the body): a 409, not a 422.
    if (await read_json_object(request)).get("chosen_over") == request.match_info["id"]:
        message = "a prompt cannot be chosen over itself: chosen_over names the prompt of the path"
        raise Conflict(message, details={"field": "chosen_over"})
    parsed = await parse_request(request, operation)
    assert isinstance(parsed, FeedbackEvent)
    # The server says who and when: neither is the caller's to choose (see gateway.feedback).
    event = parsed.model_copy(update={"origin": caller_origin(request), "created_at": utc_now()})
    accepted = await submit_feedback(request.app[BUS], request.app[FEEDBACK], event, request.app[FEEDBACK_GATE])
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

API_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "POST", f"{API_PREFIX}/prompts/generate", "generatePrompts",
        "Run the phases for an idea and return ranked candidate prompts.", "prompts", generate,
        request=GenerateRequest, body=GenerateBody, reply=registry.ENGINE_GENERATE.reply,
        event_stream=True, errors=PROVIDER_ERRORS,
        description="With `Accept: text/event-stream` the answer is a stream of `progress` events "
        "(GenerationProgress) and, between them, `token` events with the candidates' text as the vendor "
        'streams it (data `{"request_id", "phase", "chain", "delta"}`), followed by one `result` '
        "(GenerateReply) or `error` (ErrorBody) event.",
    ),
    Operation(
        "POST", f"{API_PREFIX}/prompts/analyze", "analyzeIdea", registry.ENGINE_ANALYZE.summary, "prompts",
        forward(registry.ENGINE_ANALYZE), request=registry.ENGINE_ANALYZE.request,
        body=registry.ENGINE_ANALYZE.request, reply=registry.ENGINE_ANALYZE.reply,
        errors=NOT_FOUND,  # a provider the request names that is not configured
        description="The structured brief the phases work from: persona (and why), deliverable, the audience "
        "only when the idea states one, typed constraints, form rules, the input with its `{{placeholder}}`.",
    ),
    Operation(
        "GET", f"{API_PREFIX}/prompts/search", "searchPrompts", registry.STORAGE_SEARCH.summary, "prompts",
        forward(registry.STORAGE_SEARCH), request=registry.STORAGE_SEARCH.request,
        reply=registry.STORAGE_SEARCH.reply,
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
        "GET", f"{API_PREFIX}/prompts/{{id}}", "getPrompt", registry.STORAGE_GET.summary, "prompts",
        forward(registry.STORAGE_GET), request=registry.STORAGE_GET.request, reply=registry.STORAGE_GET.reply,
        query=(QueryParam("include_history", "include_history", "Also return earlier versions."),),
        errors=NOT_FOUND,
    ),
    Operation(
        "PATCH", f"{API_PREFIX}/prompts/{{id}}", "updatePrompt", registry.STORAGE_UPDATE.summary, "prompts",
        forward(registry.STORAGE_UPDATE), request=UpdateRequest, body=UpdateBody,
        reply=registry.STORAGE_UPDATE.reply, errors=(*NOT_FOUND, 409),  # 409: another prompt has that content
    ),
    Operation(
        "DELETE", f"{API_PREFIX}/prompts/{{id}}", "deletePrompt", registry.STORAGE_DELETE.summary, "prompts",
        forward(registry.STORAGE_DELETE), request=registry.STORAGE_DELETE.request,
        reply=registry.STORAGE_DELETE.reply, errors=NOT_FOUND,
    ),
    Operation(
        "GET", f"{API_PREFIX}/prompts/{{id}}/lineage", "getPromptLineage", registry.STORAGE_LINEAGE.summary,
        "prompts", forward(registry.STORAGE_LINEAGE), request=registry.STORAGE_LINEAGE.request,
        reply=registry.STORAGE_LINEAGE.reply,
        query=(QueryParam("direction", "direction"), QueryParam("max_depth", "max_depth")),
        errors=NOT_FOUND,
    ),
    Operation(
        "POST", f"{API_PREFIX}/prompts/optimize", "optimizePrompt", registry.ENGINE_OPTIMIZE.summary, "prompts",
        forward(registry.ENGINE_OPTIMIZE), request=registry.ENGINE_OPTIMIZE.request,
        body=registry.ENGINE_OPTIMIZE.request, reply=registry.ENGINE_OPTIMIZE.reply,
        errors=(*NOT_FOUND, *PROVIDER_ERRORS),
    ),
    Operation(
        "POST", f"{API_PREFIX}/prompts/batch", "batchGenerate", registry.ENGINE_BATCH.summary, "prompts",
        forward(registry.ENGINE_BATCH), request=registry.ENGINE_BATCH.request,
        body=registry.ENGINE_BATCH.request, reply=registry.ENGINE_BATCH.reply, errors=PROVIDER_ERRORS,
    ),
    Operation(
        "POST", f"{API_PREFIX}/prompts/{{id}}/feedback", "recordFeedback",
        "Record a user's judgement of a prompt; it is stored durably before the 202.", "learning",
        record_feedback, request=FeedbackEvent, body=FeedbackBody, reply=registry.LEARNING_FEEDBACK.reply,
        status=202,
        path_fields={"id": "prompt_id"},
        fixed={"source": "http"},
        errors=(*NOT_FOUND, *FEEDBACK_LIMITED, 409),
        description="Resending the same `event_id` is harmless: the answer then says `duplicate`. The server "
        "stamps the event's time and origin; learning counts one vote per origin, session and prompt. "
        "429 when the origin or the session has sent its minute's share (FEEDBACK_PER_MINUTE, "
        "FEEDBACK_PER_SESSION_PER_MINUTE). 409 when `chosen_over` names the prompt of the path.",
    ),
    Operation(
        "GET", f"{API_PREFIX}/providers", "listProviders", registry.PROVIDERS_LIST.summary, "providers",
        forward(registry.PROVIDERS_LIST), request=registry.PROVIDERS_LIST.request,
        reply=registry.PROVIDERS_LIST.reply,
    ),
    Operation(
        "POST", f"{API_PREFIX}/providers/{{name}}/test", "testProvider", registry.PROVIDERS_TEST.summary,
        "providers", forward(registry.PROVIDERS_TEST), request=ProviderTestRequest, body=ProviderTestBody,
        body_optional=True, reply=registry.PROVIDERS_TEST.reply, errors=(*NOT_FOUND, *PROVIDER_ERRORS),
    ),
    Operation(
        "GET", f"{API_PREFIX}/learning/stats", "getLearningStats", registry.LEARNING_STATS.summary, "learning",
        forward(registry.LEARNING_STATS), request=registry.LEARNING_STATS.request,
        reply=registry.LEARNING_STATS.reply,
    ),
    Operation(
        "GET", f"{API_PREFIX}/learning/recommendations", "getRecommendations",
        registry.LEARNING_RECOMMENDATIONS.summary, "learning", forward(registry.LEARNING_RECOMMENDATIONS),
        request=registry.LEARNING_RECOMMENDATIONS.request, reply=registry.LEARNING_RECOMMENDATIONS.reply,
        query=(
            QueryParam("input", "input", "What the prompt is for.", max_length=MAX_QUERY_TEXT_CHARS),
            QueryParam("limit", "limit"),
            QueryParam("min_similarity", "min_similarity"),
            *FILTER_PARAMS,
        ),
        errors=(413,),  # as search: the page it reads must fit one bus message
    ),
)  # fmt: skip

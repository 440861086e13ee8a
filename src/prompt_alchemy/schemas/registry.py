"""The one registry: every subject, its kind and its (Request, Reply) models.

It drives validation on both buses, the AsyncAPI and JSON Schema documents, the OpenAPI
document of the HTTP gateway and the MCP tool schemas. Subjects are
``alchemy.v1.<service>.<method>``; event subjects may end in a ``*`` token.
"""

from __future__ import annotations

from enum import StrEnum

from prompt_alchemy.errors import UnknownSubject
from prompt_alchemy.schemas import brief, engine, generation_cache, labels, learning, providers, storage
from prompt_alchemy.schemas.contract import (
    AnyContract,
    ContractKind,
    DurableEventContract,
    EventContract,
    ReplyT,
    RequestContract,
    RequestT,
)
from prompt_alchemy.schemas.events import GenerationProgress
from prompt_alchemy.schemas.health import HealthReply, HealthRequest
from prompt_alchemy.schemas.subjects import matches

__all__ = [
    "API_VERSION",
    "ENGINE_ANALYZE",
    "ENGINE_BATCH",
    "ENGINE_CAPABILITIES",
    "ENGINE_GENERATE",
    "ENGINE_HEALTH",
    "ENGINE_OPTIMIZE",
    "ENGINE_SELECT",
    "EVENTS_GENERATION",
    "EVENTS_LABEL_MOVED",
    "EVENTS_WEIGHTS_UPDATED",
    "FEEDBACK",
    "LABEL_MOVED",
    "LEARNING_FEEDBACK",
    "LEARNING_HEALTH",
    "LEARNING_LABEL_STATS",
    "LEARNING_RECOMMENDATIONS",
    "LEARNING_STATS",
    "LEARNING_UPDATE_WEIGHTS",
    "LEARNING_WEIGHTS",
    "PREFIX",
    "PROVIDERS_COMPLETE",
    "PROVIDERS_COMPLETE_BATCH",
    "PROVIDERS_EMBED",
    "PROVIDERS_GET",
    "PROVIDERS_HEALTH",
    "PROVIDERS_LIST",
    "PROVIDERS_TEST",
    "REGISTRY",
    "STORAGE_AGGREGATES",
    "STORAGE_CACHE_LOOKUP",
    "STORAGE_CACHE_PUT",
    "STORAGE_DELETE",
    "STORAGE_EMBEDDINGS",
    "STORAGE_EXPORT",
    "STORAGE_GET",
    "STORAGE_HEALTH",
    "STORAGE_IMPORT",
    "STORAGE_LABEL_GET",
    "STORAGE_LABEL_HISTORY",
    "STORAGE_LABEL_POLICIES",
    "STORAGE_LABEL_SERVED",
    "STORAGE_LABEL_SET",
    "STORAGE_LINEAGE",
    "STORAGE_NAME_GET",
    "STORAGE_NAME_SET",
    "STORAGE_REEMBED",
    "STORAGE_SEARCH",
    "STORAGE_SEARCH_BATCH",
    "STORAGE_STATS",
    "STORAGE_STORE",
    "STORAGE_STORE_BATCH",
    "STORAGE_UPDATE",
    "WEIGHTS_UPDATED",
    "AnyContract",
    "ContractKind",
    "DurableEventContract",
    "EventContract",
    "RequestContract",
    "Service",
    "contract_for",
    "contracts_of",
    "generation_events_subject",
    "subject",
]

API_VERSION = "v1"
PREFIX = f"alchemy.{API_VERSION}"


class Service(StrEnum):
    ENGINE = "engine"
    PROVIDERS = "providers"
    STORAGE = "storage"
    LEARNING = "learning"
    EVENTS = "events"


def subject(service: Service, method: str) -> str:
    return f"{PREFIX}.{service.value}.{method}"


def _request(
    service: Service,
    method: str,
    req: type[RequestT],
    rep: type[ReplyT],
    summary: str,
    *,
    retry_safe: bool,
) -> RequestContract[RequestT, ReplyT]:
    return RequestContract(subject(service, method), service, method, req, rep, summary, retry_safe)


def _health(service: Service) -> RequestContract[HealthRequest, HealthReply]:
    return _request(
        service, "health", HealthRequest, HealthReply, f"Health of one {service.value} instance.", retry_safe=True
    )


E, P, S, L = Service.ENGINE, Service.PROVIDERS, Service.STORAGE, Service.LEARNING

# generation engine (retry_safe: may a request whose responder was lost go to another instance?)
ENGINE_GENERATE = _request(
    E,
    "generate",
    engine.GenerateRequest,
    engine.GenerateReply,
    "Run the phases for an idea and return ranked candidate prompts.",
    retry_safe=True,  # its request id is fixed by the caller; stores dedupe by content
)
ENGINE_OPTIMIZE = _request(
    E,
    "optimize",
    engine.OptimizeRequest,
    engine.OptimizeReply,
    "Judge, critique and rewrite a prompt until a target score.",
    retry_safe=False,  # each run stores a new chain of rewrites
)
ENGINE_BATCH = _request(
    E,
    "batch",
    engine.BatchRequest,
    engine.BatchReply,
    "Generate for many inputs with bounded concurrency.",
    retry_safe=False,  # long, and a second run would store every item again
)
ENGINE_SELECT = _request(
    E,
    "select",
    engine.SelectRequest,
    engine.SelectReply,
    "LLM judge: score candidate prompts for a task.",
    retry_safe=True,
)
ENGINE_CAPABILITIES = _request(
    E,
    "capabilities",
    engine.CapabilitiesRequest,
    engine.CapabilitiesReply,
    "Phases, personas, target families and providers the engine offers.",
    retry_safe=True,
)
ENGINE_ANALYZE = _request(
    E,
    "analyze",
    brief.AnalyzeRequest,
    brief.Brief,
    "What the engine understands of an idea: deliverable, audience, constraints, form, input and persona.",
    retry_safe=True,  # a reading of the idea (an LLM's at temperature 0, cached): asking twice is harmless
)
ENGINE_HEALTH = _health(E)
# providers
PROVIDERS_LIST = _request(
    P,
    "list",
    providers.ProvidersListRequest,
    providers.ProvidersListReply,
    "Every provider with availability, capabilities and models.",
    retry_safe=True,
)
PROVIDERS_GET = _request(
    P, "get", providers.ProviderGetRequest, providers.ProviderInfo, "One provider.", retry_safe=True
)
PROVIDERS_TEST = _request(
    P,
    "test",
    providers.ProviderTestRequest,
    providers.ProviderTestReply,
    "Make a real minimal call to a provider.",
    retry_safe=True,
)
PROVIDERS_COMPLETE = _request(
    P,
    "complete",
    providers.CompletionRequest,
    providers.CompletionReply,
    "One chat completion with retries, circuit breaking and fallback.",
    retry_safe=True,  # a completion has no side effect but its cost
)
PROVIDERS_COMPLETE_BATCH = _request(
    P,
    "complete_batch",
    providers.CompletionBatchRequest,
    providers.CompletionBatchReply,
    "Chat completions answered together, each as providers.complete would (a generation phase's chains).",
    retry_safe=True,  # completions have no side effect but their cost
)
PROVIDERS_EMBED = _request(
    P, "embed", providers.EmbedRequest, providers.EmbedReply, "Embeddings from a provider.", retry_safe=True
)
PROVIDERS_HEALTH = _health(P)
# storage
STORAGE_STORE = _request(
    S,
    "store",
    storage.StoreRequest,
    storage.StoreReply,
    "Store a prompt (deduplicated by content).",
    retry_safe=True,  # deduplicated by content
)
STORAGE_STORE_BATCH = _request(
    S,
    "store_batch",
    storage.StoreBatchRequest,
    storage.StoreBatchReply,
    "Store prompts in order, a parent before its children (a generation's candidates in one request).",
    retry_safe=True,  # deduplicated by content, item by item
)
STORAGE_GET = _request(
    S, "get", storage.GetRequest, storage.GetReply, "One prompt, optionally with its history.", retry_safe=True
)
STORAGE_UPDATE = _request(
    S, "update", storage.UpdateRequest, storage.UpdateReply, "Edit a prompt or its aggregates.", retry_safe=False
)
STORAGE_DELETE = _request(S, "delete", storage.DeleteRequest, storage.DeleteReply, "Delete a prompt.", retry_safe=False)
STORAGE_SEARCH = _request(
    S, "search", storage.SearchRequest, storage.SearchReply, "Semantic and filtered search.", retry_safe=True
)
STORAGE_SEARCH_BATCH = _request(
    S,
    "search_batch",
    storage.SearchBatchRequest,
    storage.SearchBatchReply,
    "Several searches in one request (a generation's history, one per phase).",
    retry_safe=True,
)
STORAGE_LINEAGE = _request(
    S, "lineage", storage.LineageRequest, storage.LineageReply, "Ancestors and descendants.", retry_safe=True
)
STORAGE_AGGREGATES = _request(
    S,
    "aggregates",
    storage.AggregatesRequest,
    storage.UpdateReply,
    "Write learning's feedback aggregates of a prompt.",
    retry_safe=True,  # absolute values computed by learning: writing them twice changes nothing
)
STORAGE_EMBEDDINGS = _request(
    S, "embeddings", storage.EmbeddingsRequest, storage.EmbeddingsReply, "Embed texts (cached).", retry_safe=True
)
STORAGE_EXPORT = _request(
    S, "export", storage.ExportRequest, storage.ExportReply, "One page of a JSON Lines export.", retry_safe=True
)
STORAGE_IMPORT = _request(
    S, "import", storage.ImportRequest, storage.ImportReply, "Import JSON Lines.", retry_safe=False
)
STORAGE_REEMBED = _request(
    S, "reembed", storage.ReembedRequest, storage.ReembedReply, "Move vectors to another model.", retry_safe=False
)
STORAGE_STATS = _request(
    S, "stats", storage.StorageStatsRequest, storage.StorageStats, "Counts and sizes.", retry_safe=True
)
STORAGE_HEALTH = _health(S)
# the semantic cache of generations (asked by the engine)
STORAGE_CACHE_LOOKUP = _request(
    S,
    "cache_lookup",
    generation_cache.CacheLookupRequest,
    generation_cache.CacheLookupReply,
    "An earlier generation of the same shape for a near-identical idea, if any.",
    retry_safe=True,
)
STORAGE_CACHE_PUT = _request(
    S,
    "cache_put",
    generation_cache.CachePutRequest,
    generation_cache.CachePutReply,
    "Remember a generation for near-identical ideas (expires; dropped with its prompts).",
    retry_safe=True,  # keyed by the generation's request id: a second put replaces the first
)
# named prompts and labels (storage keeps them; a move is also published as EVENTS_LABEL_MOVED)
STORAGE_NAME_SET = _request(
    S,
    "name_set",
    labels.NameSetRequest,
    labels.NameSetReply,
    "Give a stored prompt a name: it becomes the name's next version.",
    retry_safe=True,  # naming the same prompt version again returns the version it already is
)
STORAGE_NAME_GET = _request(
    S, "name_get", labels.NameGetRequest, labels.PromptName, "A name, its versions and labels.", retry_safe=True
)
STORAGE_LABEL_SET = _request(
    S,
    "label_set",
    labels.LabelSetRequest,
    labels.LabelSetReply,
    "Move a label (to a version, a prompt or an A/B split); the move is audited and published.",
    retry_safe=True,  # setting a label to what it already is records nothing
)
STORAGE_LABEL_GET = _request(
    S,
    "label_get",
    labels.LabelGetRequest,
    labels.LabelServing,
    "The prompts a label serves, with their weights.",
    retry_safe=True,
)
STORAGE_LABEL_HISTORY = _request(
    S,
    "label_history",
    labels.LabelHistoryRequest,
    labels.LabelHistoryReply,
    "Every move of a name's labels, newest first.",
    retry_safe=True,
)
STORAGE_LABEL_POLICIES = _request(
    S,
    "label_policies",
    labels.LabelPoliciesRequest,
    labels.LabelPoliciesReply,
    "Every label with an auto_promote policy.",
    retry_safe=True,
)
STORAGE_LABEL_SERVED = _request(
    S,
    "label_served",
    labels.LabelServedRequest,
    labels.LabelServedReply,
    "Count versions served by label (reported by gateways in batches).",
    retry_safe=False,  # counts would be added twice
)
# learning
LEARNING_FEEDBACK = DurableEventContract(
    subject(L, "feedback"),
    L,
    "feedback",
    learning.FeedbackEvent,
    learning.FeedbackAccepted,
    "A user's judgement of a prompt; persisted before it is acknowledged.",
)
LEARNING_UPDATE_WEIGHTS = _request(
    L,
    "update_weights",
    learning.UpdateWeightsRequest,
    learning.Weights,
    "Recompute the ranking weights in full.",
    retry_safe=True,  # a full recomputation from the same facts
)
LEARNING_WEIGHTS = _request(
    L, "weights", learning.WeightsRequest, learning.Weights, "The current ranking weights.", retry_safe=True
)
LEARNING_STATS = _request(
    L, "stats", learning.LearningStatsRequest, learning.LearningStats, "Learning counters.", retry_safe=True
)
LEARNING_RECOMMENDATIONS = _request(
    L,
    "recommendations",
    learning.RecommendationsRequest,
    learning.RecommendationsReply,
    "Best stored prompts for an input: similarity x learned score.",
    retry_safe=True,
)
LEARNING_LABEL_STATS = _request(
    L,
    "label_stats",
    labels.LabelStatsRequest,
    labels.LabelStatsReply,
    "Compare a label's variants by feedback; apply its auto_promote policy, if any.",
    retry_safe=True,  # a promotion is a compare-and-set on the name's revision
)
LEARNING_HEALTH = _health(L)
# events
EVENTS_GENERATION = EventContract(
    f"{PREFIX}.events.generation.*",
    Service.EVENTS,
    "generation",
    GenerationProgress,
    "Live progress of one generation; the last token is the progress_token its request named.",
)
EVENTS_WEIGHTS_UPDATED = EventContract(
    f"{PREFIX}.events.weights.updated",
    Service.EVENTS,
    "weights_updated",
    learning.WeightsUpdated,
    "New ranking weights: every engine replica reloads.",
)
EVENTS_LABEL_MOVED = EventContract(
    f"{PREFIX}.events.labels.moved",
    Service.EVENTS,
    "label_moved",
    labels.LabelMoved,
    "A label of a named prompt moved: every gateway drops what it cached for the name.",
)

_CONTRACTS: tuple[AnyContract, ...] = (
    ENGINE_GENERATE, ENGINE_OPTIMIZE, ENGINE_BATCH, ENGINE_SELECT, ENGINE_CAPABILITIES, ENGINE_ANALYZE,
    ENGINE_HEALTH,
    PROVIDERS_LIST, PROVIDERS_GET, PROVIDERS_TEST, PROVIDERS_COMPLETE, PROVIDERS_COMPLETE_BATCH, PROVIDERS_EMBED,
    PROVIDERS_HEALTH,
    STORAGE_STORE, STORAGE_STORE_BATCH, STORAGE_GET, STORAGE_UPDATE, STORAGE_AGGREGATES, STORAGE_DELETE,
    STORAGE_SEARCH, STORAGE_SEARCH_BATCH, STORAGE_LINEAGE,
    STORAGE_EMBEDDINGS, STORAGE_EXPORT, STORAGE_IMPORT, STORAGE_REEMBED, STORAGE_STATS, STORAGE_HEALTH,
    STORAGE_NAME_SET, STORAGE_NAME_GET, STORAGE_LABEL_SET, STORAGE_LABEL_GET, STORAGE_LABEL_HISTORY,
    STORAGE_LABEL_SERVED, STORAGE_LABEL_POLICIES, STORAGE_CACHE_LOOKUP, STORAGE_CACHE_PUT,
    LEARNING_FEEDBACK, LEARNING_UPDATE_WEIGHTS, LEARNING_WEIGHTS, LEARNING_STATS, LEARNING_RECOMMENDATIONS,
    LEARNING_LABEL_STATS, LEARNING_HEALTH,
    EVENTS_GENERATION, EVENTS_WEIGHTS_UPDATED, EVENTS_LABEL_MOVED,
)  # fmt: skip

REGISTRY: dict[str, AnyContract] = {contract.subject: contract for contract in _CONTRACTS}


def contract_for(subject_name: str) -> AnyContract:
    """The contract of a concrete subject, e.g. ``alchemy.v1.events.generation.<id>``."""
    contract = REGISTRY.get(subject_name)
    if contract is not None:
        return contract
    for candidate in _CONTRACTS:
        if candidate.is_pattern and matches(candidate.subject, subject_name):
            return candidate
    raise UnknownSubject(f"unknown subject {subject_name!r}: not in the schema registry", subject=subject_name)


def contracts_of(service: Service) -> list[AnyContract]:
    return [contract for contract in _CONTRACTS if contract.service is service]


def generation_events_subject(request_id: str) -> str:
    return f"{PREFIX}.events.generation.{request_id}"


WEIGHTS_UPDATED = EVENTS_WEIGHTS_UPDATED.subject
FEEDBACK = LEARNING_FEEDBACK.subject
LABEL_MOVED = EVENTS_LABEL_MOVED.subject

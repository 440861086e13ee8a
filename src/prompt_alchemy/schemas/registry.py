"""The one registry: every subject, its kind and its (Request, Reply) models.

It drives validation on both buses, the AsyncAPI and JSON Schema documents, the OpenAPI
document of the HTTP gateway and the MCP tool schemas. Subjects are
``alchemy.v1.<service>.<method>``; event subjects may end in a ``*`` token.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel

from prompt_alchemy.errors import UnknownSubject
from prompt_alchemy.schemas import engine, learning, providers, storage
from prompt_alchemy.schemas.events import GenerationProgress
from prompt_alchemy.schemas.health import HealthReply, HealthRequest

__all__ = [
    "API_VERSION",
    "FEEDBACK",
    "PREFIX",
    "REGISTRY",
    "WEIGHTS_UPDATED",
    "Contract",
    "ContractKind",
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


class ContractKind(StrEnum):
    REQUEST = "request"  # request/reply
    EVENT = "event"  # fire-and-forget pub/sub
    DURABLE_EVENT = "durable_event"  # persisted in a stream, consumed at least once


@dataclass(frozen=True, slots=True)
class Contract:
    subject: str
    service: Service
    method: str
    kind: ContractKind
    request: type[BaseModel]
    reply: type[BaseModel] | None
    summary: str

    @property
    def is_pattern(self) -> bool:
        return "*" in self.subject.split(".") or self.subject.endswith(">")


def subject(service: Service, method: str) -> str:
    return f"{PREFIX}.{service.value}.{method}"


def _request(service: Service, method: str, req: type[BaseModel], rep: type[BaseModel], summary: str) -> Contract:
    return Contract(subject(service, method), service, method, ContractKind.REQUEST, req, rep, summary)


def _health(service: Service) -> Contract:
    return _request(service, "health", HealthRequest, HealthReply, f"Health of one {service.value} instance.")


E, P, S, L = Service.ENGINE, Service.PROVIDERS, Service.STORAGE, Service.LEARNING

_CONTRACTS: tuple[Contract, ...] = (
    # generation engine
    _request(E, "generate", engine.GenerateRequest, engine.GenerateReply,
             "Run the phases for an idea and return ranked candidate prompts."),
    _request(E, "optimize", engine.OptimizeRequest, engine.OptimizeReply,
             "Judge, critique and rewrite a prompt until a target score."),
    _request(E, "batch", engine.BatchRequest, engine.BatchReply,
             "Generate for many inputs with bounded concurrency."),
    _request(E, "select", engine.SelectRequest, engine.SelectReply,
             "LLM judge: score candidate prompts for a task."),
    _request(E, "capabilities", engine.CapabilitiesRequest, engine.CapabilitiesReply,
             "Phases, personas, target families and providers the engine offers."),
    _health(E),
    # providers
    _request(P, "list", providers.ProvidersListRequest, providers.ProvidersListReply,
             "Every provider with availability, capabilities and models."),
    _request(P, "get", providers.ProviderGetRequest, providers.ProviderInfo, "One provider."),
    _request(P, "test", providers.ProviderTestRequest, providers.ProviderTestReply,
             "Make a real minimal call to a provider."),
    _request(P, "complete", providers.CompletionRequest, providers.CompletionReply,
             "One chat completion with retries, circuit breaking and fallback."),
    _request(P, "embed", providers.EmbedRequest, providers.EmbedReply, "Embeddings from a provider."),
    _health(P),
    # storage
    _request(S, "store", storage.StoreRequest, storage.StoreReply, "Store a prompt (deduplicated by content)."),
    _request(S, "get", storage.GetRequest, storage.GetReply, "One prompt, optionally with its history."),
    _request(S, "update", storage.UpdateRequest, storage.UpdateReply, "Edit a prompt or its aggregates."),
    _request(S, "delete", storage.DeleteRequest, storage.DeleteReply, "Delete a prompt."),
    _request(S, "search", storage.SearchRequest, storage.SearchReply, "Semantic and filtered search."),
    _request(S, "lineage", storage.LineageRequest, storage.LineageReply, "Ancestors and descendants."),
    _request(S, "embeddings", storage.EmbeddingsRequest, storage.EmbeddingsReply, "Embed texts (cached)."),
    _request(S, "export", storage.ExportRequest, storage.ExportReply, "One page of a JSON Lines export."),
    _request(S, "import", storage.ImportRequest, storage.ImportReply, "Import JSON Lines."),
    _request(S, "reembed", storage.ReembedRequest, storage.ReembedReply, "Move vectors to another model."),
    _request(S, "stats", storage.StorageStatsRequest, storage.StorageStats, "Counts and sizes."),
    _health(S),
    # learning
    Contract(subject(L, "feedback"), L, "feedback", ContractKind.DURABLE_EVENT,
             learning.FeedbackEvent, learning.FeedbackAccepted,
             "A user's judgement of a prompt; persisted before it is acknowledged."),
    _request(L, "update_weights", learning.UpdateWeightsRequest, learning.Weights,
             "Recompute the ranking weights in full."),
    _request(L, "weights", learning.WeightsRequest, learning.Weights, "The current ranking weights."),
    _request(L, "stats", learning.LearningStatsRequest, learning.LearningStats, "Learning counters."),
    _request(L, "recommendations", learning.RecommendationsRequest, learning.RecommendationsReply,
             "Best stored prompts for an input: similarity x learned score."),
    _health(L),
    # events
    Contract(f"{PREFIX}.events.generation.*", Service.EVENTS, "generation", ContractKind.EVENT,
             GenerationProgress, None, "Live progress of one generation; the last token is its request id."),
    Contract(f"{PREFIX}.events.weights.updated", Service.EVENTS, "weights_updated", ContractKind.EVENT,
             learning.WeightsUpdated, None, "New ranking weights: every engine replica reloads."),
)  # fmt: skip

REGISTRY: dict[str, Contract] = {contract.subject: contract for contract in _CONTRACTS}


def _matches(pattern: str, concrete: str) -> bool:
    p_tokens, c_tokens = pattern.split("."), concrete.split(".")
    for index, part in enumerate(p_tokens):
        if part == ">":
            return len(c_tokens) > index
        if index >= len(c_tokens) or (part != "*" and part != c_tokens[index]):
            return False
    return len(p_tokens) == len(c_tokens)


def contract_for(subject_name: str) -> Contract:
    """The contract of a concrete subject, e.g. ``alchemy.v1.events.generation.<id>``."""
    contract = REGISTRY.get(subject_name)
    if contract is not None:
        return contract
    for candidate in _CONTRACTS:
        if candidate.is_pattern and _matches(candidate.subject, subject_name):
            return candidate
    raise UnknownSubject(f"unknown subject {subject_name!r}: not in the schema registry", subject=subject_name)


def contracts_of(service: Service) -> list[Contract]:
    return [contract for contract in _CONTRACTS if contract.service is service]


def generation_events_subject(request_id: str) -> str:
    return f"{PREFIX}.events.generation.{request_id}"


WEIGHTS_UPDATED = f"{PREFIX}.events.weights.updated"
FEEDBACK = subject(L, "feedback")

"""The registry is complete, versioned, and its models bound what they accept."""

from __future__ import annotations

import pydantic
import pytest

from prompt_alchemy.errors import UnknownSubject
from prompt_alchemy.schemas import REGISTRY, ContractKind, Service, contract_for, contracts_of
from prompt_alchemy.schemas.common import Phase, TargetFamily
from prompt_alchemy.schemas.engine import GenerateRequest
from prompt_alchemy.schemas.learning import FeedbackEvent
from prompt_alchemy.schemas.storage import SearchRequest, StoreRequest
from prompt_alchemy.schemas.subjects import is_valid_pattern, is_valid_subject, matches

DESIGN_TABLE = {
    Service.ENGINE: {"generate", "optimize", "batch", "select", "capabilities", "analyze", "health"},
    Service.PROVIDERS: {"list", "get", "test", "complete", "complete_batch", "embed", "health"},
    Service.STORAGE: {
        "store", "store_batch", "get", "update", "delete", "search", "search_batch", "embeddings", "export",
        "import", "stats", "health", "lineage", "reembed", "aggregates", "name_set", "name_get", "label_set",
        "label_get", "label_history", "label_served", "label_policies", "cache_lookup", "cache_put",
    },
    Service.LEARNING: {"feedback", "update_weights", "weights", "stats", "recommendations", "label_stats", "health"},
}  # fmt: skip


@pytest.mark.parametrize("service", list(DESIGN_TABLE))
def test_every_seed_interface_has_its_subjects(service: Service) -> None:
    assert {contract.method for contract in contracts_of(service)} == DESIGN_TABLE[service]


def test_subjects_are_versioned_and_unique() -> None:
    for subject, contract in REGISTRY.items():
        assert subject.startswith("alchemy.v1.")
        assert contract.subject == subject
        assert is_valid_pattern(subject)


def test_feedback_is_the_only_durable_event() -> None:
    durable = [c.subject for c in REGISTRY.values() if c.kind is ContractKind.DURABLE_EVENT]
    assert durable == ["alchemy.v1.learning.feedback"]


def test_pattern_contracts_resolve_concrete_subjects() -> None:
    assert contract_for("alchemy.v1.events.generation.req-1").method == "generation"
    with pytest.raises(UnknownSubject):
        contract_for("alchemy.v1.events.generation.a.b")
    with pytest.raises(UnknownSubject):
        contract_for("alchemy.v2.engine.generate")


@pytest.mark.parametrize(
    ("pattern", "subject", "expected"),
    [
        ("a.*.c", "a.b.c", True),
        ("a.*.c", "a.b.d", False),
        ("a.>", "a.b.c", True),
        ("a.>", "a", False),
        ("a.b", "a.b.c", False),
        ("*", "a", True),
    ],
)
def test_wildcard_matching(pattern: str, subject: str, expected: bool) -> None:
    assert matches(pattern, subject) is expected


def test_subject_syntax() -> None:
    assert is_valid_subject("alchemy.v1.engine.generate")
    assert not is_valid_subject("alchemy.v1.*")
    assert not is_valid_subject("a..b")
    assert not is_valid_subject("a b")
    assert not is_valid_pattern("a.>.b")


def test_legacy_phase_names_are_accepted_and_unknown_ones_named() -> None:
    request = GenerateRequest(input="x", phases=["precision", "idea", "human"])  # type: ignore[list-item]
    assert request.phases == [Phase.PRIMA_MATERIA, Phase.SOLUTIO, Phase.COAGULATIO]
    with pytest.raises(pydantic.ValidationError) as caught:
        GenerateRequest(input="x", phases=["transmutation"])  # type: ignore[list-item]
    assert caught.value.errors()[0]["loc"] == ("phases", 0)


@pytest.mark.parametrize(
    "bad",
    [
        {"input": ""},
        {"input": "x", "count": 0},
        {"input": "x", "count": 11},
        {"input": "x", "max_tokens": 100_000},
        {"input": "x" * 20_001},
        {"input": "x", "temperature": 3},
        {"input": "x", "phases": ["solutio", "solutio"]},
        {"input": "x", "unknown": 1},
    ],
)
def test_generate_request_bounds(bad: dict[str, object]) -> None:
    with pytest.raises(pydantic.ValidationError):
        GenerateRequest.model_validate(bad)


def test_feedback_needs_a_signal_and_a_different_chosen_over() -> None:
    with pytest.raises(pydantic.ValidationError):
        FeedbackEvent(prompt_id="p1")
    with pytest.raises(pydantic.ValidationError):
        FeedbackEvent(prompt_id="p1", chosen_over="p1")
    event = FeedbackEvent(prompt_id="p1", rating=5)
    assert len(event.event_id) == 32


def test_vectors_must_be_finite_and_come_with_their_model() -> None:
    with pytest.raises(pydantic.ValidationError):
        StoreRequest(content="x", embedding=[0.1, float("nan")], embedding_model="m")
    with pytest.raises(pydantic.ValidationError):
        StoreRequest(content="x", embedding=[0.1, 0.2])
    with pytest.raises(pydantic.ValidationError):
        SearchRequest(query="x", vector=[0.1], embedding_model="m")


def test_target_family_inference() -> None:
    assert TargetFamily.for_model("claude-sonnet-4-5") is TargetFamily.CLAUDE
    assert TargetFamily.for_model("gpt-4o-mini") is TargetFamily.GPT
    assert TargetFamily.for_model("gemini-2.5-pro") is TargetFamily.GEMINI
    assert TargetFamily.for_model("grok-4") is TargetFamily.GROK
    assert TargetFamily.for_model("llama3.1") is TargetFamily.GENERIC
    assert TargetFamily.for_model(None) is TargetFamily.GENERIC

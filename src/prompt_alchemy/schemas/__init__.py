"""Pydantic contracts of every subject. Import models from their modules; this package re-exports the registry."""

from prompt_alchemy.schemas.registry import (
    FEEDBACK,
    PREFIX,
    REGISTRY,
    WEIGHTS_UPDATED,
    Contract,
    ContractKind,
    Service,
    contract_for,
    contracts_of,
    generation_events_subject,
    subject,
)

__all__ = [
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

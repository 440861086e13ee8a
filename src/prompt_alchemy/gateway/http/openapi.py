"""OpenAPI 3.1 of the HTTP gateway, generated from the operation table and the schema registry.

Component schemas are pydantic's JSON Schema (2020-12, the dialect OpenAPI 3.1 uses) of the
very models the bus validates: request bodies in validation mode, replies in serialization
mode, with ``$ref``s under ``#/components/schemas/``. Parameters take their schema from the
field of the request model they fill, so constraints (ranges, patterns, enums) are the same.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from prompt_alchemy import __version__
from prompt_alchemy.gateway.http.operations import Operation
from prompt_alchemy.gateway.http.routes import operations
from prompt_alchemy.gateway.http.settings import HttpSettings
from prompt_alchemy.schemas.errors import ErrorBody
from prompt_alchemy.schemas.events import GenerationProgress

__all__ = ["REF_PREFIX", "openapi_document"]

REF_PREFIX = "#/components/schemas/"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
COMMON_ERRORS = (422, 500, 502, 503, 504)
# Any request may be malformed at the HTTP level (400), come from an origin the door does not
# allow (403) or name a host it does not serve (421); a body may be slow (408), too large (413)
# or not JSON (415).
DOOR_ERRORS = (400, 403, 421)
BODY_ERRORS = (408, 413, 415)
BEARER = "bearerAuth"

ModelKey = tuple[type[BaseModel], JsonSchemaMode]


class _Schemas:
    """Every model the operations use, generated together so names and ``$ref``s agree."""

    def __init__(self, ops: tuple[Operation[Any, Any], ...]) -> None:
        wanted: dict[ModelKey, None] = {(ErrorBody, "serialization"): None, (GenerationProgress, "serialization"): None}
        for op in ops:
            if op.request is not None:
                wanted[(op.request, "validation")] = None
            if op.body is not None:
                wanted[(op.body, "validation")] = None
            if op.reply is not None:
                wanted[(op.reply, "serialization")] = None
        keys, top = models_json_schema(list(wanted), ref_template=REF_PREFIX + "{model}")
        self.refs: dict[ModelKey, dict[str, Any]] = {
            (model, mode): dict(ref)
            for (model, mode), ref in keys.items()
            if isinstance(model, type) and issubclass(model, BaseModel)
        }
        self.components: dict[str, Any] = dict(top.get("$defs", {}))

    def ref(self, model: type[BaseModel], mode: Literal["validation", "serialization"]) -> dict[str, Any]:
        return dict(self.refs[(model, mode)])

    def _resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF_PREFIX):
            return dict(self.components[ref.removeprefix(REF_PREFIX)])
        for arm in schema.get("anyOf", []):  # an optional nested model: Model | None
            if isinstance(arm, dict) and "$ref" in arm:
                return self._resolve(arm)
        return schema

    def property(self, model: type[BaseModel], dotted: str) -> tuple[dict[str, Any], bool]:
        """The schema of a (nested) field of a validation-mode model, and whether it is required."""
        schema = self._resolve(self.ref(model, "validation"))
        required = True
        parts = dotted.split(".")
        for index, part in enumerate(parts):
            required = required and part in schema.get("required", [])
            prop = dict(schema["properties"][part])
            schema = prop if index == len(parts) - 1 else self._resolve(prop)
        return schema, required


def _error_response(code: int, schemas: _Schemas) -> dict[str, Any]:
    try:
        phrase = HTTPStatus(code).phrase
    except ValueError:
        phrase = "Error"
    response: dict[str, Any] = {
        "description": phrase,
        "content": {"application/json": {"schema": schemas.ref(ErrorBody, "serialization")}},
    }
    if code == 429:
        response["headers"] = {
            "Retry-After": {"description": "Seconds until a request is allowed again.", "schema": {"type": "integer"}}
        }
    if code == 401:
        response["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
    return response


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent rather than null: drop the ``null`` arm of optional fields."""
    arms = schema.get("anyOf")
    if not isinstance(arms, list):
        return schema
    kept = [arm for arm in arms if arm != {"type": "null"}]
    if len(kept) == len(arms):
        return schema
    stripped = {
        key: value for key, value in schema.items() if key != "anyOf" and not (key == "default" and value is None)
    }
    return {**kept[0], **stripped} if len(kept) == 1 else {**stripped, "anyOf": kept}


def _parameters(op: Operation[Any, Any], schemas: _Schemas) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = []
    for name in op.path_params:
        schema, _ = schemas.property(op.request_model, op.field_of(name))
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    for query in op.query:
        schema, required = schemas.property(op.request_model, query.field)
        schema = _without_null(schema)
        if query.max_length is not None:
            schema = {**schema, "maxLength": min(query.max_length, schema.get("maxLength", query.max_length))}
        if query.pattern is not None and "pattern" not in schema:
            schema = {**schema, "pattern": query.pattern}
        param: dict[str, Any] = {"name": query.name, "in": "query", "required": required, "schema": schema}
        if query.description:
            param["description"] = query.description
        if schema.get("type") == "array" or any(arm.get("type") == "array" for arm in schema.get("anyOf", [])):
            param["style"], param["explode"] = "form", True
        params.append(param)
    return params


def _responses(op: Operation[Any, Any], schemas: _Schemas, settings: HttpSettings | None) -> dict[str, Any]:
    success: dict[str, Any] = {"description": HTTPStatus(op.status).phrase}
    if op.reply is not None:
        success["content"] = {op.media_type: {"schema": schemas.ref(op.reply, "serialization")}}
        if op.event_stream:
            success["content"]["text/event-stream"] = {"schema": {"type": "string"}}
    elif op.media_type == "application/json":
        success["content"] = {"application/json": {"schema": {"type": "object"}}}
    else:
        success["content"] = {op.media_type: {"schema": {"type": "string"}}}
    responses: dict[str, Any] = {str(op.status): success}
    codes: set[int] = {500, *DOOR_ERRORS}
    if op.request is not None:
        codes.update(COMMON_ERRORS)
    if op.body is not None:
        codes.update(BODY_ERRORS)
    codes.update(op.errors)
    if not op.public:
        if settings is None or settings.auth_enabled:
            codes.add(401)
        if settings is None or settings.rate_limit_per_minute:
            codes.add(429)
    for code in op.reply_statuses:  # e.g. health's 503 carries the health report itself
        assert op.reply is not None
        codes.discard(code)
        responses[str(code)] = {
            "description": HTTPStatus(code).phrase,
            "content": {op.media_type: {"schema": schemas.ref(op.reply, "serialization")}},
        }
    for code in sorted(codes):
        responses[str(code)] = _error_response(code, schemas)
    responses["default"] = {
        "description": "Any other error, with the status of the service error.",
        "content": {"application/json": {"schema": schemas.ref(ErrorBody, "serialization")}},
    }
    return responses


def _operation(op: Operation[Any, Any], schemas: _Schemas, settings: HttpSettings | None) -> dict[str, Any]:
    document: dict[str, Any] = {"operationId": op.operation_id, "summary": op.summary, "tags": [op.tag]}
    if op.description:
        document["description"] = op.description
    parameters = _parameters(op, schemas)
    if parameters:
        document["parameters"] = parameters
    if op.body is not None:
        document["requestBody"] = {
            "required": not op.body_optional,
            "content": {"application/json": {"schema": schemas.ref(op.body, "validation")}},
        }
    document["responses"] = _responses(op, schemas, settings)
    if op.public:
        document["security"] = []
    elif settings is None:
        document["security"] = [{BEARER: []}, {}]  # depends on whether ALCHEMY_API_KEYS is set
    elif settings.auth_enabled:
        document["security"] = [{BEARER: []}]
    else:
        document["security"] = []
    return document


def openapi_document(settings: HttpSettings | None = None) -> dict[str, Any]:
    """The document an app with ``settings`` serves; without settings, for any configuration."""
    ops = operations(settings or HttpSettings())
    schemas = _Schemas(ops)
    paths: dict[str, dict[str, Any]] = {}
    for op in ops:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, schemas, settings)
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": JSON_SCHEMA_DIALECT,
        "info": {
            "title": "prompt-alchemy",
            "version": __version__,
            "summary": "Turn a rough idea into production-ready LLM prompts.",
            "description": "Every request and reply body is a bus contract model of the schema registry; "
            "errors are ErrorBody objects with the HTTP status as `code`.",
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "tags": [
            {"name": "prompts", "description": "Generate, search, edit and optimise prompts."},
            {"name": "providers", "description": "LLM providers and their availability."},
            {"name": "learning", "description": "Feedback and what was learnt from it."},
            {"name": "registry", "description": "Named prompts served by label, with A/B splits and an audit trail."},
            {"name": "system", "description": "Health, metrics and this document."},
        ],
        "paths": paths,
        "components": {
            "schemas": schemas.components,
            "securitySchemes": {BEARER: {"type": "http", "scheme": "bearer", "description": "An API key."}},
        },
    }

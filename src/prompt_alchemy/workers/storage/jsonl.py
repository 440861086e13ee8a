"""The JSON Lines format of export and import: one prompt per line, backend-neutral.

A line holds the record (with lineage and aggregates), its older versions and, optionally, its
vector as base64 little-endian float32 (exact, and a quarter of the size of a JSON list).
Import validates each line as strictly as ``storage.store`` validates a request.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
from pydantic import TypeAdapter, ValidationError

from prompt_alchemy.errors import BadRequest
from prompt_alchemy.schemas.common import Identifier
from prompt_alchemy.schemas.storage import PromptRecord, PromptVersion, StoreRequest
from prompt_alchemy.workers.storage.backend import Embedding, StoredPrompt
from prompt_alchemy.workers.storage.embedders import as_unit_vector

__all__ = ["LINE_FORMAT", "LineError", "decode_line", "encode_line"]

LINE_FORMAT = "prompt-alchemy.prompt/1"

T = TypeVar("T")

_IDENTIFIER: TypeAdapter[str] = TypeAdapter(Identifier)


class LineError(ValueError):
    """A line that cannot be imported; the message says why."""


def encode_line(prompt: StoredPrompt) -> str:
    body: dict[str, Any] = {
        "format": LINE_FORMAT,
        "record": prompt.record.model_dump(mode="json"),
        "history": [version.model_dump(mode="json") for version in prompt.history],
    }
    if prompt.embedding is not None:
        vector = np.ascontiguousarray(prompt.embedding.vector, dtype="<f4")
        body["embedding"] = {
            "model": prompt.embedding.model,
            "dimension": int(vector.size),
            "vector": base64.b64encode(vector.tobytes()).decode("ascii"),
        }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def decode_line(line: str) -> StoredPrompt:
    try:
        body = json.loads(line)
    except json.JSONDecodeError as error:
        raise LineError(f"not JSON: {error.msg}") from error
    if not isinstance(body, dict) or body.get("format") != LINE_FORMAT:
        raise LineError(f"not a {LINE_FORMAT} line")
    record = _validated("record", lambda: PromptRecord.model_validate(body.get("record")))
    _validated("record.id", lambda: _IDENTIFIER.validate_python(record.id))
    # The same constraints a store request has (content size, tags, source, lineage).
    _validated(
        "record",
        lambda: StoreRequest(
            content=record.content, input=record.input, tags=record.tags, source=record.source, lineage=record.lineage
        ),
    )
    history = _validated("history", lambda: [PromptVersion.model_validate(item) for item in body.get("history") or []])
    return StoredPrompt(record=record, history=history, embedding=_decode_embedding(body.get("embedding")))


def _validated(where: str, build: Callable[[], T]) -> T:
    try:
        return build()
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join([where, *(str(part) for part in first["loc"])])
        raise LineError(f"{field}: {first['msg']}") from error


def _decode_embedding(raw: Any) -> Embedding | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("model"), str) or not raw["model"]:
        raise LineError("embedding must have a model name")
    try:
        vector = np.frombuffer(base64.b64decode(raw.get("vector", ""), validate=True), dtype="<f4")
    except (binascii.Error, ValueError, TypeError) as error:
        raise LineError("embedding.vector is not base64 float32") from error
    if vector.size != raw.get("dimension"):
        raise LineError(f"embedding has {vector.size} values, dimension says {raw.get('dimension')}")
    try:
        unit = as_unit_vector(vector, field="embedding.vector")
    except BadRequest as error:
        raise LineError(error.message) from error
    return Embedding(raw["model"], unit)

"""The shape every vendor wire format has: build a request, parse a reply, read an error body.

Each vendor module is pure functions over JSON-compatible values (no I/O), bundled into one
``WireFormat`` so the HTTP layer treats every vendor alike. A streamed reply is read by a
``StreamReader``: the HTTP layer frames the body (server-sent events or NDJSON) and feeds each
decoded payload to it; the reader returns the text delta it carried and, at the end, the whole
completion, or says the stream stopped before the vendor's own end marker.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from prompt_alchemy.errors import ProviderError
from prompt_alchemy.schemas.common import Usage
from prompt_alchemy.schemas.providers import ChatMessage, ResponseSchema
from prompt_alchemy.workers.providers.secrets import SecretKey

__all__ = [
    "ChatParams",
    "HttpCall",
    "ParsedCompletion",
    "ParsedEmbeddings",
    "StreamAccumulator",
    "StreamReader",
    "WireFormat",
    "dig",
    "labelled_error",
    "malformed",
    "schema_without",
    "stream_error",
    "system_text",
    "usage_from",
    "vectors_from",
]


@dataclass(frozen=True, slots=True)
class ChatParams:
    model: str
    messages: Sequence[ChatMessage]
    temperature: float
    max_tokens: int
    schema: ResponseSchema | None = None  # structured output: the reply is one JSON object of this schema


@dataclass(frozen=True, slots=True)
class HttpCall:
    """A POST to ``base_url + path`` with a JSON body; ``headers`` never carry the key."""

    path: str
    body: dict[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ParsedCompletion:
    content: str
    model: str | None
    usage: Usage | None  # None: the vendor did not report usage


@dataclass(frozen=True, slots=True)
class ParsedEmbeddings:
    vectors: list[list[float]]
    usage: Usage | None


class StreamAccumulator:
    """What every vendor's stream reader keeps: the text parts, the model, the usage, the end marker."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._model: str | None = None
        self._usage: Any = None
        self._done = False

    @property
    def finished(self) -> bool:
        return self._done

    def result(self) -> ParsedCompletion:
        return ParsedCompletion("".join(self._parts), self._model, self._usage)


class StreamReader(Protocol):
    """Reads one streamed reply, payload by payload (pure: no I/O)."""

    def feed(self, event: str | None, payload: Any) -> str:
        """The text delta this payload carries ("" for none); a vendor error event raises ProviderError."""
        ...

    @property
    def finished(self) -> bool:
        """True once the vendor's own end-of-reply marker arrived."""
        ...

    def result(self) -> ParsedCompletion:
        """The whole completion; only meaningful once ``finished``."""
        ...


@dataclass(frozen=True, slots=True)
class WireFormat:
    vendor: str
    auth_headers: Callable[[SecretKey | None], dict[str, str]]
    chat_call: Callable[[ChatParams], HttpCall]
    parse_chat: Callable[[Any], ParsedCompletion]
    embed_call: Callable[[str, Sequence[str]], HttpCall]
    parse_embed: Callable[[Any, int], ParsedEmbeddings]
    error_message: Callable[[Any], str | None]
    # Streaming chat: the request and a fresh reader per reply; ``framing`` is how the body is cut
    stream_call: Callable[[ChatParams], HttpCall]
    stream_reader: Callable[[], StreamReader]
    # True when an error body says waiting will not help (quota or spend limit used up), even on a 429
    exhausted: Callable[[Any], bool] = field(default=lambda body: False)
    framing: Literal["sse", "ndjson"] = "sse"


def stream_error(vendor: str, message: str, *, retriable: bool = True) -> ProviderError:
    """An error the vendor sent inside a stream that had started (overloaded, server error...)."""
    return ProviderError(f"{vendor} stream failed: {message}", retriable=retriable, details={"reason": "stream_error"})


def malformed(vendor: str, what: str) -> ProviderError:
    """A 2xx reply we cannot read: not retriable (the same request gets the same answer)."""
    return ProviderError(f"malformed {vendor} response: {what}", details={"reason": "malformed_response"})


def labelled_error(body: Any, label: str) -> str | None:
    """``error.message`` of a vendor error body, prefixed with ``error.<label>`` when it has one."""
    message = dig(body, "error", "message")
    if not isinstance(message, str) or not message:
        return None
    kind = dig(body, "error", label)
    return f"{kind}: {message}" if isinstance(kind, str) and kind else message


def dig(body: Any, *path: str | int) -> Any:
    """``body[p0][p1]...`` or None when any step is missing or of the wrong type."""
    node = body
    for step in path:
        if isinstance(step, int):
            if not isinstance(node, list) or not -len(node) <= step < len(node):
                return None
        elif not isinstance(node, dict):
            return None
        node = node[step] if isinstance(step, int) else node.get(step)
    return node


def schema_without(schema: Any, keyword: str) -> Any:
    """``schema`` with ``keyword`` removed at every level (a vendor's subset of JSON Schema lacks it)."""
    if isinstance(schema, dict):
        return {key: schema_without(value, keyword) for key, value in schema.items() if key != keyword}
    if isinstance(schema, list):
        return [schema_without(item, keyword) for item in schema]
    return schema


def usage_from(input_tokens: Any, output_tokens: Any) -> Usage | None:
    """Vendor-reported usage, or None when either count is absent or not a non-negative int."""
    if isinstance(input_tokens, bool) or isinstance(output_tokens, bool):
        return None
    if isinstance(input_tokens, int) and isinstance(output_tokens, int) and input_tokens >= 0 and output_tokens >= 0:
        return Usage(input_tokens=input_tokens, output_tokens=output_tokens)
    return None


def system_text(messages: Sequence[ChatMessage]) -> str:
    return "\n\n".join(message.content for message in messages if message.role == "system")


def vectors_from(vendor: str, rows: Any, count: int) -> list[list[float]]:
    """Validate a list of ``count`` equally long numeric vectors."""
    if not isinstance(rows, list) or len(rows) != count:
        raise malformed(vendor, f"expected {count} embeddings")
    vectors: list[list[float]] = []
    for row in rows:
        if not isinstance(row, list) or not row or not all(isinstance(x, int | float) for x in row):
            raise malformed(vendor, "an embedding is not a list of numbers")
        vectors.append([float(x) for x in row])
    if len({len(vector) for vector in vectors}) != 1:
        raise malformed(vendor, "embeddings of different dimensions")
    return vectors

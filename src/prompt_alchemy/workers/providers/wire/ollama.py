"""Ollama's native API.

Chat: POST ``{host}/api/chat`` with ``stream: false``; the system prompt stays a ``system``
message; sampling goes to ``options {temperature, num_predict}``. Reply: ``message.content``
and ``prompt_eval_count``/``eval_count`` as usage. Embeddings: POST ``{host}/api/embed`` with
``input`` as a list, reply ``embeddings``. Errors: ``{"error": "..."}``. No key. Streaming
(``stream: true``): newline-delimited JSON, each line a partial reply whose ``message.content``
is the next text, the last one ``done: true`` with the counts; an error after the stream began
is a line ``{"error": "..."}``. Structured output: a JSON schema as ``format``; ``message.content``
is then the JSON text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prompt_alchemy.workers.providers.secrets import SecretKey
from prompt_alchemy.workers.providers.wire.base import (
    ChatParams,
    HttpCall,
    ParsedCompletion,
    ParsedEmbeddings,
    StreamAccumulator,
    StreamReader,
    WireFormat,
    dig,
    malformed,
    stream_error,
    usage_from,
    vectors_from,
)

__all__ = [
    "OLLAMA",
    "OllamaStreamReader",
    "build_chat",
    "build_embed",
    "build_stream",
    "error_message",
    "parse_chat",
    "parse_embed",
]


def auth_headers(key: SecretKey | None) -> dict[str, str]:
    # Plain Ollama has no auth; a key is sent as a bearer token for hosted or proxied instances.
    return {"Authorization": f"Bearer {key.reveal()}"} if key is not None else {}


def build_chat(params: ChatParams) -> HttpCall:
    body: dict[str, Any] = {
        "model": params.model,
        "messages": [{"role": message.role, "content": message.content} for message in params.messages],
        "stream": False,
        "options": {"temperature": params.temperature, "num_predict": params.max_tokens},
    }
    if params.schema is not None:
        body["format"] = params.schema.json_schema  # structured output: a JSON schema in ``format``
    return HttpCall("/api/chat", body)


def build_stream(params: ChatParams) -> HttpCall:
    call = build_chat(params)
    return HttpCall(call.path, {**call.body, "stream": True}, {"Accept": "application/x-ndjson"})


class OllamaStreamReader(StreamAccumulator):
    """NDJSON partial replies up to the one with ``done: true``."""

    def feed(self, event: str | None, payload: Any) -> str:
        message = error_message(payload)
        if message is not None:
            raise stream_error("Ollama", message)
        model = dig(payload, "model")
        self._model = model if isinstance(model, str) else self._model
        if dig(payload, "done") is True:
            self._done = True
            self._usage = usage_from(dig(payload, "prompt_eval_count"), dig(payload, "eval_count"))
        text = dig(payload, "message", "content")
        if isinstance(text, str) and text:
            self._parts.append(text)
            return text
        return ""


def _reader() -> StreamReader:
    return OllamaStreamReader()


def parse_chat(body: Any) -> ParsedCompletion:
    content = dig(body, "message", "content")
    if not isinstance(content, str):
        raise malformed("Ollama", "no message.content")
    model = dig(body, "model")
    usage = usage_from(dig(body, "prompt_eval_count"), dig(body, "eval_count"))
    return ParsedCompletion(content, model if isinstance(model, str) else None, usage)


def build_embed(model: str, texts: Sequence[str]) -> HttpCall:
    return HttpCall("/api/embed", {"model": model, "input": list(texts)})


def parse_embed(body: Any, count: int) -> ParsedEmbeddings:
    vectors = vectors_from("Ollama", dig(body, "embeddings"), count)
    prompt_tokens = dig(body, "prompt_eval_count")
    return ParsedEmbeddings(vectors, usage_from(prompt_tokens, 0))


def error_message(body: Any) -> str | None:
    message = dig(body, "error")
    return message if isinstance(message, str) and message else None


OLLAMA = WireFormat(
    vendor="Ollama",
    auth_headers=auth_headers,
    chat_call=build_chat,
    parse_chat=parse_chat,
    embed_call=build_embed,
    parse_embed=parse_embed,
    error_message=error_message,
    stream_call=build_stream,
    stream_reader=_reader,
    framing="ndjson",
)

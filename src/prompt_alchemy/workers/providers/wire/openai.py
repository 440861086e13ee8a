"""OpenAI's wire format, also spoken by OpenRouter, xAI, vLLM, llama.cpp server and LM Studio.

Chat: POST ``{base}/chat/completions`` with ``Authorization: Bearer``; reply
``choices[0].message.content`` and ``usage.prompt_tokens/completion_tokens``. Embeddings: POST
``{base}/embeddings`` with ``input`` as a list; reply ``data[i].embedding`` ordered by ``index``.
Errors: ``{"error": {"message", "type", "param", "code"}}``. Streaming: the same POST with
``stream: true`` and ``stream_options: {"include_usage": true}`` answers server-sent events, each
``data:`` a ``chat.completion.chunk`` whose ``choices[0].delta.content`` is the next text, then a
last chunk with empty ``choices`` and the ``usage``, then ``data: [DONE]``; an error that happens
after the stream began arrives as ``data: {"error": {...}}``. OpenAI itself takes
``max_completion_tokens`` (``max_tokens`` is deprecated there and refused by reasoning models);
compatible servers take ``max_tokens``. Structured output: ``response_format: {"type":
"json_schema", "json_schema": {"name", "description", "schema", "strict": true}}``; the reply's
``message.content`` is then the JSON text (OpenRouter and xAI take the same field).
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
    "OPENAI",
    "OPENAI_COMPATIBLE",
    "OpenAIStreamReader",
    "build_chat",
    "build_stream",
    "error_message",
    "parse_chat",
    "parse_embed",
]

_REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")


def auth_headers(key: SecretKey | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key.reveal()}"} if key is not None else {}


def build_chat(params: ChatParams, *, official: bool) -> HttpCall:
    body: dict[str, Any] = {
        "model": params.model,
        "messages": [{"role": message.role, "content": message.content} for message in params.messages],
    }
    reasoning = official and params.model.lower().startswith(_REASONING_PREFIXES)
    if not reasoning:  # reasoning models accept only their default temperature
        body["temperature"] = params.temperature
    body["max_completion_tokens" if official else "max_tokens"] = params.max_tokens
    if params.schema is not None:
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {
                "name": params.schema.name,
                "description": params.schema.description,
                "schema": params.schema.json_schema,
                "strict": True,
            },
        }
    return HttpCall("/chat/completions", body)


def build_stream(params: ChatParams, *, official: bool) -> HttpCall:
    call = build_chat(params, official=official)
    body = {**call.body, "stream": True, "stream_options": {"include_usage": True}}
    return HttpCall(call.path, body, {"Accept": "text/event-stream"})


class OpenAIStreamReader(StreamAccumulator):
    """``chat.completion.chunk`` events up to ``[DONE]``."""

    def __init__(self, vendor: str = "OpenAI") -> None:
        super().__init__()
        self.vendor = vendor

    def feed(self, event: str | None, payload: Any) -> str:
        if payload == "[DONE]":
            self._done = True
            return ""
        if dig(payload, "error") is not None:
            raise stream_error(self.vendor, error_message(payload) or "error event without a message")
        self._model = _model(payload) or self._model
        usage = _usage(payload)
        if usage is not None:
            self._usage = usage
        delta = dig(payload, "choices", 0, "delta")
        if not isinstance(delta, dict):
            return ""
        text = delta.get("content")
        if not isinstance(text, str):
            text = delta.get("refusal")
        if isinstance(text, str) and text:
            self._parts.append(text)
            return text
        return ""


def _reader(vendor: str) -> StreamReader:
    return OpenAIStreamReader(vendor)


def parse_chat(body: Any, vendor: str = "OpenAI") -> ParsedCompletion:
    message = dig(body, "choices", 0, "message")
    if not isinstance(message, dict):
        raise malformed(vendor, "no choices[0].message")
    content = message.get("content")
    if not isinstance(content, str):
        refusal = message.get("refusal")
        if isinstance(refusal, str):
            return ParsedCompletion(refusal, _model(body), _usage(body))
        raise malformed(
            vendor, f"no text in choices[0].message (finish_reason={dig(body, 'choices', 0, 'finish_reason')})"
        )
    return ParsedCompletion(content, _model(body), _usage(body))


def _model(body: Any) -> str | None:
    model = dig(body, "model")
    return model if isinstance(model, str) and model else None


def _usage(body: Any) -> Any:
    return usage_from(dig(body, "usage", "prompt_tokens"), dig(body, "usage", "completion_tokens"))


def build_embed(model: str, texts: Sequence[str]) -> HttpCall:
    return HttpCall("/embeddings", {"model": model, "input": list(texts)})


def parse_embed(body: Any, count: int, vendor: str = "OpenAI") -> ParsedEmbeddings:
    data = dig(body, "data")
    if not isinstance(data, list):
        raise malformed(vendor, "no data list")
    rows = sorted(data, key=lambda item: item.get("index", 0) if isinstance(item, dict) else 0)
    vectors = vectors_from(vendor, [dig(row, "embedding") for row in rows], count)
    prompt_tokens = dig(body, "usage", "prompt_tokens")
    return ParsedEmbeddings(vectors, usage_from(prompt_tokens, 0))


_EXHAUSTED_CODES = frozenset({"insufficient_quota", "billing_hard_limit_reached"})


def exhausted(body: Any) -> bool:
    """OpenAI answers 429 ``insufficient_quota`` when credit is used up: retrying cannot succeed."""
    return dig(body, "error", "code") in _EXHAUSTED_CODES or dig(body, "error", "type") in _EXHAUSTED_CODES


def error_message(body: Any) -> str | None:
    """OpenAI's ``error.message``; also the shapes compatible servers use (FastAPI ``detail``...)."""
    for path in (("error", "message"), ("error",), ("detail",), ("message",), ("detail", 0, "msg")):
        found = dig(body, *path)
        if isinstance(found, str) and found:
            return found
    return None


OPENAI = WireFormat(
    vendor="OpenAI",
    auth_headers=auth_headers,
    chat_call=lambda params: build_chat(params, official=True),
    parse_chat=parse_chat,
    embed_call=build_embed,
    parse_embed=parse_embed,
    error_message=error_message,
    stream_call=lambda params: build_stream(params, official=True),
    stream_reader=lambda: _reader("OpenAI"),
    exhausted=exhausted,
)

OPENAI_COMPATIBLE = WireFormat(
    vendor="OpenAI-compatible",
    auth_headers=auth_headers,
    chat_call=lambda params: build_chat(params, official=False),
    parse_chat=lambda body: parse_chat(body, "OpenAI-compatible"),
    embed_call=build_embed,
    parse_embed=lambda body, count: parse_embed(body, count, "OpenAI-compatible"),
    error_message=error_message,
    stream_call=lambda params: build_stream(params, official=False),
    stream_reader=lambda: _reader("OpenAI-compatible"),
    exhausted=exhausted,
)

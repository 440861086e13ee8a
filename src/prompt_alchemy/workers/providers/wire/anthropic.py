"""Anthropic's Messages API.

POST ``{base}/v1/messages`` with ``x-api-key`` and ``anthropic-version: 2023-06-01``. The system
prompt is a top-level ``system`` field (not a message), ``max_tokens`` is required, temperature
is at most 1, and user/assistant turns must alternate (consecutive turns of one role are merged).
Reply: ``content`` blocks of ``{"type": "text", "text"}`` and ``usage.input_tokens/output_tokens``.
Errors: ``{"type": "error", "error": {"type", "message"}}``. No embeddings endpoint.
Streaming (``stream: true``): server-sent events ``message_start`` (model, input tokens),
``content_block_start``, ``content_block_delta`` with a ``text_delta``, ``content_block_stop``,
``message_delta`` (stop reason, output tokens so far), ``message_stop``; ``ping`` at any time; an
``error`` event (e.g. ``overloaded_error``) when the reply fails after it began. Structured
output is tool use: ``tools: [{"name", "description", "input_schema"}]`` with ``tool_choice:
{"type": "tool", "name"}``; the reply then holds a ``{"type": "tool_use", "name", "input"}``
block, whose ``input`` object is returned as JSON text.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from prompt_alchemy.errors import Unprocessable
from prompt_alchemy.workers.providers.secrets import SecretKey
from prompt_alchemy.workers.providers.wire.base import (
    ChatParams,
    HttpCall,
    ParsedCompletion,
    ParsedEmbeddings,
    StreamReader,
    WireFormat,
    dig,
    labelled_error,
    malformed,
    stream_error,
    system_text,
    usage_from,
)

__all__ = [
    "ANTHROPIC",
    "ANTHROPIC_VERSION",
    "AnthropicStreamReader",
    "build_chat",
    "build_stream",
    "error_message",
    "parse_chat",
]

ANTHROPIC_VERSION = "2023-06-01"
_MAX_TEMPERATURE = 1.0


def auth_headers(key: SecretKey | None) -> dict[str, str]:
    headers = {"anthropic-version": ANTHROPIC_VERSION}
    if key is not None:
        headers["x-api-key"] = key.reveal()
    return headers


def _turns(params: ChatParams) -> list[dict[str, str]]:
    turns: list[dict[str, str]] = []
    for message in params.messages:
        if message.role == "system":
            continue
        if turns and turns[-1]["role"] == message.role:
            turns[-1]["content"] += "\n\n" + message.content
        else:
            turns.append({"role": message.role, "content": message.content})
    return turns


def build_chat(params: ChatParams) -> HttpCall:
    body: dict[str, Any] = {
        "model": params.model,
        "max_tokens": params.max_tokens,
        "messages": _turns(params),
        "temperature": min(params.temperature, _MAX_TEMPERATURE),
    }
    system = system_text(params.messages)
    if system:
        body["system"] = system
    if params.schema is not None:  # one tool whose input is the schema, and the model made to call it
        body["tools"] = [
            {
                "name": params.schema.name,
                "description": params.schema.description or f"Record the {params.schema.name}.",
                "input_schema": params.schema.json_schema,
            }
        ]
        body["tool_choice"] = {"type": "tool", "name": params.schema.name}
    return HttpCall("/v1/messages", body)


def build_stream(params: ChatParams) -> HttpCall:
    call = build_chat(params)
    return HttpCall(call.path, {**call.body, "stream": True}, {"Accept": "text/event-stream"})


# Anthropic's error types that mean "try again": overloaded, server error, rate limit, timeout
_RETRIABLE_STREAM_ERRORS = frozenset({"overloaded_error", "api_error", "rate_limit_error", "timeout_error"})


class AnthropicStreamReader:
    """Message stream events up to ``message_stop``; only ``text_delta`` carries prompt text."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._model: str | None = None
        self._input_tokens: Any = None
        self._output_tokens: Any = None
        self._done = False

    @property
    def finished(self) -> bool:
        return self._done

    def feed(self, event: str | None, payload: Any) -> str:
        kind = event or dig(payload, "type")
        if kind == "message_start":
            model = dig(payload, "message", "model")
            self._model = model if isinstance(model, str) else None
            self._input_tokens = dig(payload, "message", "usage", "input_tokens")
            self._output_tokens = dig(payload, "message", "usage", "output_tokens")
        elif kind == "content_block_delta" and dig(payload, "delta", "type") == "text_delta":
            text = dig(payload, "delta", "text")
            if isinstance(text, str) and text:
                self._parts.append(text)
                return text
        elif kind == "message_delta":
            output = dig(payload, "usage", "output_tokens")
            self._output_tokens = output if output is not None else self._output_tokens
            if dig(payload, "usage", "input_tokens") is not None:
                self._input_tokens = dig(payload, "usage", "input_tokens")
        elif kind == "message_stop":
            self._done = True
        elif kind == "error":
            retriable = dig(payload, "error", "type") in _RETRIABLE_STREAM_ERRORS
            raise stream_error("Anthropic", error_message(payload) or "error event", retriable=retriable)
        return ""

    def result(self) -> ParsedCompletion:
        usage = usage_from(self._input_tokens, self._output_tokens)
        return ParsedCompletion("".join(self._parts), self._model, usage)


def _reader() -> StreamReader:
    return AnthropicStreamReader()


def parse_chat(body: Any) -> ParsedCompletion:
    blocks = dig(body, "content")
    if not isinstance(blocks, list):
        raise malformed("Anthropic", "no content list")
    model = dig(body, "model")
    usage = usage_from(dig(body, "usage", "input_tokens"), dig(body, "usage", "output_tokens"))
    tool_input = next((dig(block, "input") for block in blocks if dig(block, "type") == "tool_use"), None)
    if isinstance(tool_input, dict):  # structured output: the forced tool's input is the answer
        return ParsedCompletion(json.dumps(tool_input), model if isinstance(model, str) else None, usage)
    texts = [block["text"] for block in blocks if dig(block, "type") == "text" and isinstance(dig(block, "text"), str)]
    if not texts and blocks:
        raise malformed("Anthropic", "no text block in content")
    return ParsedCompletion("".join(texts), model if isinstance(model, str) else None, usage)


def build_embed(model: str, texts: Sequence[str]) -> HttpCall:
    raise Unprocessable("Anthropic has no embeddings endpoint", details={"model": model})


def parse_embed(body: Any, count: int) -> ParsedEmbeddings:
    raise Unprocessable("Anthropic has no embeddings endpoint")


def exhausted(body: Any) -> bool:
    """A 429 whose ``error.details.error_code`` is ``enforced_spend_limit_reached`` lasts until next month."""
    return bool(dig(body, "error", "details", "error_code") == "enforced_spend_limit_reached")


def error_message(body: Any) -> str | None:
    return labelled_error(body, "type")  # {"type": "error", "error": {"type": ..., "message": ...}}


ANTHROPIC = WireFormat(
    vendor="Anthropic",
    auth_headers=auth_headers,
    chat_call=build_chat,
    parse_chat=parse_chat,
    embed_call=build_embed,
    parse_embed=parse_embed,
    error_message=error_message,
    stream_call=build_stream,
    stream_reader=_reader,
    exhausted=exhausted,
)

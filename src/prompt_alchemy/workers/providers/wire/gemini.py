"""Google Gemini (Generative Language API v1beta).

POST ``{base}/v1beta/models/{model}:generateContent`` with the key in ``x-goog-api-key``; the
system prompt goes to ``systemInstruction``, turns to ``contents`` with roles ``user``/``model``,
sampling to ``generationConfig {temperature, maxOutputTokens}``. Reply:
``candidates[0].content.parts[].text`` and ``usageMetadata.promptTokenCount/candidatesTokenCount``;
a blocked prompt has no candidates and a ``promptFeedback.blockReason``. Embeddings:
``:embedContent`` (one text, reply ``embedding.values``) or ``:batchEmbedContents`` (reply
``embeddings[].values``). Errors: ``{"error": {"code", "message", "status"}}``. Streaming:
``:streamGenerateContent?alt=sse`` with the same body answers server-sent events, each ``data:``
a ``GenerateContentResponse`` holding the next text parts; the last one carries the candidate's
``finishReason`` and the final ``usageMetadata``. There is no separate end marker. Structured
output: ``generationConfig.responseMimeType: "application/json"`` with a ``responseSchema`` (an
OpenAPI subset: no ``additionalProperties``); the reply's text part is then the JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from prompt_alchemy.errors import ProviderError
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
    labelled_error,
    malformed,
    schema_without,
    stream_error,
    system_text,
    usage_from,
    vectors_from,
)

__all__ = [
    "GEMINI",
    "GeminiStreamReader",
    "build_chat",
    "build_embed",
    "build_stream",
    "error_message",
    "parse_chat",
    "parse_embed",
]

_ROLES = {"user": "user", "assistant": "model"}


def auth_headers(key: SecretKey | None) -> dict[str, str]:
    return {"x-goog-api-key": key.reveal()} if key is not None else {}


def _model_path(model: str) -> str:
    name = model.removeprefix("models/")
    return f"/v1beta/models/{quote(name, safe='-._')}"


def build_chat(params: ChatParams) -> HttpCall:
    contents: list[dict[str, Any]] = []
    for message in params.messages:
        if message.role == "system":
            continue
        role = _ROLES[message.role]
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].append({"text": message.content})
        else:
            contents.append({"role": role, "parts": [{"text": message.content}]})
    body: dict[str, Any] = {
        "contents": contents,
        "generationConfig": {"temperature": params.temperature, "maxOutputTokens": params.max_tokens},
    }
    system = system_text(params.messages)
    if system:
        body["systemInstruction"] = {"parts": [{"text": system}]}
    if params.schema is not None:  # Gemini's Schema is an OpenAPI subset without additionalProperties
        body["generationConfig"]["responseMimeType"] = "application/json"
        body["generationConfig"]["responseSchema"] = schema_without(params.schema.json_schema, "additionalProperties")
    return HttpCall(f"{_model_path(params.model)}:generateContent", body)


def build_stream(params: ChatParams) -> HttpCall:
    call = build_chat(params)
    path = call.path.removesuffix(":generateContent") + ":streamGenerateContent?alt=sse"
    return HttpCall(path, call.body, {"Accept": "text/event-stream"})


class GeminiStreamReader(StreamAccumulator):
    """``GenerateContentResponse`` chunks; the reply is whole once a chunk names a ``finishReason``."""

    def feed(self, event: str | None, payload: Any) -> str:
        if dig(payload, "error") is not None:
            raise stream_error("Gemini", error_message(payload) or "error chunk")
        if not dig(payload, "candidates"):
            reason = dig(payload, "promptFeedback", "blockReason")
            if isinstance(reason, str):
                raise ProviderError(f"Gemini blocked the prompt: {reason}", details={"reason": "blocked"})
        model = dig(payload, "modelVersion")
        self._model = model if isinstance(model, str) else self._model
        if dig(payload, "usageMetadata") is not None:
            self._usage = usage_from(
                dig(payload, "usageMetadata", "promptTokenCount"),
                dig(payload, "usageMetadata", "candidatesTokenCount") or 0,
            )
        parts = dig(payload, "candidates", 0, "content", "parts")
        texts = [
            part["text"]
            for part in (parts if isinstance(parts, list) else [])
            if isinstance(dig(part, "text"), str) and not dig(part, "thought")
        ]
        if isinstance(dig(payload, "candidates", 0, "finishReason"), str):
            self._done = True
        text = "".join(texts)
        if text:
            self._parts.append(text)
        return text


def _reader() -> StreamReader:
    return GeminiStreamReader()


def parse_chat(body: Any) -> ParsedCompletion:
    candidates = dig(body, "candidates")
    if not candidates:
        reason = dig(body, "promptFeedback", "blockReason")
        if isinstance(reason, str):
            raise ProviderError(f"Gemini blocked the prompt: {reason}", details={"reason": "blocked"})
        raise malformed("Gemini", "no candidates")
    parts = dig(candidates, 0, "content", "parts")
    if not isinstance(parts, list):
        raise malformed("Gemini", f"no content parts (finishReason={dig(candidates, 0, 'finishReason')})")
    texts = [part["text"] for part in parts if isinstance(dig(part, "text"), str) and not dig(part, "thought")]
    usage = usage_from(
        dig(body, "usageMetadata", "promptTokenCount"), dig(body, "usageMetadata", "candidatesTokenCount") or 0
    )
    model = dig(body, "modelVersion")
    return ParsedCompletion("".join(texts), model if isinstance(model, str) else None, usage)


def build_embed(model: str, texts: Sequence[str]) -> HttpCall:
    name = f"models/{model.removeprefix('models/')}"
    if len(texts) == 1:
        return HttpCall(
            f"{_model_path(model)}:embedContent", {"model": name, "content": {"parts": [{"text": texts[0]}]}}
        )
    requests = [{"model": name, "content": {"parts": [{"text": text}]}} for text in texts]
    return HttpCall(f"{_model_path(model)}:batchEmbedContents", {"requests": requests})


def parse_embed(body: Any, count: int) -> ParsedEmbeddings:
    single = dig(body, "embedding", "values")
    if single is not None:
        return ParsedEmbeddings(vectors_from("Gemini", [single], count), None)
    rows = dig(body, "embeddings")
    if not isinstance(rows, list):
        raise malformed("Gemini", "no embedding or embeddings")
    return ParsedEmbeddings(vectors_from("Gemini", [dig(row, "values") for row in rows], count), None)


def error_message(body: Any) -> str | None:
    return labelled_error(body, "status")  # {"error": {"code": ..., "message": ..., "status": ...}}


GEMINI = WireFormat(
    vendor="Gemini",
    auth_headers=auth_headers,
    chat_call=build_chat,
    parse_chat=parse_chat,
    embed_call=build_embed,
    parse_embed=parse_embed,
    error_message=error_message,
    stream_call=build_stream,
    stream_reader=_reader,
)

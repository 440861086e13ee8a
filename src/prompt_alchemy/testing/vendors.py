"""A local fake of the vendor LLM APIs, speaking each vendor's documented wire format.

``FakeVendorServer`` binds 127.0.0.1 on a random port and serves, on one app:

    POST .../chat/completions, .../embeddings       OpenAI (and OpenRouter, xAI, compatible servers)
    POST /v1/messages                               Anthropic Messages API
    POST /v1beta/models/{model}:generateContent     Gemini (also :embedContent, :batchEmbedContents)
    POST /api/chat, /api/embed                      Ollama

Chat requests that ask for a stream get one in the vendor's streaming format: OpenAI
``stream: true`` -> ``chat.completion.chunk`` server-sent events (a usage chunk when
``stream_options.include_usage``) and ``data: [DONE]``; Anthropic ``stream: true`` -> message
events from ``message_start`` to ``message_stop``; Gemini ``:streamGenerateContent?alt=sse`` ->
``GenerateContentResponse`` events (CRLF-separated, the last with ``finishReason``; scripted on
``Route.GEMINI_GENERATE``); Ollama ``stream`` true or absent -> NDJSON up to ``done: true``. The
text goes out one word per event, ``FakeResponse.streamed(interval)`` apart; ``FakeResponse.cut``
breaks the stream after some words (dropping the connection, or ending the body cleanly without
the end marker) and ``FakeResponse.stream_error`` sends the vendor's in-stream error event.
A chat request that asks for structured output in its vendor's way (OpenAI ``response_format``
json_schema, Anthropic a forced tool via ``tool_choice``, Gemini ``responseSchema`` with
``responseMimeType: application/json``, Ollama a schema in ``format``) gets, unless scripted
otherwise (``script(..., structured=True)``: its own queue), one JSON object conforming to that
schema and derived from the request (``structured_reply``):
as text, or as a ``tool_use`` block for Anthropic. The schema is checked as the vendor does
(OpenAI strict: every property required, ``additionalProperties: false``; Gemini: no
``additionalProperties``, a JSON MIME type; Anthropic: the chosen tool exists).
``stream_timings`` records, per streamed reply, when its request arrived and when its first word
was written (``time.perf_counter()``, for the streaming benchmark).

It validates what the real APIs insist on (Anthropic's ``anthropic-version`` header, required
``max_tokens`` and no system role among messages; Gemini's user/model roles; keys in the right
header when ``api_keys`` is set, answering each vendor's own 401/400), records every request
(path, headers, JSON body) and answers from a per-route script: a queue of ``FakeResponse``
(success with given text and usage, a vendor-format error with optional Retry-After, a raw
malformed body, a hang past any timeout, a dropped connection). An empty queue answers with a
deterministic success. Error messages may contain ``{api_key}``, replaced by the key the
request carried, to reproduce vendors that echo a key back.

``FakeClock`` and ``RecordingSleep`` are the injectable clock and sleep for retry/backoff tests:
the sleep records each delay and moves the clock, so no test waits real seconds.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
from collections import defaultdict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import TracebackType
from typing import Any, Literal, Self

from aiohttp import web

__all__ = [
    "FakeClock",
    "FakeResponse",
    "FakeVendorServer",
    "RecordedRequest",
    "RecordingSleep",
    "Route",
    "StreamTiming",
    "Vendor",
    "structured_reply",
]


class Vendor(StrEnum):
    OPENAI = "openai"
    ANTHROPIC = "anthropic"
    GEMINI = "gemini"
    OLLAMA = "ollama"


class Route(StrEnum):
    OPENAI_CHAT = "openai.chat"
    OPENAI_EMBEDDINGS = "openai.embeddings"
    ANTHROPIC_MESSAGES = "anthropic.messages"
    GEMINI_GENERATE = "gemini.generate"
    GEMINI_EMBED = "gemini.embed"
    GEMINI_BATCH_EMBED = "gemini.batch_embed"
    OLLAMA_CHAT = "ollama.chat"
    OLLAMA_EMBED = "ollama.embed"

    @property
    def vendor(self) -> Vendor:
        return Vendor(self.value.split(".")[0])


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    route: Route
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    json: Any  # None when the body was not JSON
    raw: bytes
    received_at: float = 0.0  # time.perf_counter() when the request arrived


@dataclass(frozen=True, slots=True)
class StreamTiming:
    """One streamed reply: when its request arrived and when its first word was written (perf_counter)."""

    received_at: float
    first_token_at: float

    @property
    def time_to_first_token(self) -> float:
        return self.first_token_at - self.received_at


@dataclass(frozen=True, slots=True)
class FakeResponse:
    """One scripted answer. Build it with the class methods."""

    kind: Literal["ok", "error", "raw", "hang", "drop"]
    status: int = 200
    content: str | None = None
    usage: tuple[int, int] | None = None
    omit_usage: bool = False
    model: str | None = None
    vectors: list[list[float]] | None = None
    message: str = ""
    error_type: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay_s: float = 0.0
    interval_s: float = 0.0  # between two streamed words
    cut_after: int | None = None  # streamed words sent before the stream breaks
    clean_cut: bool = False  # break by ending the body (no end marker) instead of dropping the connection
    stream_failure: bool = False  # at cut_after, send the vendor's in-stream error event instead
    gate: asyncio.Event | None = None

    def streamed(self, interval_s: float) -> FakeResponse:
        """The same answer, its streamed words ``interval_s`` apart (a fixed token rate)."""
        return replace(self, interval_s=interval_s)

    def delayed(self, seconds: float) -> FakeResponse:
        """The same answer, sent after ``seconds`` (a slow vendor, to observe concurrency)."""
        return replace(self, delay_s=seconds)

    def held_until(self, gate: asyncio.Event) -> FakeResponse:
        """The same answer, sent once the test sets ``gate``: a call kept in flight for as long as it needs."""
        return replace(self, gate=gate)

    @classmethod
    def ok(
        cls,
        content: str | None = None,
        *,
        usage: tuple[int, int] | None = None,
        omit_usage: bool = False,
        model: str | None = None,
    ) -> FakeResponse:
        """A success. ``content`` None derives a reply from the request; ``usage`` is (input, output)
        tokens (default: word counts); ``omit_usage`` leaves usage out entirely."""
        return cls("ok", content=content, usage=usage, omit_usage=omit_usage, model=model)

    @classmethod
    def embeddings(cls, vectors: list[list[float]], *, usage: int | None = None) -> FakeResponse:
        return cls("ok", vectors=vectors, usage=(usage, 0) if usage is not None else None)

    @classmethod
    def error(
        cls,
        status: int,
        message: str = "",
        *,
        retry_after: str | float | None = None,
        error_type: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> FakeResponse:
        """An error body in the route's vendor format; ``retry_after`` sets the Retry-After header."""
        all_headers = dict(headers or {})
        if retry_after is not None:
            all_headers["Retry-After"] = str(retry_after)
        return cls(
            "error",
            status=status,
            message=message or f"fake error {status}",
            error_type=error_type,
            headers=all_headers,
        )

    @classmethod
    def raw(cls, body: bytes, *, status: int = 200, content_type: str = "application/json") -> FakeResponse:
        """Bytes as they are (malformed JSON, HTML from a proxy...)."""
        return cls("raw", status=status, body=body, headers={"Content-Type": content_type})

    @classmethod
    def cut(cls, content: str, *, after: int, clean: bool = False) -> FakeResponse:
        """A streamed answer that breaks after ``after`` words: the connection drops, or with
        ``clean`` the body ends normally but without the vendor's end marker."""
        return cls("ok", content=content, cut_after=after, clean_cut=clean)

    @classmethod
    def stream_error(
        cls, content: str, *, after: int, message: str = "Overloaded", error_type: str | None = None
    ) -> FakeResponse:
        """A streamed answer that sends ``after`` words, then the vendor's in-stream error event."""
        return cls("ok", content=content, cut_after=after, stream_failure=True, message=message, error_type=error_type)

    @classmethod
    def redirect(cls, location: str, *, status: int = 307) -> FakeResponse:
        """A redirect to ``location`` (another origin, to check credentials never follow it)."""
        return cls("raw", status=status, headers={"Location": location})

    @classmethod
    def hang(cls) -> FakeResponse:
        """No answer until the server stops: the client's timeout fires first."""
        return cls("hang")

    @classmethod
    def drop(cls) -> FakeResponse:
        """Close the connection without answering."""
        return cls("drop")


_OPENAI_ERROR_TYPES = {
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    429: "rate_limit_exceeded",
}
_ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
_GEMINI_STATUSES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_GEMINI_PATH = re.compile(
    r"^/v1beta/models/([^/:]+):(generateContent|streamGenerateContent|embedContent|batchEmbedContents)$"
)
_STREAM_WORD = re.compile(r"\s*\S+|\s+$")


def _derived_reply(vendor: str, last_message: str) -> str:
    """A reply that is the same for the same request and differs between requests: the start of
    the last message plus a digest of all of it (prompts share long fixed preambles)."""
    digest = hashlib.sha256(last_message.encode()).hexdigest()[:12]
    return f"[{vendor}] {last_message[:60]} ({digest})"


def _schema_type(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type", "object" if "properties" in schema else "string")
    return str(kind[0] if isinstance(kind, list) else kind).lower()


def structured_reply(schema: Mapping[str, Any], text: str, path: str = "") -> Any:
    """A value conforming to ``schema`` (the subset vendors take), the same for the same ``text``:
    each string names its property and quotes the start of ``text``; an enum picks by digest."""
    if "enum" in schema:
        options = list(schema["enum"])
        return options[int(hashlib.sha256(f"{path}|{text}".encode()).hexdigest(), 16) % len(options)]
    kind = _schema_type(schema)
    if kind == "object":
        properties: Mapping[str, Any] = schema.get("properties", {})
        return {name: structured_reply(sub, text, f"{path}.{name}".lstrip(".")) for name, sub in properties.items()}
    if kind == "array":
        return [structured_reply(schema.get("items", {}), text, f"{path}[0]")]
    if kind in ("integer", "number"):
        return len(text)
    if kind == "boolean":
        return False
    return f"{path or 'value'}: {' '.join(text.split()[:8])}"


def _strict_problem(schema: Any, where: str) -> str | None:
    """What OpenAI's strict structured outputs refuse in ``schema`` (None: nothing)."""
    if not isinstance(schema, dict):
        return None
    if _schema_type(schema) == "object":
        properties = schema.get("properties", {})
        if schema.get("additionalProperties") is not False:
            return f"'additionalProperties' is required to be supplied and to be false ({where})"
        if sorted(schema.get("required", [])) != sorted(properties):
            return (
                f"'required' is required to be supplied and to be an array including every key in properties ({where})"
            )
        for name, sub in properties.items():
            if (problem := _strict_problem(sub, f"{where}.{name}")) is not None:
                return problem
    if _schema_type(schema) == "array":
        return _strict_problem(schema.get("items"), f"{where}[]")
    return None


def _mentions(schema: Any, keyword: str) -> bool:
    if isinstance(schema, dict):
        return keyword in schema or any(_mentions(value, keyword) for value in schema.values())
    if isinstance(schema, list):
        return any(_mentions(item, keyword) for item in schema)
    return False


def _requested_schema(route: Route, body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The JSON schema a chat request asks its reply to follow, the way its vendor documents it."""
    if route is Route.OPENAI_CHAT:
        response_format = body.get("response_format")
        if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
            schema = dict(response_format.get("json_schema") or {}).get("schema")
            return schema if isinstance(schema, dict) else None
    elif route is Route.ANTHROPIC_MESSAGES:
        choice = body.get("tool_choice")
        if isinstance(choice, dict) and choice.get("type") == "tool":
            tools = body.get("tools") or []
            tool = next((t for t in tools if isinstance(t, dict) and t.get("name") == choice.get("name")), None)
            schema = tool.get("input_schema") if tool else None
            return schema if isinstance(schema, dict) else None
    elif route is Route.GEMINI_GENERATE:
        schema = dict(body.get("generationConfig") or {}).get("responseSchema")
        return schema if isinstance(schema, dict) else None
    elif route is Route.OLLAMA_CHAT:
        schema = body.get("format")
        return schema if isinstance(schema, dict) else None
    return None


def _structured_problem(route: Route, body: Mapping[str, Any]) -> str | None:
    """The 400 a vendor answers to a structured-output request it cannot take."""
    if route is Route.OPENAI_CHAT and isinstance(body.get("response_format"), dict):
        response_format = body["response_format"]
        if response_format.get("type") == "json_schema":
            spec = response_format.get("json_schema")
            if not isinstance(spec, dict) or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", str(spec.get("name", ""))):
                return "Invalid 'response_format.json_schema.name': must match ^[a-zA-Z0-9_-]{1,64}$"
            if not isinstance(spec.get("schema"), dict):
                return "Missing required parameter: 'response_format.json_schema.schema'."
            if spec.get("strict") is True and (problem := _strict_problem(spec["schema"], "root")) is not None:
                return f"Invalid schema for response_format '{spec['name']}': {problem}"
    elif route is Route.ANTHROPIC_MESSAGES and "tool_choice" in body:
        choice = body["tool_choice"]
        names = [tool.get("name") for tool in body.get("tools") or [] if isinstance(tool, dict)]
        if isinstance(choice, dict) and choice.get("type") == "tool" and choice.get("name") not in names:
            return f"tool_choice: tool {choice.get('name')!r} not found in tools"
        if any(not isinstance(tool.get("input_schema"), dict) for tool in body.get("tools") or []):
            return "tools.0.input_schema: Field required"
    elif route is Route.GEMINI_GENERATE:
        config = dict(body.get("generationConfig") or {})
        if "responseSchema" in config:
            if config.get("responseMimeType") != "application/json":
                return "responseSchema requires responseMimeType to be application/json"
            if _mentions(config["responseSchema"], "additionalProperties"):
                return (
                    'Invalid JSON payload received. Unknown name "additionalProperties" at '
                    "'generation_config.response_schema': Cannot find field."
                )
    return None


def _words(text: str) -> int:
    return len(text.split())


def fake_vector(text: str, dimension: int = 8) -> list[float]:
    """A deterministic unit-ish vector per text."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return [round((digest[i] - 127.5) / 127.5, 6) for i in range(dimension)]


class FakeVendorServer:
    def __init__(self, *, api_keys: Mapping[Vendor, str] | None = None) -> None:
        self.api_keys = dict(api_keys or {})
        self.requests: list[RecordedRequest] = []
        self._scripts: dict[Route, deque[FakeResponse]] = defaultdict(deque)
        self._structured_scripts: dict[Route, deque[FakeResponse]] = defaultdict(deque)
        self._stopping = asyncio.Event()
        self._arrived = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._counter = 0
        self.in_flight = 0
        self.max_in_flight = 0  # the most requests this server was answering at once
        self.stream_timings: list[StreamTiming] = []

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> Self:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def base_url(self, provider_kind: str) -> str:
        """The base URL a provider of this kind takes to reach the fake."""
        if provider_kind in {"openai", "openrouter", "xai", "openai-compatible"}:
            return f"{self.url}/v1"
        return self.url

    def env(self) -> dict[str, str]:
        """Environment variables pointing every provider kind at this server (no keys)."""
        return {
            "OPENAI_BASE_URL": self.base_url("openai"),
            "ANTHROPIC_BASE_URL": self.url,
            "GEMINI_BASE_URL": self.url,
            "OLLAMA_HOST": self.url,
            "OPENROUTER_BASE_URL": self.base_url("openrouter"),
            "XAI_BASE_URL": self.base_url("xai"),
            "OPENAI_COMPATIBLE_BASE_URL": self.base_url("openai-compatible"),
        }

    # ---------------------------------------------------------------- scripting

    def script(self, route: Route, *responses: FakeResponse, structured: bool = False) -> None:
        """Queue answers for ``route``; once the queue is empty, a default success is sent.

        Requests that ask for structured output take from their own queue (``structured=True``),
        so scripting a route's text answers is not disturbed by an engine's structured calls."""
        (self._structured_scripts if structured else self._scripts)[route].extend(responses)

    def requests_to(self, route: Route) -> list[RecordedRequest]:
        return [request for request in self.requests if request.route is route]

    async def wait_for_requests(self, count: int, *, timeout: float = 10.0) -> None:
        """Wait until ``count`` requests have arrived (in total)."""
        async with self._arrived:
            await asyncio.wait_for(self._arrived.wait_for(lambda: len(self.requests) >= count), timeout)

    def reset(self) -> None:
        self.requests.clear()
        self._scripts.clear()
        self._structured_scripts.clear()

    # ---------------------------------------------------------------- serving

    @staticmethod
    def _route_of(method: str, path: str) -> Route | None:
        if method != "POST":
            return None
        if path.endswith("/chat/completions"):
            return Route.OPENAI_CHAT
        if path.endswith("/embeddings"):
            return Route.OPENAI_EMBEDDINGS
        if path == "/v1/messages":
            return Route.ANTHROPIC_MESSAGES
        gemini = _GEMINI_PATH.match(path)
        if gemini:
            return {
                "generateContent": Route.GEMINI_GENERATE,
                "streamGenerateContent": Route.GEMINI_GENERATE,
                "embedContent": Route.GEMINI_EMBED,
                "batchEmbedContents": Route.GEMINI_BATCH_EMBED,
            }[gemini.group(2)]
        return {"/api/chat": Route.OLLAMA_CHAT, "/api/embed": Route.OLLAMA_EMBED}.get(path)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        received_at = time.perf_counter()
        raw = await request.read()
        route = self._route_of(request.method, request.path)
        if route is None:
            return web.json_response({"error": f"no route {request.method} {request.path}"}, status=404)
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        recorded = RecordedRequest(
            route=route,
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers={name.lower(): value for name, value in request.headers.items()},
            json=body,
            raw=raw,
            received_at=received_at,
        )
        async with self._arrived:
            self.requests.append(recorded)
            self._arrived.notify_all()
        key_sent = self._key_sent(route.vendor, recorded)
        problem = self._auth_problem(route.vendor, key_sent) or self._shape_problem(route, recorded)
        if problem is not None:
            return self._error(route.vendor, FakeResponse.error(problem[0], problem[1]), key_sent)
        wants_schema = isinstance(body, dict) and _requested_schema(route, body) is not None
        queue = (self._structured_scripts if wants_schema else self._scripts)[route]
        scripted = queue.popleft() if queue else FakeResponse.ok()
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if scripted.delay_s > 0:
                await asyncio.sleep(scripted.delay_s)
            if scripted.gate is not None:
                await scripted.gate.wait()
            return await self._answer(route, recorded, scripted, key_sent, request)
        finally:
            self.in_flight -= 1

    async def _answer(
        self, route: Route, recorded: RecordedRequest, scripted: FakeResponse, key_sent: str, request: web.Request
    ) -> web.StreamResponse:
        if scripted.kind == "hang":
            await self._stopping.wait()
            return web.json_response({"error": "server stopped"}, status=503)
        if scripted.kind == "drop":
            if request.transport is not None:
                request.transport.close()
            await self._stopping.wait()
            return web.Response(status=503)
        if scripted.kind == "raw":
            return web.Response(body=scripted.body, status=scripted.status, headers=dict(scripted.headers))
        if scripted.kind == "error":
            return self._error(route.vendor, scripted, key_sent)
        if self._wants_stream(route, recorded):
            return await self._stream(route, recorded, scripted, request)
        return web.json_response(self._success(route, recorded, scripted))

    # ---------------------------------------------------------------- streaming

    @staticmethod
    def _wants_stream(route: Route, recorded: RecordedRequest) -> bool:
        body = recorded.json if isinstance(recorded.json, dict) else {}
        if route is Route.GEMINI_GENERATE:
            return recorded.path.endswith(":streamGenerateContent")
        if route is Route.OLLAMA_CHAT:
            return body.get("stream", True) is not False  # Ollama streams unless told not to
        return route in (Route.OPENAI_CHAT, Route.ANTHROPIC_MESSAGES) and body.get("stream") is True

    async def _stream(
        self, route: Route, recorded: RecordedRequest, scripted: FakeResponse, request: web.Request
    ) -> web.StreamResponse:
        reply = self._success(route, recorded, scripted)  # the whole answer, then cut into events
        content, model, usage = self._reply_parts(route, reply)
        words = _STREAM_WORD.findall(content)
        vendor = _StreamFormat(route, recorded, model, usage, self._counter)
        ndjson = route is Route.OLLAMA_CHAT
        response = web.StreamResponse(
            headers={"Content-Type": "application/x-ndjson" if ndjson else "text/event-stream"}
        )
        await response.prepare(request)
        for frame in vendor.opening():
            await response.write(frame)
        for index, word in enumerate(words):
            if scripted.cut_after is not None and index >= scripted.cut_after:
                return await self._break_stream(vendor, scripted, response, request)
            if index and scripted.interval_s > 0:
                await asyncio.sleep(scripted.interval_s)
            await response.write(vendor.text(word))
            if index == 0:
                self.stream_timings.append(StreamTiming(recorded.received_at, time.perf_counter()))
        if scripted.cut_after is not None:
            return await self._break_stream(vendor, scripted, response, request)
        for frame in vendor.closing():
            await response.write(frame)
        await response.write_eof()
        return response

    async def _break_stream(
        self, vendor: _StreamFormat, scripted: FakeResponse, response: web.StreamResponse, request: web.Request
    ) -> web.StreamResponse:
        if scripted.stream_failure:
            await response.write(vendor.failure(scripted.message, scripted.error_type))
            await response.write_eof()
        elif scripted.clean_cut:
            await response.write_eof()
        elif request.transport is not None:
            request.transport.close()
        return response

    @staticmethod
    def _reply_parts(route: Route, reply: dict[str, Any]) -> tuple[str, str, dict[str, int] | None]:
        """(text, model, usage) of a non-streamed reply body, to stream the same answer."""
        if route is Route.OPENAI_CHAT:
            usage = reply.get("usage")
            return reply["choices"][0]["message"]["content"], reply["model"], usage
        if route is Route.ANTHROPIC_MESSAGES:
            return reply["content"][0]["text"], reply["model"], reply.get("usage")
        if route is Route.GEMINI_GENERATE:
            text = reply["candidates"][0]["content"]["parts"][0]["text"]
            return text, reply["modelVersion"], reply.get("usageMetadata")
        counts = None
        if "eval_count" in reply:
            counts = {"prompt_eval_count": reply["prompt_eval_count"], "eval_count": reply["eval_count"]}
        return reply["message"]["content"], reply["model"], counts

    # ---------------------------------------------------------------- checks

    @staticmethod
    def _key_sent(vendor: Vendor, recorded: RecordedRequest) -> str:
        headers = recorded.headers
        if vendor is Vendor.ANTHROPIC:
            return headers.get("x-api-key", "")
        if vendor is Vendor.GEMINI:
            return headers.get("x-goog-api-key", "") or recorded.query.get("key", "")
        return headers.get("authorization", "").removeprefix("Bearer ")

    def _auth_problem(self, vendor: Vendor, key_sent: str) -> tuple[int, str] | None:
        expected = self.api_keys.get(vendor)
        if expected is None or key_sent == expected:
            return None
        if vendor is Vendor.OPENAI:
            return (
                401,
                "Incorrect API key provided: {api_key}. You can find your API key at https://platform.openai.com/account/api-keys.",
            )
        if vendor is Vendor.ANTHROPIC:
            return 401, "invalid x-api-key"
        if vendor is Vendor.GEMINI:
            return 400, "API key not valid. Please pass a valid API key."
        return 401, "unauthorized"

    @staticmethod
    def _shape_problem(route: Route, recorded: RecordedRequest) -> tuple[int, str] | None:
        body = recorded.json
        if not isinstance(body, dict):
            return 400, "request body must be a JSON object"
        if route is Route.ANTHROPIC_MESSAGES:
            if recorded.headers.get("anthropic-version") != "2023-06-01":
                return 400, "anthropic-version: header is required"
            if not isinstance(body.get("max_tokens"), int):
                return 400, "max_tokens: Field required"
            messages = body.get("messages")
            if not isinstance(messages, list) or not messages:
                return 400, "messages: Field required"
            if any(not isinstance(m, dict) or m.get("role") not in ("user", "assistant") for m in messages):
                return 400, 'messages: Unexpected role "system". Use the top-level `system` parameter instead.'
            if body.get("temperature", 0) > 1:
                return 400, "temperature: Input should be less than or equal to 1"
        elif route is Route.GEMINI_GENERATE:
            contents = body.get("contents")
            if not isinstance(contents, list) or not contents:
                return 400, "* GenerateContentRequest.contents: contents is not specified"
            if any(not isinstance(c, dict) or c.get("role") not in ("user", "model") for c in contents):
                return 400, "Please use a valid role: user, model."
        elif route in (Route.OPENAI_CHAT, Route.OLLAMA_CHAT) and (
            not isinstance(body.get("model"), str) or not isinstance(body.get("messages"), list)
        ):
            return 400, "you must provide a model parameter and a messages list"
        elif route in (Route.OPENAI_EMBEDDINGS, Route.OLLAMA_EMBED) and (
            not isinstance(body.get("model"), str) or "input" not in body
        ):
            return 400, "you must provide a model parameter and an input"
        structured = _structured_problem(route, body)
        return None if structured is None else (400, structured)

    # ---------------------------------------------------------------- bodies

    def _error(self, vendor: Vendor, scripted: FakeResponse, key_sent: str) -> web.Response:
        message = scripted.message.replace("{api_key}", key_sent)
        status = scripted.status
        payload: dict[str, Any]
        if vendor is Vendor.OPENAI:
            kind = scripted.error_type or _OPENAI_ERROR_TYPES.get(
                status, "server_error" if status >= 500 else "invalid_request_error"
            )
            code = "invalid_api_key" if status == 401 else None
            payload = {"error": {"message": message, "type": kind, "param": None, "code": code}}
        elif vendor is Vendor.ANTHROPIC:
            kind = scripted.error_type or _ANTHROPIC_ERROR_TYPES.get(status, "api_error")
            payload = {"type": "error", "error": {"type": kind, "message": message}}
        elif vendor is Vendor.GEMINI:
            kind = scripted.error_type or _GEMINI_STATUSES.get(status, "UNKNOWN")
            payload = {"error": {"code": status, "message": message, "status": kind}}
        else:
            payload = {"error": message}
        return web.json_response(payload, status=status, headers=dict(scripted.headers))

    def _usage(self, scripted: FakeResponse, prompt_text: str, content: str) -> tuple[int, int]:
        return scripted.usage if scripted.usage is not None else (_words(prompt_text), _words(content))

    def _success(self, route: Route, recorded: RecordedRequest, scripted: FakeResponse) -> dict[str, Any]:
        self._counter += 1
        body: dict[str, Any] = recorded.json
        match route:
            case Route.OPENAI_CHAT | Route.ANTHROPIC_MESSAGES | Route.GEMINI_GENERATE | Route.OLLAMA_CHAT:
                return self._chat_success(route, body, scripted)
            case _:
                return self._embed_success(route, body, scripted)

    def _chat_success(self, route: Route, body: dict[str, Any], scripted: FakeResponse) -> dict[str, Any]:
        if route is Route.GEMINI_GENERATE:
            texts = [part.get("text", "") for content in body.get("contents", []) for part in content.get("parts", [])]
            model = scripted.model or "gemini-fake"
        else:
            texts = [str(message.get("content", "")) for message in body.get("messages", [])]
            model = scripted.model or str(body.get("model", "fake"))
        prompt_text = " ".join(texts)
        schema = _requested_schema(route, body)
        structured = None
        if scripted.content is not None:
            content = scripted.content
        elif schema is not None:
            structured = structured_reply(schema, texts[-1] if texts else "")
            content = json.dumps(structured)
        else:
            content = _derived_reply(route.vendor.value, texts[-1] if texts else "")
        input_tokens, output_tokens = self._usage(scripted, prompt_text, content)
        n = self._counter
        if route is Route.OPENAI_CHAT:
            reply: dict[str, Any] = {
                "id": f"chatcmpl-fake{n}",
                "object": "chat.completion",
                "created": 1_700_000_000 + n,
                "model": model,
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                ],
            }
            if not scripted.omit_usage:
                reply["usage"] = {
                    "prompt_tokens": input_tokens,
                    "completion_tokens": output_tokens,
                    "total_tokens": input_tokens + output_tokens,
                }
            return reply
        if route is Route.ANTHROPIC_MESSAGES:
            reply = {
                "id": f"msg_fake{n}",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [{"type": "text", "text": content}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
            }
            if structured is not None:  # a forced tool: the answer is the tool call's input
                tool = {
                    "type": "tool_use",
                    "id": f"toolu_fake{n}",
                    "name": body["tool_choice"]["name"],
                    "input": structured,
                }
                reply |= {"content": [tool], "stop_reason": "tool_use"}
            if not scripted.omit_usage:
                reply["usage"] = {"input_tokens": input_tokens, "output_tokens": output_tokens}
            return reply
        if route is Route.GEMINI_GENERATE:
            reply = {
                "candidates": [
                    {"content": {"parts": [{"text": content}], "role": "model"}, "finishReason": "STOP", "index": 0}
                ],
                "modelVersion": model,
            }
            if not scripted.omit_usage:
                reply["usageMetadata"] = {
                    "promptTokenCount": input_tokens,
                    "candidatesTokenCount": output_tokens,
                    "totalTokenCount": input_tokens + output_tokens,
                }
            return reply
        reply = {
            "model": model,
            "created_at": "2024-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": content},
            "done": True,
            "done_reason": "stop",
            "total_duration": 1_000_000,
        }
        if not scripted.omit_usage:
            reply |= {"prompt_eval_count": input_tokens, "eval_count": output_tokens}
        return reply

    def _embed_success(self, route: Route, body: dict[str, Any], scripted: FakeResponse) -> dict[str, Any]:
        if route is Route.GEMINI_EMBED:
            texts = [part.get("text", "") for part in body.get("content", {}).get("parts", [])][:1]
        elif route is Route.GEMINI_BATCH_EMBED:
            texts = [r["content"]["parts"][0].get("text", "") for r in body.get("requests", [])]
        else:
            raw = body.get("input", [])
            texts = [raw] if isinstance(raw, str) else [str(text) for text in raw]
        vectors = scripted.vectors if scripted.vectors is not None else [fake_vector(text) for text in texts]
        tokens = scripted.usage[0] if scripted.usage is not None else sum(_words(text) for text in texts)
        model = str(body.get("model", "fake-embedding"))
        if route is Route.OPENAI_EMBEDDINGS:
            return {
                "object": "list",
                "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)],
                "model": model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        if route is Route.GEMINI_EMBED:
            return {"embedding": {"values": vectors[0]}}
        if route is Route.GEMINI_BATCH_EMBED:
            return {"embeddings": [{"values": v} for v in vectors]}
        return {"model": model, "embeddings": vectors, "total_duration": 1_000_000, "prompt_eval_count": tokens}


class _StreamFormat:
    """The frames of one vendor's streamed reply: opening, one per text piece, closing, failure."""

    def __init__(
        self, route: Route, recorded: RecordedRequest, model: str, usage: dict[str, int] | None, n: int
    ) -> None:
        self.route = route
        self.model = model
        self.usage = usage
        self.n = n
        body = recorded.json if isinstance(recorded.json, dict) else {}
        self.include_usage = bool(dict(body.get("stream_options") or {}).get("include_usage"))

    @staticmethod
    def _sse(payload: Any, event: str | None = None, *, crlf: bool = False) -> bytes:
        lines = ([f"event: {event}"] if event else []) + [f"data: {json.dumps(payload)}"]
        end = "\r\n" if crlf else "\n"
        return (end.join(lines) + end + end).encode()

    def _openai_chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-fake{self.n}",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000 + self.n,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    def opening(self) -> list[bytes]:
        if self.route is Route.OPENAI_CHAT:
            return [self._sse(self._openai_chunk({"role": "assistant", "content": ""}))]
        if self.route is Route.ANTHROPIC_MESSAGES:
            input_tokens = (self.usage or {}).get("input_tokens")
            message: dict[str, Any] = {
                "id": f"msg_fake{self.n}",
                "type": "message",
                "role": "assistant",
                "content": [],
                "model": self.model,
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": input_tokens, "output_tokens": 1} if self.usage else {},
            }
            block = {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
            return [
                self._sse({"type": "message_start", "message": message}, "message_start"),
                self._sse(block, "content_block_start"),
                self._sse({"type": "ping"}, "ping"),
            ]
        return []

    def text(self, piece: str) -> bytes:
        if self.route is Route.OPENAI_CHAT:
            return self._sse(self._openai_chunk({"content": piece}))
        if self.route is Route.ANTHROPIC_MESSAGES:
            delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}
            return self._sse(delta, "content_block_delta")
        if self.route is Route.GEMINI_GENERATE:
            chunk = {
                "candidates": [{"content": {"parts": [{"text": piece}], "role": "model"}, "index": 0}],
                "modelVersion": self.model,
            }
            return self._sse(chunk, crlf=True)
        line = {
            "model": self.model,
            "created_at": "2024-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": piece},
            "done": False,
        }
        return (json.dumps(line) + "\n").encode()

    def closing(self) -> list[bytes]:
        if self.route is Route.OPENAI_CHAT:
            frames = [self._sse(self._openai_chunk({}, "stop"))]
            if self.include_usage and self.usage is not None:
                frames.append(self._sse({**self._openai_chunk({}), "choices": [], "usage": self.usage}))
            return [*frames, b"data: [DONE]\n\n"]
        if self.route is Route.ANTHROPIC_MESSAGES:
            delta: dict[str, Any] = {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            }
            if self.usage is not None:
                delta["usage"] = {"output_tokens": self.usage["output_tokens"]}
            return [
                self._sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
                self._sse(delta, "message_delta"),
                self._sse({"type": "message_stop"}, "message_stop"),
            ]
        if self.route is Route.GEMINI_GENERATE:
            last: dict[str, Any] = {
                "candidates": [
                    {"content": {"parts": [{"text": ""}], "role": "model"}, "finishReason": "STOP", "index": 0}
                ],
                "modelVersion": self.model,
            }
            if self.usage is not None:
                last["usageMetadata"] = self.usage
            return [self._sse(last, crlf=True)]
        done: dict[str, Any] = {
            "model": self.model,
            "created_at": "2024-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "stop",
            "total_duration": 1_000_000,
            **(self.usage or {}),
        }
        return [(json.dumps(done) + "\n").encode()]

    def failure(self, message: str, error_type: str | None) -> bytes:
        if self.route is Route.ANTHROPIC_MESSAGES:
            error = {"type": "error", "error": {"type": error_type or "overloaded_error", "message": message}}
            return self._sse(error, "error")
        if self.route is Route.OPENAI_CHAT:
            error = {"error": {"message": message, "type": error_type or "server_error", "param": None, "code": None}}
            return self._sse(error)
        if self.route is Route.GEMINI_GENERATE:
            return self._sse(
                {"error": {"code": 503, "message": message, "status": error_type or "UNAVAILABLE"}}, crlf=True
            )
        return (json.dumps({"error": message}) + "\n").encode()


class FakeClock:
    """Monotonic seconds that move only when told, for policies with an injectable clock."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RecordingSleep:
    """An injectable ``sleep`` that records each wait and advances a ``FakeClock`` instead of waiting."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        self.clock.advance(seconds)
        await asyncio.sleep(0)

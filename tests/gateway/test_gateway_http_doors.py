"""The HTTP door against an attacker and a strict client: Host, Origin, media types, methods,
protocol errors, idle and slow connections. Every request goes to a real server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from prompt_alchemy.bus import Bus, InMemoryBus
from prompt_alchemy.gateway.feedback import FeedbackSink
from prompt_alchemy.gateway.http import HttpServer, HttpSettings, create_app, openapi_document
from prompt_alchemy.gateway.http.protocol import MAX_LINE_BYTES
from prompt_alchemy.gateway.timeouts import ConnectionTimeouts
from prompt_alchemy.runtime.settings import Settings

ServerFactory = Callable[..., Awaitable[HttpServer]]
GENERATE = "/api/v1/prompts/generate"
BOUND_S = 30.0  # an upper bound for waiting on the server, never a sleep


@pytest.fixture
async def serve(gateway_bus: Bus, feedback_sink: FeedbackSink) -> AsyncIterator[ServerFactory]:
    servers: list[HttpServer] = []

    async def start(settings: HttpSettings | None = None, app: web.Application | None = None) -> HttpServer:
        server = HttpServer(app or create_app(gateway_bus, feedback_sink, settings or HttpSettings(port=0)), port=0)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


async def _call(server: HttpServer, method: str, path: str, **kwargs: Any) -> tuple[int, dict[str, str], Any]:
    async with aiohttp.ClientSession() as session, session.request(method, server.url + path, **kwargs) as response:
        text = await response.text()
        body = json.loads(text) if response.content_type == "application/json" and text else text
        return response.status, dict(response.headers), body


async def _raw(server: HttpServer, data: bytes) -> bytes:
    """Send ``data`` on a fresh connection; everything the server answers until it closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(BOUND_S):
            return await reader.read()
    finally:
        writer.close()


def _json_body(raw: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert b"application/json" in head.lower(), head
    return status, json.loads(body)


# -- Host and Origin: no DNS rebinding, no cross-site reads or writes ------------------------------


async def test_a_foreign_host_is_refused_even_for_public_routes(serve: ServerFactory) -> None:
    server = await serve()
    for path in ("/api/v1/providers", "/openapi.json"):
        status, _, body = await _call(server, "GET", path, headers={"Host": "evil.example"})
        assert status == 421
        assert body["kind"] == "misdirected_request"
        assert "evil.example" in body["message"]
    status, _, _ = await _call(server, "GET", "/openapi.json", headers={"Host": f"localhost:{server.port}"})
    assert status == 200


async def test_allowed_hosts_widen_the_list(serve: ServerFactory) -> None:
    server = await serve(HttpSettings(port=0, allowed_hosts=("prompts.example.org", ".corp.example")))
    for host in ("prompts.example.org:8080", "api.corp.example", "corp.example"):
        status, _, _ = await _call(server, "GET", "/openapi.json", headers={"Host": host})
        assert status == 200, host
    status, _, _ = await _call(server, "GET", "/openapi.json", headers={"Host": "evilcorp.example"})
    assert status == 421


async def test_a_cross_site_page_can_neither_write_nor_read(serve: ServerFactory) -> None:
    server = await serve()
    evil = {"Origin": "https://evil.example"}
    status, headers, body = await _call(server, "POST", GENERATE, json={"input": "x"}, headers=evil)
    assert status == 403
    assert body["kind"] == "forbidden"
    assert "Access-Control-Allow-Origin" not in headers
    status, _, _ = await _call(server, "GET", "/api/v1/providers", headers=evil)
    assert status == 403
    # a page of the door's own origin (the web app) and configured origins are welcome
    own = {"Origin": f"http://127.0.0.1:{server.port}"}
    status, _, _ = await _call(server, "POST", GENERATE, json={}, headers=own)
    assert status == 422  # admitted, then validated


async def test_allowed_and_cors_origins_are_admitted(serve: ServerFactory) -> None:
    server = await serve(
        HttpSettings(port=0, allowed_origins=("https://tools.example",), cors_origins=("https://app.example",))
    )
    for origin in ("https://tools.example", "https://app.example"):
        status, _, _ = await _call(server, "POST", GENERATE, json={}, headers={"Origin": origin})
        assert status == 422, origin


# -- bodies are JSON, typed as JSON Schema reads them -------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        ("text/plain", b'{"input": "a cross-site form post"}'),
        ("application/x-www-form-urlencoded", b"input=x"),
        ("multipart/form-data; boundary=x", b"--x--"),
    ],
)
async def test_a_body_that_is_not_json_is_415(serve: ServerFactory, content_type: str, data: bytes) -> None:
    server = await serve()
    status, _, body = await _call(server, "POST", GENERATE, data=data, headers={"Content-Type": content_type})
    assert status == 415
    assert body["kind"] == "unsupported_media_type"
    assert "application/json" in body["message"]


@pytest.mark.parametrize(
    ("path", "method", "payload", "field"),
    [
        ("/api/v1/prompts/p1", "PATCH", {"relevance_score": False}, "relevance_score"),
        (GENERATE, "POST", {"input": "x", "count": True}, "count"),
        (GENERATE, "POST", {"input": "x", "count": "3"}, "count"),
        (GENERATE, "POST", {"input": "x", "save": 1}, "save"),
        (GENERATE, "POST", {"input": "x", "phases": ["solutio", "solutio"]}, "phases"),
        ("/api/v1/prompts/optimize", "POST", {}, "prompt"),
    ],
)
async def test_values_of_the_wrong_json_type_are_422(
    serve: ServerFactory, path: str, method: str, payload: dict[str, Any], field: str
) -> None:
    server = await serve()
    status, _, body = await _call(server, method, path, json=payload)
    assert status == 422, body
    assert field in body["message"]


async def test_an_integral_float_is_an_integer(serve: ServerFactory) -> None:
    server = await serve()
    # count 2.0 passes validation; nobody serves generation here, so the bus answers 503
    status, _, body = await _call(server, "POST", GENERATE, json={"input": "x", "count": 2.0})
    assert status == 503, body


@pytest.mark.parametrize(
    ("query", "field"),
    [("created_since=0.5", "created_since"), ("limit=true", "limit"), ("tags=a,b", "tags"), ("tags=%1C", "tags")],
)
async def test_query_values_are_read_as_the_document_types_them(serve: ServerFactory, query: str, field: str) -> None:
    server = await serve()
    status, _, body = await _call(server, "GET", f"/api/v1/prompts/search?{query}")
    assert status == 422, body
    assert field in body["message"]


# -- each path its own methods --------------------------------------------------------------------


async def test_each_path_answers_its_own_allow(serve: ServerFactory) -> None:
    server = await serve()
    status, headers, _ = await _call(server, "OPTIONS", GENERATE)
    assert status == 204
    assert headers["Allow"] == "POST, OPTIONS"
    status, headers, body = await _call(server, "GET", GENERATE)
    assert status == 405
    assert headers["Allow"] == "POST"
    assert body["kind"] == "method_not_allowed"
    status, headers, _ = await _call(server, "DELETE", "/api/v1/prompts/search")
    assert status == 405
    assert headers["Allow"] == "GET"
    status, headers, _ = await _call(server, "OPTIONS", "/api/v1/prompts/p1")
    assert set(headers["Allow"].split(", ")) == {"GET", "PATCH", "DELETE", "OPTIONS"}


# -- protocol errors, bearer tokens ---------------------------------------------------------------


async def test_protocol_errors_answer_json(serve: ServerFactory, caplog: pytest.LogCaptureFixture) -> None:
    server = await serve()
    caplog.set_level(logging.DEBUG)
    too_long = b"GET /api/v1/prompts/search?q=" + b"a" * (MAX_LINE_BYTES + 10) + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    many_headers = (
        b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        + b"".join(b"X-H%d: v\r\n" % index for index in range(200))
        + b"\r\n"
    )
    garbage = b"\x16\x03\x01 not http at all\r\n\r\n"
    for request in (too_long, many_headers, garbage):
        status, body = _json_body(await _raw(server, request))
        assert 400 <= status < 500
        assert body["kind"] in ("bad_request", "headers_too_large", "payload_too_large")
        assert body["message"].startswith("malformed HTTP request")
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]


async def test_a_non_utf8_bearer_token_is_401(serve: ServerFactory) -> None:
    server = await serve(HttpSettings(port=0, api_keys=("the-key",)))
    request = (
        b"GET /api/v1/providers HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Authorization: Bearer \xff\xfe\r\nConnection: close\r\n\r\n"
    )
    status, body = _json_body(await _raw(server, request))
    assert status == 401
    assert body["kind"] == "unauthorized"


async def test_a_search_at_the_documented_maximum_fits_the_request_line(serve: ServerFactory) -> None:
    server = await serve()
    document = openapi_document()
    q = next(p for p in document["paths"]["/api/v1/prompts/search"]["get"]["parameters"] if p["name"] == "q")
    longest = "\U0001f600" * q["schema"]["maxLength"]  # 4 UTF-8 bytes each, 12 once percent-encoded
    status, _, body = await _call(server, "GET", "/api/v1/prompts/search", params={"q": longest})
    assert status == 503, body  # parsed and valid; no storage worker runs here
    status, _, body = await _call(server, "GET", "/api/v1/prompts/search", params={"q": longest + "x"})
    assert status == 422
    assert body["details"]["errors"][0]["field"] == "q"


def test_every_query_parameter_at_its_maximum_fits_the_line_limit() -> None:
    """Worst case: every character 4 UTF-8 bytes, percent-encoded (12 bytes), every list full."""
    for path, item in openapi_document()["paths"].items():
        for operation in item.values():
            worst = len(path) + 64
            for param in operation.get("parameters", []):
                if param["in"] != "query":
                    continue
                schema = param["schema"]
                if schema.get("type") == "array":
                    items = schema["items"]
                    each = len(param["name"]) + 2 + 12 * items.get("maxLength", 64)
                    worst += schema["maxItems"] * each
                elif "enum" in schema or "$ref" in schema or schema.get("type") in ("integer", "number", "boolean"):
                    worst += len(param["name"]) + 2 + 32
                else:
                    assert "maxLength" in schema or schema.get("format") == "date-time", (path, param["name"])
                    worst += len(param["name"]) + 2 + 12 * schema.get("maxLength", 40)
            assert worst < MAX_LINE_BYTES, (path, worst)


# -- idle and slow connections -----------------------------------------------------------------------


async def test_the_default_idle_timeout_outlasts_client_pools_so_clients_close_first() -> None:
    """A server that hangs up an idle keep-alive connection as the client reuses it fails that request
    ("server disconnected"; a POST is not resent). aiohttp's client pool keeps idle connections 15 s."""
    connector = aiohttp.TCPConnector()
    try:
        client_keepalive = connector._keepalive_timeout  # aiohttp's own default, not a copy of it
    finally:
        await connector.close()
    assert isinstance(client_keepalive, float)
    assert ConnectionTimeouts().idle_s > client_keepalive
    assert HttpSettings().timeouts.idle_s > client_keepalive
    assert Settings.model_fields["idle_timeout"].default > client_keepalive  # IDLE_TIMEOUT's default


async def test_idle_and_slow_header_connections_are_closed(serve: ServerFactory) -> None:
    server = await serve(HttpSettings(port=0, timeouts=ConnectionTimeouts(idle_s=0.3, body_s=30)))
    assert await _raw(server, b"") == b""  # nothing sent: hung up on
    assert await _raw(server, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ") == b""  # head never ends


async def test_a_slow_body_is_408(serve: ServerFactory) -> None:
    server = await serve(HttpSettings(port=0, timeouts=ConnectionTimeouts(idle_s=30, body_s=0.3)))
    request = (
        b"POST /api/v1/prompts/generate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\n\r\n{"input": '
    )
    status, body = _json_body(await _raw(server, request))
    assert status == 408
    assert body["kind"] == "request_timeout"


async def test_a_client_gone_mid_request_is_a_debug_line(
    gateway_bus: InMemoryBus, feedback_sink: FeedbackSink, serve: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(gateway_bus, feedback_sink, HttpSettings(port=0))

    async def gone(_request: web.Request) -> web.StreamResponse:
        raise ConnectionResetError("Cannot write to closing transport")

    app.router.add_get("/gone", gone)
    server = await serve(app=app)
    caplog.set_level(logging.DEBUG)
    await _raw(server, b"GET /gone HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert any("went away" in record.getMessage() for record in caplog.records)


async def test_a_prompt_chosen_over_itself_is_a_conflict(serve: ServerFactory) -> None:
    """The rule spans path and body, so no schema states it: 409, a status the document lists."""
    server = await serve()
    status, _, body = await _call(server, "POST", "/api/v1/prompts/p1/feedback", json={"chosen_over": "p1"})
    assert status == 409
    assert body["details"]["field"] == "chosen_over"
    document = openapi_document()
    assert "409" in document["paths"]["/api/v1/prompts/{id}/feedback"]["post"]["responses"]


async def test_filter_names_with_control_characters_and_huge_counts_are_422(serve: ServerFactory) -> None:
    """Both reached storage and failed there (RediSearch syntax error, SQLite OverflowError): 500s."""
    server = await serve()
    for query in ("target_model=a%00b", "provider=%12x"):
        status, _, body = await _call(server, "GET", f"/api/v1/prompts/search?{query}")
        assert status == 422, body
    status, _, body = await _call(server, "PATCH", "/api/v1/prompts/p1", json={"rating_count": 2**63 + 10})
    assert status == 422
    assert "rating_count" in body["message"]

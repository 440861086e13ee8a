"""``HttpServer``: port 0 binds a free port and says which; a failed start releases the app;
stop closes the listener. Every connection is to 127.0.0.1."""

from __future__ import annotations

import socket

import aiohttp
import pytest
from aiohttp import web

from prompt_alchemy.bus import Bus
from prompt_alchemy.gateway.feedback import FeedbackSink
from prompt_alchemy.gateway.http import HttpServer, HttpSettings, create_app


@pytest.fixture
def app(gateway_bus: Bus, feedback_sink: FeedbackSink) -> web.Application:
    return create_app(gateway_bus, feedback_sink, HttpSettings(port=0))


async def test_port_zero_binds_a_free_port_and_the_url_reaches_it(app: web.Application) -> None:
    async with HttpServer(app, "127.0.0.1", 0) as server, aiohttp.ClientSession() as http:
        assert server.port != 0
        assert server.url == f"http://127.0.0.1:{server.port}"
        async with http.get(f"{server.url}/openapi.json") as response:
            assert response.status == 200
            assert (await response.json())["openapi"] == "3.1.0"


async def test_a_start_that_cannot_bind_raises_and_cleans_the_app_up(app: web.Application) -> None:
    cleaned: list[web.Application] = []

    async def note_cleanup(cleaned_app: web.Application) -> None:
        cleaned.append(cleaned_app)

    app.on_cleanup.append(note_cleanup)
    with socket.create_server(("127.0.0.1", 0)) as taken:
        server = HttpServer(app, "127.0.0.1", taken.getsockname()[1])
        with pytest.raises(OSError, match="in use"):
            await server.start()
    assert cleaned == [app]  # the label cache and every other cleanup hook ran


async def test_stop_closes_the_listener(app: web.Application) -> None:
    server = HttpServer(app, "127.0.0.1", 0)
    await server.start()
    await server.stop()
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", server.port), timeout=5):
        pass

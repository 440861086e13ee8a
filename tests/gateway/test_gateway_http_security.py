"""API keys, per-key rate limits, CORS and metrics, through a real server."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp
import pytest

from prompt_alchemy.bus import ServiceRunner
from prompt_alchemy.errors import ConfigError
from prompt_alchemy.gateway.http import HttpSettings
from prompt_alchemy.gateway.rate_limit import RateLimiter

GatewayFactory = Callable[..., Awaitable[aiohttp.ClientSession]]

KEYS = ("first-secret-key", "second-secret-key")
STATS = "/api/v1/learning/stats"  # any protected route; without a learning worker it answers 503


async def test_without_keys_no_authentication_is_needed(http: aiohttp.ClientSession) -> None:
    async with http.get(STATS) as response:
        assert response.status == 503  # reached the bus: nobody serves learning here


async def test_with_keys_a_bearer_token_is_required(start_gateway: GatewayFactory) -> None:
    http = await start_gateway(HttpSettings(port=0, api_keys=KEYS))
    async with http.get(STATS) as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        body = await response.json()
        assert body["kind"] == "unauthorized"
        assert "missing bearer token" in body["message"]
    async with http.get(STATS, headers={"Authorization": "Bearer not-a-key"}) as response:
        assert response.status == 401
        assert "invalid API key" in (await response.json())["message"]
    async with http.get(STATS, headers={"Authorization": f"Basic {KEYS[0]}"}) as response:
        assert response.status == 401
    for key in KEYS:
        async with http.get(STATS, headers={"Authorization": f"Bearer {key}"}) as response:
            assert response.status == 503  # authenticated, then the bus answered


async def test_health_and_the_document_stay_public(start_gateway: GatewayFactory) -> None:
    http = await start_gateway(HttpSettings(port=0, api_keys=KEYS))
    async with http.get("/openapi.json") as response:
        assert response.status == 200
    async with http.get("/health") as response:
        assert response.status == 503  # no workers: unhealthy, but not unauthorised
    async with http.get("/metrics") as response:
        assert response.status == 401


async def test_keys_never_show_in_settings_repr_or_answers(start_gateway: GatewayFactory) -> None:
    settings = HttpSettings(port=0, api_keys=KEYS)
    assert KEYS[0] not in repr(settings)
    http = await start_gateway(settings)
    async with http.get(STATS, headers={"Authorization": "Bearer wrong"}) as response:
        text = await response.text()
    assert all(key not in text for key in KEYS)


async def test_rate_limit_is_per_key_with_retry_after(start_gateway: GatewayFactory) -> None:
    http = await start_gateway(HttpSettings(port=0, api_keys=KEYS, rate_limit_per_minute=2))
    first = {"Authorization": f"Bearer {KEYS[0]}"}
    second = {"Authorization": f"Bearer {KEYS[1]}"}
    statuses = []
    for _ in range(3):
        async with http.get(STATS, headers=first) as response:
            statuses.append(response.status)
            if response.status == 429:
                retry_after = int(response.headers["Retry-After"])
                body = await response.json()
    assert statuses == [503, 503, 429]
    assert 1 <= retry_after <= 30
    assert body["kind"] == "rate_limited"
    assert body["retriable"] is True
    async with http.get(STATS, headers=second) as response:
        assert response.status == 503  # the other key has its own allowance


def test_token_bucket_refills_with_time() -> None:
    now = [0.0]
    limiter = RateLimiter(60, clock=lambda: now[0])
    assert all(limiter.acquire("k") is None for _ in range(60))
    wait = limiter.acquire("k")
    assert wait == pytest.approx(1.0)
    now[0] += 0.5
    assert limiter.acquire("k") == pytest.approx(0.5)
    now[0] += 0.5
    assert limiter.acquire("k") is None
    assert limiter.acquire("other") is None


@pytest.mark.parametrize(
    "settings",
    [
        {"port": 70000},
        {"max_body_bytes": 0},
        {"rate_limit_per_minute": -1},
        {"api_keys": ("",)},
        {"request_timeout_s": 0},
    ],
)
def test_impossible_settings_are_refused(settings: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        HttpSettings(**settings)  # type: ignore[arg-type]


async def test_cors_for_configured_origins_only(start_gateway: GatewayFactory) -> None:
    http = await start_gateway(HttpSettings(port=0, cors_origins=("https://app.example",)))
    async with http.get("/openapi.json", headers={"Origin": "https://app.example"}) as response:
        assert response.headers["Access-Control-Allow-Origin"] == "https://app.example"
        assert "Origin" in response.headers.getall("Vary")
    async with http.get("/openapi.json", headers={"Origin": "https://evil.example"}) as response:
        assert "Access-Control-Allow-Origin" not in response.headers
    preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    async with http.options("/api/v1/prompts/generate", headers=preflight) as response:
        assert response.status == 204
        assert "POST" in response.headers["Access-Control-Allow-Methods"]
        assert "Authorization" in response.headers["Access-Control-Allow-Headers"]
    async with http.post("/api/v1/prompts/generate", json={}, headers={"Origin": "https://app.example"}) as response:
        assert response.status == 422
        assert response.headers["Access-Control-Allow-Origin"] == "https://app.example"


async def test_cors_wildcard(start_gateway: GatewayFactory) -> None:
    http = await start_gateway(HttpSettings(port=0, cors_origins=("*",)))
    async with http.get("/openapi.json", headers={"Origin": "https://anywhere.example"}) as response:
        assert response.headers["Access-Control-Allow-Origin"] == "*"


async def test_metrics_count_requests_by_route_template(
    http: aiohttp.ClientSession, storage_service: ServiceRunner
) -> None:
    for prompt_id in ("a1", "b2", "c3"):
        async with http.get(f"/api/v1/prompts/{prompt_id}") as response:
            assert response.status == 404
    async with http.get("/metrics") as response:
        assert response.status == 200
        assert response.content_type == "text/plain"
        text = await response.text()
    assert 'alchemy_http_requests_total{method="GET",route="/api/v1/prompts/{id}",status="404"} 3.0' in text
    assert "alchemy_http_request_duration_seconds_bucket" in text
    assert "/api/v1/prompts/a1" not in text


async def test_metrics_count_the_requests_in_flight(http: aiohttp.ClientSession) -> None:
    """The scrape itself is being answered while the gauge is read; nothing else is."""
    for _ in range(2):
        async with http.get("/metrics") as response:
            text = await response.text()
        assert "alchemy_http_requests_in_flight 1.0" in text.splitlines()
    async with http.get(STATS) as response:
        assert response.status == 503  # a failed request leaves the count as it found it
    async with http.get("/metrics") as response:
        assert "alchemy_http_requests_in_flight 1.0" in (await response.text()).splitlines()


async def test_metrics_can_be_switched_off(start_gateway: GatewayFactory) -> None:
    http = await start_gateway(HttpSettings(port=0, metrics=False))
    async with http.get("/metrics") as response:
        assert response.status == 404
    async with http.get("/openapi.json") as response:
        assert "/metrics" not in (await response.json())["paths"]


async def test_two_apps_in_one_process_keep_separate_metrics(start_gateway: GatewayFactory) -> None:
    one = await start_gateway()
    two = await start_gateway()
    async with one.get("/api/v1/nowhere") as response:
        assert response.status == 404
    async with two.get("/metrics") as response:
        text = await response.text()
    assert 'route="unmatched"' not in text

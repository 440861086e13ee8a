"""Fixtures of the providers tests: the fake vendor server, an injectable clock and sleep, registries."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping

import pytest

from prompt_alchemy.testing.vendors import FakeClock, FakeVendorServer, RecordingSleep
from prompt_alchemy.workers.providers import ProviderRegistry


@pytest.fixture
async def vendor() -> AsyncIterator[FakeVendorServer]:
    async with FakeVendorServer() as server:
        yield server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake_sleep(clock: FakeClock) -> RecordingSleep:
    return RecordingSleep(clock)


RegistryFactory = Callable[[Mapping[str, str]], ProviderRegistry]


@pytest.fixture
async def make_registry(
    vendor: FakeVendorServer, clock: FakeClock, fake_sleep: RecordingSleep
) -> AsyncIterator[RegistryFactory]:
    """Registries pointed at the fake vendor server, with the fake clock and sleep; closed after the test."""
    made: list[ProviderRegistry] = []

    def make(extra: Mapping[str, str]) -> ProviderRegistry:
        env = {**vendor.env(), "PROVIDERS_BACKOFF_BASE_S": "1", **extra}
        registry = ProviderRegistry.from_env(env, sleep=fake_sleep, clock=clock)
        made.append(registry)
        return registry

    yield make
    for registry in made:
        await registry.aclose()

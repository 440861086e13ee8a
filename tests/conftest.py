"""Fixtures every test shares: real servers (started and stopped by the suite) and both buses.

The servers come from ``prompt_alchemy.testing.servers`` so benchmarks use the very same code.
Each pytest session starts its own nats-server and Redis on random ports with temp data dirs,
so concurrent sessions never interfere.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest

from prompt_alchemy.bus import Bus, InMemoryBus, NatsBus
from prompt_alchemy.testing.nats_cluster import NatsCluster
from prompt_alchemy.testing.redis_sentinel import HeldConfirmations, RedisSentinelGroup
from prompt_alchemy.testing.servers import NatsServer, RedisServer

BUS_KINDS = ["memory", "nats"]

BusFactory = Callable[[], Awaitable[Bus]]

# Tests that start a topology of their own (three nats-servers; a Redis pair with three Sentinels) take
# 10-20 s each, as the ``slow`` ones do.
OWN_TOPOLOGY_FIXTURES = frozenset({"nats_cluster", "redis_sentinel_group"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the long tests first: the suite runs on several pytest-xdist workers (pyproject's addopts), which
    take one test at a time (``--maxschedchunk 1``), so the long ones spread over the workers from the start
    and the short ones fill the gaps, instead of a few long ones left at the end running while the other
    workers idle. The sort is stable: every other test keeps its order."""

    def long_first(item: pytest.Item) -> bool:
        return not (item.get_closest_marker("slow") or OWN_TOPOLOGY_FIXTURES & set(getattr(item, "fixturenames", ())))

    items.sort(key=long_first)


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    with NatsServer(tmp_path_factory.mktemp("nats")) as server:
        yield server


@pytest.fixture
def private_nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """A nats-server of the test's own, for tests that restart or kill it."""
    with NatsServer(tmp_path_factory.mktemp("nats-private")) as server:
        yield server


@pytest.fixture
def nats_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    """Three clustered nats-servers of the test's own (it may kill any of them)."""
    with NatsCluster(tmp_path_factory.mktemp("nats-cluster")) as cluster:
        yield cluster


@pytest.fixture
def redis_sentinel_group(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisSentinelGroup]:
    """A Redis primary + replica (Search + JSON, AOF as deployed) watched by three Sentinels, of the test's own.

    AOF as in `cluster --ha` and the HA compose file: a killed primary restarts with its data. Without it a
    restarted primary came back empty, and when the Sentinels (1 s down-after on a loaded machine) failed
    over once more, to it, the promoted replica resynced from it and every prompt was gone."""
    with RedisSentinelGroup(tmp_path_factory.mktemp("redis-ha"), appendonly=True) as group:
        yield group


@pytest.fixture
def held_confirmations() -> Iterator[HeldConfirmations]:
    """Redis write confirmations wait until ``release()``: room for a failover between write and confirmation."""
    with HeldConfirmations() as held:
        yield held


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(params=BUS_KINDS)
def bus_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def bus_factory(bus_kind: str, request: pytest.FixtureRequest) -> AsyncIterator[BusFactory]:
    """Makes buses that see each other: one shared in-memory bus, or new NATS connections.

    On NATS each call is a separate client connection, as separate worker processes would be.
    """
    made: list[Bus] = []
    shared_memory: list[InMemoryBus] = []

    async def make() -> Bus:
        if bus_kind == "memory":
            if not shared_memory:
                shared_memory.append(InMemoryBus())
                made.append(shared_memory[0])
            return shared_memory[0]
        server: NatsServer = request.getfixturevalue("nats_server")
        bus = await NatsBus.connect(server.url)
        made.append(bus)
        return bus

    yield make
    for bus in made:
        await bus.close()


@pytest.fixture
async def bus(bus_factory: BusFactory) -> Bus:
    """A fresh bus per test, parametrised over InMemoryBus and NatsBus."""
    return await bus_factory()

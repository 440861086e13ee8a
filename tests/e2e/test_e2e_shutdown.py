"""A worker process on NATS stops gracefully: SIGTERM drains what is in flight, bounded by SHUTDOWN_TIMEOUT.

The generation worker runs as its own OS process, started the seed's way (``SERVICE_TYPE`` and
no arguments); the providers worker runs in the test on the same nats-server, calling the fake
vendor, whose scripted delay (or hang) keeps generate requests in flight when the signal lands.
Storage is not running: generation still answers, with every prompt marked not saved.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from prompt_alchemy import schemas
from prompt_alchemy.bus import NatsBus
from prompt_alchemy.errors import DeadlineExceeded, NoResponders, RequestTimeout
from prompt_alchemy.runtime.child_process import ChildProcess
from prompt_alchemy.runtime.components import providers_worker
from prompt_alchemy.runtime.settings import Settings
from prompt_alchemy.schemas.common import Phase
from prompt_alchemy.schemas.engine import GenerateReply, GenerateRequest
from prompt_alchemy.testing.servers import NatsServer
from prompt_alchemy.testing.tcp_proxy import TcpProxy
from prompt_alchemy.testing.vendors import FakeResponse, FakeVendorServer, Route
from prompt_alchemy.workers.lifecycle import Worker

pytestmark = pytest.mark.slow

WAIT_S = 60.0
SERVING = r"^worker generation serving on nats://"
STUCK_DEADLINE_S = 6.0  # the stuck caller's deadline: well after the cut-short exit (1 s after SIGTERM)


@pytest.fixture
async def client_bus(private_nats_server: NatsServer) -> AsyncIterator[NatsBus]:
    bus = await NatsBus.connect(private_nats_server.url)
    yield bus
    await bus.drain()


@pytest.fixture
async def providers(
    private_nats_server: NatsServer, vendor_env: dict[str, str], tmp_path: Path
) -> AsyncIterator[Worker]:
    """The real providers worker, in this process, on its own NATS connection, calling the fake vendor."""
    bus = await NatsBus.connect(private_nats_server.url)
    settings = Settings.load(env={"HOME": str(tmp_path)}, overrides={"data_dir": tmp_path / "providers"})
    async with providers_worker(bus, settings, environ=vendor_env) as worker:
        yield worker
    await bus.drain()


@pytest.fixture
async def engine_process(
    private_nats_server: NatsServer, child_env: Callable[..., dict[str, str]], tmp_path: Path
) -> AsyncIterator[Callable[..., Awaitable[ChildProcess]]]:
    """Starts ``prompt-alchemy`` with SERVICE_TYPE=generation and no arguments; teardown stops it."""
    started: list[ChildProcess] = []

    async def start(**settings: str) -> ChildProcess:
        env = child_env(SERVICE_TYPE="generation", NATS_URL=private_nats_server.url, **settings)
        process = ChildProcess("generation", [], env=env, log_dir=tmp_path / "logs")
        started.append(process)
        await process.start()
        await process.wait_for(SERVING, timeout=WAIT_S)
        return process

    yield start
    for process in started:
        await process.terminate()


async def generate(bus: NatsBus, idea: str, timeout: float = WAIT_S) -> GenerateReply:
    request = GenerateRequest(input=idea, count=1, phases=[Phase.COAGULATIO])
    return await bus.request(schemas.ENGINE_GENERATE, request, timeout=timeout)


@pytest.mark.usefixtures("providers")
async def test_sigterm_finishes_in_flight_generations_then_exits_0(
    engine_process: Callable[..., Awaitable[ChildProcess]], client_bus: NatsBus, vendor: FakeVendorServer
) -> None:
    engine = await engine_process()
    vendor.script(Route.OPENAI_CHAT, *[FakeResponse.ok().delayed(3.0)] * 5)
    in_flight = [asyncio.create_task(generate(client_bus, f"a slow idea {n}")) for n in range(5)]
    await vendor.wait_for_requests(5, timeout=WAIT_S)

    engine.send_signal(signal.SIGTERM)
    replies = await asyncio.gather(*in_flight)

    assert await engine.wait() == 0
    assert engine.lines[-2:] == ["shutting down: draining in-flight requests", "stopped"]
    for reply in replies:  # storage is not running: answered anyway, flagged not saved
        assert [prompt.provider for prompt in reply.prompts] == ["openai"]
        assert not any(prompt.saved for prompt in reply.prompts)
        assert any("storage" in warning for warning in reply.warnings)
    with pytest.raises(NoResponders):  # it left: nobody is served a dead end
        await generate(client_bus, "after the shutdown")


@pytest.mark.usefixtures("providers")
@pytest.mark.parametrize(
    ("settings", "signals", "reason"),
    [
        ({"SHUTDOWN_TIMEOUT": "1"}, [signal.SIGTERM], "the 1s shutdown timeout"),
        ({"SHUTDOWN_TIMEOUT": "600"}, [signal.SIGTERM, signal.SIGINT], "a second signal"),
    ],
    ids=["timeout", "second-signal"],
)
async def test_a_drain_that_cannot_finish_is_cut_short_with_exit_1(
    engine_process: Callable[..., Awaitable[ChildProcess]],
    client_bus: NatsBus,
    vendor: FakeVendorServer,
    settings: dict[str, str],
    signals: list[signal.Signals],
    reason: str,
    eventually: Callable[..., Awaitable[Any]],
) -> None:
    engine = await engine_process(**settings)
    vendor.script(Route.OPENAI_CHAT, FakeResponse.hang())
    stuck = asyncio.create_task(generate(client_bus, "a vendor that never answers", timeout=STUCK_DEADLINE_S))
    await vendor.wait_for_requests(1, timeout=WAIT_S)

    engine.send_signal(signals[0])
    await engine.wait_for("^shutting down", timeout=WAIT_S)
    for signum in signals[1:]:
        engine.send_signal(signum)

    assert await engine.wait(timeout=WAIT_S) == 1
    assert engine.lines[-1] == f"stopped early ({reason})"
    # The cut drain aborts what runs and tells its caller 'lost' (the resend then finds nobody); if the
    # process is gone before that status leaves, the caller hears at its deadline. Never a hang.
    with pytest.raises((NoResponders, RequestTimeout, DeadlineExceeded)):
        await stuck
    await vendor.stop()  # release the hung vendor call, so the providers worker stops at once


async def test_a_front_door_that_loses_nats_during_its_drain_logs_it_and_exits_1(
    private_nats_server: NatsServer, child_env: Callable[..., dict[str, str]], tmp_path: Path
) -> None:
    async with TcpProxy(private_nats_server.port) as link:
        env = child_env(NATS_URL=link.url, DEPLOYMENT_MODE="microservice", SHUTDOWN_TIMEOUT="10")
        door = ChildProcess("api", ["serve", "api", "--http-port", "0"], env=env, log_dir=tmp_path / "logs")
        await door.start()
        try:
            await door.wait_for(r"^HTTP API on http://", timeout=WAIT_S)
            await link.cut()  # the door's only NATS link is gone, and stays gone
            door.send_signal(signal.SIGTERM)
            assert await door.wait(timeout=WAIT_S) == 1
        finally:
            if door.running:
                await door.kill()
    assert door.lines[-1].startswith("stopped early (the bus was lost during the drain")
    assert "Traceback" not in door.stderr_path.read_text()

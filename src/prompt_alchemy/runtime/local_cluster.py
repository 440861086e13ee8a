"""The microservice topology as local OS processes: ``prompt-alchemy cluster`` and the e2e tests.

One process per worker (generation replicated), the HTTP API and the MCP server, all on one
NATS server (and Redis, for storage and learning state) — exactly what
``docker-compose.microservices.yml`` runs, without Docker. Workers start in parallel; each is
ready when it prints its ``serving`` line, each front door when it prints its URL. ``stop()``
closes the front doors first, then the workers, each with SIGTERM (a graceful drain).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from prompt_alchemy.runtime.child_process import ChildProcess
from prompt_alchemy.runtime.settings import ServiceType

__all__ = ["ClusterLayout", "LocalCluster"]

START_TIMEOUT_S = 60.0

WORKERS = (ServiceType.PROVIDERS, ServiceType.STORAGE, ServiceType.LEARNING, ServiceType.GENERATION)
FRONT_DOORS = (ServiceType.API, ServiceType.MCP)

_SERVING = r"^worker \w+ serving on "
_HTTP = r"^HTTP API on (?P<url>http://\S+)/api/v1"
_MCP = r"^MCP \(streamable HTTP\) on (?P<url>http://\S+)"
_METRICS = r"^metrics on (?P<url>http://\S+)"


@dataclass(frozen=True, slots=True)
class ClusterLayout:
    """How many generation replicas (every other worker runs once), and which front doors on which ports."""

    generation_replicas: int = 2
    api: bool = True
    mcp: bool = True
    http_port: int = 0
    mcp_port: int = 0

    def count(self, kind: ServiceType) -> int:
        return self.generation_replicas if kind is ServiceType.GENERATION else 1


class LocalCluster:
    """``await cluster.start()`` runs the layout; ``cluster.http_url`` is the API; ``await cluster.stop()``."""

    def __init__(
        self,
        *,
        nats_url: str,
        redis_url: str | None,
        data_dir: Path,
        env: Mapping[str, str],
        layout: ClusterLayout | None = None,
    ) -> None:
        self.nats_url = nats_url
        self.redis_url = redis_url
        self.data_dir = data_dir
        self.layout = layout or ClusterLayout()
        self.env = {**env, "NATS_URL": nats_url, "ALCHEMY_DATA_DIR": str(data_dir), "DEPLOYMENT_MODE": "microservice"}
        if redis_url:
            self.env["REDIS_URL"] = redis_url
        self.workers: dict[ServiceType, list[ChildProcess]] = {kind: [] for kind in WORKERS}
        self.front_doors: dict[ServiceType, ChildProcess] = {}
        self.http_url: str | None = None
        self.mcp_url: str | None = None
        self._started = 0

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def processes(self) -> list[ChildProcess]:
        return [*self.front_doors.values(), *(process for group in self.workers.values() for process in group)]

    async def start_worker(
        self, kind: ServiceType, *, timeout: float = START_TIMEOUT_S, env: Mapping[str, str] | None = None
    ) -> ChildProcess:
        """One more ``prompt-alchemy worker KIND`` process, returned once it serves (``env``: overrides)."""
        self._started += 1
        name = f"{kind.value}-{self._started}"
        process = ChildProcess(
            name, ["worker", kind.value, "--metrics-port", "0"], env={**self.env, **(env or {})}, log_dir=self.log_dir
        )
        self.workers[kind].append(process)
        await process.start()
        await process.wait_for(_SERVING, timeout=timeout)
        return process

    async def _start_door(self, role: ServiceType, port: int, pattern: str, timeout: float) -> str:
        flag = "--http-port" if role is ServiceType.API else "--mcp-port"
        process = ChildProcess(role.value, ["serve", role.value, flag, str(port)], env=self.env, log_dir=self.log_dir)
        self.front_doors[role] = process
        await process.start()
        return (await process.wait_for(pattern, timeout=timeout))["url"]

    async def start(self, *, timeout: float = START_TIMEOUT_S) -> None:
        try:
            starts = [
                self.start_worker(kind, timeout=timeout) for kind in WORKERS for _ in range(self.layout.count(kind))
            ]
            await asyncio.gather(*starts)
            if self.layout.api:
                self.http_url = await self._start_door(ServiceType.API, self.layout.http_port, _HTTP, timeout)
            if self.layout.mcp:
                self.mcp_url = await self._start_door(ServiceType.MCP, self.layout.mcp_port, _MCP, timeout)
        except BaseException:
            await self.stop()
            raise

    async def metrics_url(self, process: ChildProcess, *, timeout: float = START_TIMEOUT_S) -> str:
        return (await process.wait_for(_METRICS, timeout=timeout))["url"]

    async def stop(self) -> dict[str, int]:
        """SIGTERM the front doors, then every worker; their exit codes by process name."""
        codes = await _terminate_all(list(self.front_doors.values()))
        codes.update(await _terminate_all([process for group in self.workers.values() for process in group]))
        return codes


async def _terminate_all(processes: Sequence[ChildProcess]) -> dict[str, int]:
    started = [process for process in processes if process.started]
    codes = await asyncio.gather(*(process.terminate() for process in started))
    return {process.name: code for process, code in zip(started, codes, strict=True)}

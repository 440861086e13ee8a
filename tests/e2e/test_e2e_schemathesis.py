"""schemathesis against live servers: the OpenAPI document must say exactly what the server does.

Every check runs (``--checks all``: server errors, status codes, content types, response
schemas and headers, positive data accepted, negative data rejected, unsupported methods,
Allow headers, and a response time bounded by the request deadline, not a speed: speed is
``bench/``'s) against a real ``serve --all`` and against the microservice gateway with the
workers on NATS and Redis storage. CI runs ``SCHEMATHESIS_EXAMPLES`` (default 25) examples per
operation; ``just schemathesis`` runs 200. ``tests/e2e/schemathesis.toml`` holds the one
per-operation adjustment (forged search cursors), with its reason.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from prompt_alchemy.runtime.child_process import ChildProcess
from prompt_alchemy.runtime.local_cluster import ClusterLayout, LocalCluster
from prompt_alchemy.testing.servers import NatsServer, RedisServer

pytestmark = pytest.mark.slow

CONFIG = Path(__file__).with_name("schemathesis.toml")
EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "25"))
SEED = os.environ.get("SCHEMATHESIS_SEED", "20261207")
RUN_LIMIT_S = 1800.0
REQUEST_DEADLINE_S = 120  # REQUEST_TIMEOUT's default: no answer may take longer
HTTP_LINE = r"^HTTP API on (?P<url>http://\S+)/api/v1"
WAIT_S = 60.0


async def run_schemathesis(base_url: str, log_dir: Path) -> str:
    """``st run`` on the server's own document; its whole report, failing the test unless clean."""
    st = Path(sys.executable).with_name("st")
    command = [
        str(st), "--config-file", str(CONFIG), "run", f"{base_url}/openapi.json",
        # max_response_time (in "all") bounds each answer by the server's own deadline, not a speed
        "--checks", "all", "--max-response-time", str(REQUEST_DEADLINE_S),
        "--max-examples", str(EXAMPLES), "--seed", SEED, "--workers", "2",
        "--request-timeout", str(REQUEST_DEADLINE_S + 30),
    ]  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        *command,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "NO_COLOR": "1"},
        cwd=log_dir,  # its .schemathesis/ and .hypothesis/ caches stay in the test's directory
    )
    async with asyncio.timeout(RUN_LIMIT_S):
        output, _ = await process.communicate()
    report = output.decode(errors="replace")
    (log_dir / "schemathesis.txt").write_text(report)
    summary = "\n".join(line for line in report.splitlines() if re.search(r"generated|passed|failed|failures", line))
    assert process.returncode == 0, f"schemathesis found problems:\n{report[-20000:]}"
    return summary


async def test_serve_all_keeps_to_its_document(
    tmp_path: Path, child_env: Callable[..., dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["serve", "--all", "--http-port", "0", "--mcp-port", "0", "--data-dir", str(tmp_path / "data")]
    process = ChildProcess("monolith", args, env=child_env(), log_dir=tmp_path / "logs")
    await process.start()
    try:
        url = (await process.wait_for(HTTP_LINE, timeout=WAIT_S))["url"]
        summary = await run_schemathesis(url, tmp_path)
    finally:
        await process.terminate()
    with capsys.disabled():
        print(f"\nschemathesis on serve --all ({EXAMPLES} examples per operation):\n{summary}")


async def test_the_microservice_gateway_on_redis_keeps_to_its_document(
    tmp_path: Path,
    private_nats_server: NatsServer,
    private_redis_server: RedisServer,
    child_env: Callable[..., dict[str, str]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    cluster = LocalCluster(
        nats_url=private_nats_server.url,
        redis_url=private_redis_server.url,
        data_dir=tmp_path / "cluster",
        env=child_env(),
        layout=ClusterLayout(generation_replicas=1, mcp=False),
    )
    await cluster.start()
    try:
        assert cluster.http_url is not None
        summary = await run_schemathesis(cluster.http_url, tmp_path)
    finally:
        await cluster.stop()
    with capsys.disabled():
        print(
            f"\nschemathesis on the microservice gateway, Redis storage ({EXAMPLES} examples per operation):\n{summary}"
        )
